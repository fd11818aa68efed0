"""Constant-Q transform front-end (nnAudio), batched on the training device."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from wavespace.features.base import (
    Frontend,
    FrontendConfigError,
    check_below_nyquist,
    check_compression,
    compress,
)


def cqt_algorithm(hop_length: int, n_bins: int, bins_per_octave: int, algorithm: str = "auto") -> str:
    """``2010`` (octave-wise downsampling, fast) when the hop allows it, else ``1992`` (direct).

    nnAudio's ``CQT2010v2`` halves the signal once per octave below the top one, so it needs the
    hop divisible by 2**(octaves-1); ``CQT1992v2`` works for any hop but costs much more.
    """
    if algorithm not in ("auto", "2010", "1992"):
        raise FrontendConfigError(f"unknown CQT algorithm '{algorithm}' (auto, 2010 or 1992)")
    if algorithm != "auto":
        return algorithm
    octaves = math.ceil(n_bins / bins_per_octave)
    return "2010" if hop_length % 2 ** (octaves - 1) == 0 else "1992"


def make_nnaudio_cqt(
    sample_rate: int, hop_length: int, fmin: float, bins_per_octave: int, n_bins: int,
    algorithm: str = "auto", pad_mode: str = "constant", name: str = "CQT",
) -> tuple[nn.Module, str, float]:
    """An nnAudio magnitude CQT module [B, T] -> [B, n_bins, frames], its algorithm, and the
    factor its output must be multiplied by.

    The factor corrects nnAudio 0.3.4's ``CQT2010v2`` *early downsampling* (used when the top bin
    is far below Nyquist, e.g. an HCQT channel h = 0.5): it rescales by ``downsample_factor``
    where sqrt(downsample_factor) is right, so a tone reads sqrt(2) or 2x louder than with
    ``CQT1992v2`` or without early downsampling (tests/features check the agreement).
    """
    from nnAudio.features import CQT1992v2, CQT2010v2  # heavy import, kept local

    top = fmin * 2 ** ((n_bins - 1) / bins_per_octave)
    check_below_nyquist(name, top, sample_rate,
                        "lower n_bins or fmin, or raise geometry.sample_rate")
    algorithm = cqt_algorithm(hop_length, n_bins, bins_per_octave, algorithm)
    kwargs = dict(sr=sample_rate, hop_length=hop_length, fmin=fmin, n_bins=n_bins,
                  bins_per_octave=bins_per_octave, output_format="Magnitude", verbose=False,
                  pad_mode=pad_mode)
    module = CQT2010v2(**kwargs) if algorithm == "2010" else CQT1992v2(**kwargs)
    scale = 1.0
    if algorithm == "2010" and module.earlydownsample:
        scale = 1.0 / math.sqrt(float(module.downsample_factor))
    return module, algorithm, scale


class CQT(Frontend):
    """Log-magnitude CQT, shape [B, 1, n_bins, frames].

    Uses nnAudio's ``CQT2010v2`` (octave-wise downsampling, ~8x faster on CPU than the direct
    ``CQT1992v2``) whenever the hop is divisible by 2**(octaves-1), which that algorithm needs;
    otherwise falls back to ``CQT1992v2``, which works for any hop. Edges are zero-padded by
    default: reflection needs clips longer than half the longest (lowest-bin) kernel, about 1.5 s
    at A0, which short crops are not.
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        fmin: float,
        bins_per_octave: int,
        n_bins: int,
        compression: str = "log",
        algorithm: str = "auto",
        pad_mode: str = "constant",
        normalize: str = "none",
    ) -> None:
        super().__init__()
        self.sample_rate, self.hop_length = int(sample_rate), int(hop_length)
        self.n_bins, self.bins_per_octave, self.fmin = int(n_bins), int(bins_per_octave), float(fmin)
        self.cqt, self.algorithm, self.scale = make_nnaudio_cqt(
            self.sample_rate, self.hop_length, self.fmin, self.bins_per_octave, self.n_bins,
            algorithm, pad_mode)
        self.compression = check_compression(compression)
        self.set_normalization(normalize)

    @property
    def center_frequencies(self) -> np.ndarray:
        """Center frequency (Hz) of each output bin."""
        return self.fmin * 2.0 ** (np.arange(self.n_bins) / self.bins_per_octave)

    def compute(self, audio: torch.Tensor) -> torch.Tensor:
        mag = self.cqt(audio)  # [B, n_bins, frames]
        if self.scale != 1.0:
            mag = mag * self.scale
        return compress(mag, self.compression).unsqueeze(1)
