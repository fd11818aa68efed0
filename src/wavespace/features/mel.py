"""Mel spectrogram front-end (``features=mel``): STFT on the device, Slaney mel filterbank.

The filterbank is built here (Slaney mel scale and area normalization, the defaults of
``librosa.filters.mel``; tests check equality with librosa) so that importing a front-end does
not import librosa, which only the inversion to audio (``features.inverse``) needs.
"""

from __future__ import annotations

import numpy as np

from wavespace.features.base import FrontendConfigError, check_below_nyquist
from wavespace.features.stft import FilterbankSTFT

_F_SP = 200.0 / 3  # Slaney: linear 66.7 Hz per mel below 1 kHz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / _F_SP
    log_part = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(hz >= _MIN_LOG_HZ, log_part, mel)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = _F_SP * mel
    log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log_part, hz)


def mel_band_edges(n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """n_mels + 2 frequencies equally spaced in mel: band k spans edges k .. k+2, peak at k+1."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] Slaney-normalized triangular filters (= librosa.filters.mel)."""
    fft_freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    edges = mel_band_edges(n_mels, fmin, fmax)
    fdiff = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


class MelSpectrogram(FilterbankSTFT):
    """Log-compressed mel spectrogram, [B, 1, n_bins, frames]."""

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        n_bins: int = 256,
        fmin: float = 0.0,
        fmax: float | None = None,
        n_fft: int = 2048,
        power: float = 1.0,
        compression: str = "log",
        pad_mode: str = "constant",
        normalize: str = "none",
    ) -> None:
        fmax = float(sample_rate) / 2 if fmax is None else float(fmax)
        if not 0 <= fmin < fmax:
            raise FrontendConfigError(f"mel needs 0 <= fmin < fmax (got fmin={fmin}, fmax={fmax})")
        if fmax > sample_rate / 2:
            check_below_nyquist("mel", fmax, sample_rate, "lower features.fmax (null = Nyquist)")
        fb = mel_filterbank(int(sample_rate), int(n_fft), int(n_bins), float(fmin), fmax)
        empty = np.flatnonzero(fb.max(1) == 0)
        if len(empty):
            raise FrontendConfigError(
                f"mel: {len(empty)} of {n_bins} mel bands fall between FFT bins and would always "
                f"be zero (n_fft={n_fft} at {sample_rate} Hz is too coarse for {n_bins} bands from "
                f"{fmin:g} Hz): raise features.n_fft or fmin, or lower features.n_bins")
        super().__init__(sample_rate, hop_length, n_fft, fb, power, compression, pad_mode,
                         normalize)
        self.fmin, self.fmax = float(fmin), fmax

    @property
    def center_frequencies(self) -> np.ndarray:
        """Peak frequency (Hz) of each mel band."""
        return mel_band_edges(self.n_bins, self.fmin, self.fmax)[1:-1]
