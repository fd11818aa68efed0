"""Back from a filterbank spectrogram (``mel``, ``logfreq``) to a waveform you can listen to.

Three steps, each undoing one stage of :class:`~wavespace.features.stft.FilterbankSTFT`:
the per-bin standardization and the log/dB compression are inverted exactly; the filterbank
(many FFT bins -> fewer bands) is not invertible, so the linear magnitude is the non-negative
least-squares solution of ``filterbank @ S = bands`` (``librosa.util.nnls``, what
``librosa.feature.inverse.mel_to_stft`` does for mel); the phase is estimated with Griffin-Lim
(``librosa.griffinlim``) on the front-end's own STFT geometry. The result is for listening to a
reconstruction, not a faithful signal: the fine detail the filterbank pooled is lost.
"""

from __future__ import annotations

import numpy as np
import torch

from wavespace.errors import ConfigError
from wavespace.features.base import Frontend


def invertible(frontend: Frontend) -> bool:
    """Whether :func:`features_to_audio` can invert this front-end (filterbank STFTs only)."""
    from wavespace.features.stft import FilterbankSTFT

    return isinstance(frontend, FilterbankSTFT)


def _uncompress(x: np.ndarray, mode: str) -> np.ndarray:
    if mode == "log":
        return np.exp(x)
    if mode == "db":
        return 10.0 ** ((x * 80.0 - 80.0) / 20.0)
    return np.maximum(x, 0.0)


def features_to_audio(frontend: Frontend, features: np.ndarray | torch.Tensor,
                      n_samples: int | None = None, n_iter: int = 32, normalized: bool = True,
                      seed: int = 0) -> np.ndarray:
    """Waveform (float32, at ``frontend.sample_rate``) from features [F, T] or [1, F, T].

    ``normalized``: the features are what the front-end's ``forward`` gives (per-bin
    standardization applied, if configured); False for ``raw`` features.
    """
    import librosa

    if not invertible(frontend):
        raise ConfigError(
            f"{type(frontend).__name__} features cannot be turned back into audio: only the "
            f"filterbank STFT front-ends (features=mel, features=logfreq) can.")
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3 or x.shape[0] != 1 or x.shape[1] != frontend.n_bins:
        raise ValueError(f"expected features [{frontend.n_bins}, T] or [1, {frontend.n_bins}, T], "
                         f"got {tuple(x.shape)}")
    std = frontend.standardizer
    if normalized and std is not None:  # (x - mean) / std  ->  x * std + mean
        x = x * std.std.detach().cpu().float() + std.mean.detach().cpu().float()
    bands = _uncompress(x[0].double().numpy(), frontend.compression)  # [F, T], |S|**power pooled
    n_freq = frontend.n_fft // 2 + 1
    fb = np.zeros((frontend.n_bins, n_freq))
    fb[:, frontend.fft_lo:frontend.fft_hi] = frontend.filterbank.detach().cpu().double().numpy()
    # A short L-BFGS memory (librosa defaults to one slot per FFT bin) halves the time, same fit.
    power_spec = librosa.util.nnls(fb, bands, m=10)  # [n_fft/2+1, T], >= 0
    magnitude = np.power(np.maximum(power_spec, 0.0), 1.0 / frontend.power)
    pad_mode = "constant" if frontend.pad_mode == "constant" else "reflect"
    audio = librosa.griffinlim(magnitude, n_iter=int(n_iter), hop_length=frontend.hop_length,
                               n_fft=frontend.n_fft, win_length=frontend.n_fft, window="hann",
                               center=True, pad_mode=pad_mode, length=n_samples,
                               random_state=int(seed))
    return audio.astype(np.float32)
