"""Log-frequency STFT: an STFT resampled onto a geometric frequency grid (``features=logfreq``).

Bin k is centered at ``fmin * (fmax / fmin) ** (k / (n_bins - 1))``. Its weights over FFT bins are
a triangle reaching the neighbouring centers, widened to at least one FFT bin on each side:
where log bins are wider than FFT bins (high frequencies) each bin pools the FFT bins it spans;
where they are narrower (low frequencies) the triangle degenerates to linear interpolation
between the two nearest FFT bins, so no output bin is empty. Peaks keep weight 1 (no area
normalization), so a pure tone reads about the same magnitude at every frequency.
"""

from __future__ import annotations

import numpy as np

from wavespace.features.base import FrontendConfigError, check_below_nyquist
from wavespace.features.stft import FilterbankSTFT


def log_frequencies(fmin: float, fmax: float, n_bins: int) -> np.ndarray:
    """Geometric grid of ``n_bins`` center frequencies from fmin to fmax (both included)."""
    return fmin * (fmax / fmin) ** (np.arange(n_bins) / (n_bins - 1))


def logfreq_filterbank(sample_rate: int, n_fft: int, centers: np.ndarray) -> np.ndarray:
    """[len(centers), n_fft // 2 + 1] triangular / interpolating weights (see module doc)."""
    fft_freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    df = sample_rate / n_fft
    ratio = centers[1] / centers[0]
    lower = np.concatenate([[centers[0] / ratio], centers[:-1]])
    upper = np.concatenate([centers[1:], [centers[-1] * ratio]])
    width_lo = np.maximum(centers - lower, df)[:, None]
    width_hi = np.maximum(upper - centers, df)[:, None]
    d = fft_freqs[None, :] - centers[:, None]
    weights = np.where(d < 0, 1.0 + d / width_lo, 1.0 - d / width_hi)
    return np.clip(weights, 0.0, None)


class LogFreqSTFT(FilterbankSTFT):
    """Log-magnitude STFT on a log-frequency axis, [B, 1, n_bins, frames]."""

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        n_bins: int = 256,
        fmin: float = 27.5,
        fmax: float = 8000.0,
        n_fft: int = 4096,
        power: float = 1.0,
        compression: str = "log",
        pad_mode: str = "constant",
        normalize: str = "none",
    ) -> None:
        if not 0 < fmin < fmax or n_bins < 2:
            raise FrontendConfigError(
                f"logfreq needs 0 < fmin < fmax and n_bins >= 2 (got fmin={fmin}, fmax={fmax}, "
                f"n_bins={n_bins})")
        check_below_nyquist("logfreq", fmax, sample_rate, "lower features.fmax")
        centers = log_frequencies(float(fmin), float(fmax), int(n_bins))
        super().__init__(sample_rate, hop_length, n_fft,
                         logfreq_filterbank(int(sample_rate), int(n_fft), centers),
                         power, compression, pad_mode, normalize)
        self.fmin, self.fmax, self._centers = float(fmin), float(fmax), centers

    @property
    def bins_per_octave(self) -> float:
        return (self.n_bins - 1) / float(np.log2(self.fmax / self.fmin))

    @property
    def center_frequencies(self) -> np.ndarray:
        return self._centers
