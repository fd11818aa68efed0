"""Constant-Q transform front-end (nnAudio), batched on the training device."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator

import numpy as np
import torch
from scipy.fft import next_fast_len
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


def fft_decimate(x: torch.Tensor, kernel: torch.Tensor, factor: int) -> torch.Tensor:
    """``conv1d(x, kernel, stride=factor, padding=(L - 1) // 2)``, computed through one FFT.

    Why: nnAudio's CQT2010 low-passes the whole signal with a 256-tap single-channel conv1d
    before each octave; on CPU that conv runs at ~0.2 GMAC/s and was 95 % of the transform's
    time (0.55 s of 0.58 s for 20 s of audio). One FFT of a 5-smooth length does the same
    filtering several times faster (bench/cqt_decimation.py), on any device, with the same
    output to ~1e-6. ``x`` [B, 1, N], ``kernel`` [1, 1, L].
    """
    n, taps = x.shape[-1], kernel.shape[-1]
    pad = (taps - 1) // 2
    nfft = next_fast_len(n + taps - 1, real=True)  # linear, not circular; 2^a 3^b 5^c: fast
    # In float64: a float32 FFT spreads its rounding error (~1e-7 of the whole signal's energy)
    # over every sample, which shows as noise in near-silent passages (~-100 dB) that the
    # direct convolution keeps clean. float64 costs ~1.5x on the FFTs, ~5 % of the transform.
    work = torch.float32 if x.device.type == "mps" else torch.float64  # MPS has no float64
    spec = torch.fft.rfft(x.to(work), nfft) * torch.fft.rfft(kernel.flip(-1).to(work), nfft)
    full = torch.fft.irfft(spec, nfft)  # full[j] = sum_k kernel[k] * x[j - (taps - 1) + k]
    out_len = (n + 2 * pad - taps) // factor + 1
    start = taps - 1 - pad
    return full[..., start : start + factor * (out_len - 1) + 1 : factor].to(x.dtype)


@functools.cache
def _cqt2010_fft_class() -> type:
    """nnAudio's ``CQT2010v2`` with its decimation filters applied through :func:`fft_decimate`.

    Same kernels, buffers (so checkpoints load either way) and output; only the two
    ``downsampling_by_n`` calls of nnAudio 0.3.4's forward are swapped. tests/features pin the
    output to nnAudio's own forward, which an instance falls back to when its
    ``fft_decimation`` is False (:func:`direct_decimation`).
    """
    from nnAudio.features import CQT2010v2
    from nnAudio.utils import broadcast_dim, get_cqt_complex

    class CQT2010FFT(CQT2010v2):
        # False: nnAudio's own conv1d decimation (see :func:`direct_decimation`).
        fft_decimation = True

        def forward(self, x: torch.Tensor, output_format: str | None = None,
                    normalization_type: str = "librosa") -> torch.Tensor:
            if (not self.fft_decimation or (output_format or self.output_format) != "Magnitude"
                    or normalization_type != "librosa"):
                return super().forward(x, output_format, normalization_type)
            x = broadcast_dim(x)
            if self.earlydownsample:
                x = fft_decimate(x, self.early_downsample_filter, int(self.downsample_factor))
            hop = self.hop_length
            octaves = [get_cqt_complex(x, self.cqt_kernels_real, self.cqt_kernels_imag, hop, self.padding)]
            for _ in range(self.n_octaves - 1):
                hop //= 2
                x = fft_decimate(x, self.lowpass_filter, 2)
                octaves.append(get_cqt_complex(x, self.cqt_kernels_real, self.cqt_kernels_imag,
                                               hop, self.padding))
            cqt = torch.cat(octaves[::-1], 1)[:, -self.n_bins :]
            cqt = cqt * (self.downsample_factor * torch.sqrt(self.lenghts.view(-1, 1, 1)))
            if self.trainable:
                return torch.sqrt(cqt.pow(2).sum(-1) + 1e-8)
            return torch.sqrt(cqt.pow(2).sum(-1))

    # A module-level name, so the modules pickle (DDP spawn, multiprocessing) and unpickle in a
    # fresh process through __getattr__ below.
    CQT2010FFT.__module__, CQT2010FFT.__qualname__ = __name__, "CQT2010FFT"
    globals()["CQT2010FFT"] = CQT2010FFT
    return CQT2010FFT


@contextlib.contextmanager
def direct_decimation(module: nn.Module) -> Iterator[None]:
    """Within the block, every CQT2010 inside ``module`` decimates with nnAudio's conv1d again.

    Why: :func:`fft_decimate` sizes its FFT in Python (``next_fast_len`` of the input length)
    and ONNX has no real FFT op that the TorchScript-based exporter emits, so a traced graph
    would bake one input length in or fail. nnAudio's strided conv1d traces with a free
    length, and gives the same output to ~1e-6 (it is only slower on CPU).
    """
    cqts = [(m, m.fft_decimation) for m in module.modules() if hasattr(m, "fft_decimation")]
    for m, _ in cqts:
        m.fft_decimation = False
    try:
        yield
    finally:
        for m, before in cqts:
            m.fft_decimation = before


def __getattr__(name: str) -> type:
    if name == "CQT2010FFT":  # built on first use: importing nnAudio is slow
        return _cqt2010_fft_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    from nnAudio.features import CQT1992v2  # heavy import, kept local

    top = fmin * 2 ** ((n_bins - 1) / bins_per_octave)
    check_below_nyquist(name, top, sample_rate,
                        "lower n_bins or fmin, or raise geometry.sample_rate")
    algorithm = cqt_algorithm(hop_length, n_bins, bins_per_octave, algorithm)
    kwargs = dict(sr=sample_rate, hop_length=hop_length, fmin=fmin, n_bins=n_bins,
                  bins_per_octave=bins_per_octave, output_format="Magnitude", verbose=False,
                  pad_mode=pad_mode)
    module = _cqt2010_fft_class()(**kwargs) if algorithm == "2010" else CQT1992v2(**kwargs)
    scale = 1.0
    if algorithm == "2010" and module.earlydownsample:
        scale = 1.0 / math.sqrt(float(module.downsample_factor))
    return module, algorithm, scale


class CQT(Frontend):
    """Log-magnitude CQT, shape [B, 1, n_bins, frames].

    Uses nnAudio's ``CQT2010v2`` (octave-wise downsampling; with :func:`fft_decimate` 14-38x
    faster on CPU than the direct ``CQT1992v2``) whenever the hop is divisible by
    2**(octaves-1), which that algorithm needs; otherwise falls back to ``CQT1992v2``, which
    works for any hop. Edges are zero-padded by
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
