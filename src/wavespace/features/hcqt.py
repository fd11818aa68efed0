"""Harmonic CQT: one channel per harmonic h, channel h's bin k centered at h * f_k.

As in SonyCSLParis/pesto-full ``src/data/hcqt.py`` and Bittner et al.'s deep salience: with
channels stacked, a small convolution sees a pitch's partials at the same bin position.

Two ways to compute it, picked by ``strategy``:

- ``per_harmonic``: one nnAudio CQT per harmonic with ``fmin * h`` (what pesto-full does). Each
  spans only the geometry's octaves, so the fast ``CQT2010v2`` applies whenever the hop allows it
  for those octaves (hop 256 allows 8).
- ``shared``: one wide CQT from ``fmin * min(h)`` covering every harmonic's range, sliced per
  channel. It computes each bin once, but the slices are exact only when every shift
  ``bins_per_octave * log2(h / min(h))`` is a whole number of bins (h = 0.5, 1, 2, 4 ..., not 3 or
  5), and its extra octaves make ``CQT2010v2`` need a larger power-of-two hop.
- ``auto`` (default): ``shared`` when its slices are exact and it can use ``CQT2010v2``, else
  ``per_harmonic``. Measured by ``bench/features.py`` (32 clips x 2 s, 1 CPU thread, harmonics
  0.5, 1, 2 on the piano grid): at hop 512 the shared 2010 CQT is ~3.2x faster than three 2010
  CQTs (it downsamples once, not three times); at hop 256 the wide CQT (10 octaves) must fall
  back to ``CQT1992v2`` and is ~16-25x *slower* than three 2010 CQTs, so per-harmonic wins on
  our piano22k geometry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from wavespace.features.base import (
    Frontend,
    FrontendConfigError,
    check_compression,
    compress,
)
from wavespace.features.cqt import KernelsFromCheckpoint, cqt_algorithm, make_nnaudio_cqt


class HCQT(KernelsFromCheckpoint, Frontend):
    """Log-magnitude harmonic CQT, shape [B, len(harmonics), n_bins, frames].

    ``kernels_from_checkpoint``: as for :class:`~wavespace.features.cqt.CQT`.
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        fmin: float,
        bins_per_octave: int,
        n_bins: int,
        harmonics: Sequence[float] = (0.5, 1, 2),
        strategy: str = "auto",
        compression: str = "log",
        algorithm: str = "auto",
        pad_mode: str = "constant",
        normalize: str = "none",
        kernels_from_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        self.sample_rate, self.hop_length = int(sample_rate), int(hop_length)
        self.n_bins, self.bins_per_octave, self.fmin = int(n_bins), int(bins_per_octave), float(fmin)
        self.harmonics = tuple(float(h) for h in harmonics)
        if not self.harmonics or min(self.harmonics) <= 0:
            raise FrontendConfigError(f"HCQT harmonics must be positive numbers, got {list(harmonics)}")
        self.n_channels = len(self.harmonics)
        top = self.fmin * max(self.harmonics) * 2 ** ((self.n_bins - 1) / self.bins_per_octave)
        if top >= self.sample_rate / 2:
            fits = [h for h in self.harmonics
                    if self.fmin * h * 2 ** ((self.n_bins - 1) / self.bins_per_octave)
                    < self.sample_rate / 2]
            raise FrontendConfigError(
                f"HCQT harmonic {max(self.harmonics):g} puts the top bin at {top:.0f} Hz, above "
                f"Nyquist ({self.sample_rate / 2:.0f} Hz at {self.sample_rate} Hz): the range "
                f"fmin={self.fmin:g} Hz x {self.n_bins} bins at {self.bins_per_octave}/octave must "
                f"fit for every harmonic. Harmonics that fit: {fits or 'none'}. Drop the high "
                f"harmonics (features.harmonics), lower n_bins, or raise geometry.sample_rate."
            )
        self.compression = check_compression(compression)
        h_min = min(self.harmonics)
        raw_shifts = [self.bins_per_octave * math.log2(h / h_min) for h in self.harmonics]
        exact = all(abs(s - round(s)) < 1e-6 for s in raw_shifts)
        self.shifts = [int(round(s)) for s in raw_shifts]
        wide_bins = self.n_bins + max(self.shifts)
        if strategy == "auto":
            fast = cqt_algorithm(self.hop_length, wide_bins, self.bins_per_octave, algorithm) == "2010"
            strategy = "shared" if exact and fast else "per_harmonic"
        if strategy == "shared":
            if not exact:
                raise FrontendConfigError(
                    f"HCQT strategy 'shared' needs harmonics whose shifts "
                    f"bins_per_octave*log2(h/{h_min:g}) are whole bins; {list(self.harmonics)} "
                    f"give {[round(s, 3) for s in raw_shifts]}. Use strategy per_harmonic or auto."
                )
            built = [make_nnaudio_cqt(self.sample_rate, self.hop_length, self.fmin * h_min,
                                      self.bins_per_octave, wide_bins, algorithm, pad_mode, "HCQT",
                                      kernels_from_checkpoint)]
        elif strategy == "per_harmonic":
            built = [make_nnaudio_cqt(self.sample_rate, self.hop_length, self.fmin * h,
                                      self.bins_per_octave, self.n_bins, algorithm, pad_mode, "HCQT",
                                      kernels_from_checkpoint)
                     for h in self.harmonics]
        else:
            raise FrontendConfigError(
                f"unknown HCQT strategy '{strategy}' (auto, per_harmonic or shared)")
        self.cqts = nn.ModuleList([m for m, _, _ in built])
        self.algorithms = [a for _, a, _ in built]
        self.scales = [s for _, _, s in built]
        self.strategy = strategy
        self.set_normalization(normalize)

    @property
    def center_frequencies(self) -> np.ndarray:
        """[n_channels, n_bins] center frequency (Hz) of each output bin of each channel."""
        base = self.fmin * 2.0 ** (np.arange(self.n_bins) / self.bins_per_octave)
        return np.asarray(self.harmonics)[:, None] * base[None, :]

    def compute(self, audio: torch.Tensor) -> torch.Tensor:
        if self.strategy == "shared":
            wide = self.cqts[0](audio) * self.scales[0]  # [B, wide_bins, frames]
            mag = torch.stack([wide[:, s:s + self.n_bins] for s in self.shifts], dim=1)
        else:
            mag = torch.stack([cqt(audio) * k for cqt, k in zip(self.cqts, self.scales)], dim=1)
        return compress(mag, self.compression)
