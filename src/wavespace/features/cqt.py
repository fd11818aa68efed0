"""Constant-Q transform front-end (nnAudio), batched on the training device."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from typing import Any

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


def next_fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: a length every FFT library transforms fast.

    scipy.fft.next_fast_len(n, real=True) gives the same; importing scipy.fft costs ~0.1 s of a
    transcription command's start-up, for a search this small.
    """
    best, p5 = 2 ** max(0, (n - 1).bit_length()), 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:  # the smallest power of two that lifts p35 to n
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


#: FFT length of the overlap-save blocks in :func:`fft_decimate` (a block and its spectrum fit
#: in a CPU's L2 cache; one decimation of a 28 s signal: 3.4 ms, against 16.8 ms with one FFT)
BLOCK = 16384


def fft_decimate(x: torch.Tensor, kernel: torch.Tensor, factor: int,
                 spectra: dict | None = None) -> torch.Tensor:
    """``conv1d(x, kernel, stride=factor, padding=(L - 1) // 2)``, computed through FFTs.

    Why: nnAudio's CQT2010 low-passes the whole signal with a 256-tap single-channel conv1d
    before each octave; on CPU that conv runs at ~0.2 GMAC/s and was 95 % of the transform's
    time (0.55 s of 0.58 s for 20 s of audio). FFTs do the same filtering many times faster
    (bench/cqt_decimation.py), on any device, with the same output to ~1e-6. A signal longer
    than two blocks is filtered by overlap-save in blocks of :data:`BLOCK` samples (one batched
    FFT over all blocks), a shorter one by one FFT of a 5-smooth length. ``x`` [B, 1, N],
    ``kernel`` [1, 1, L].

    ``spectra``: a dict in which the kernel's spectrum is kept per FFT length, device and mode,
    for a kernel that never changes (the CQT's low-pass filter): without it, every call spends
    one of its two forward FFTs on the kernel.
    """
    n, taps = x.shape[-1], kernel.shape[-1]
    pad = (taps - 1) // 2
    full_len = n + taps - 1  # the linear convolution: full[j] = sum_k kernel[k] * x[j - (taps - 1) + k]
    blocked = full_len > 2 * BLOCK
    nfft = BLOCK if blocked else next_fast_len(full_len)  # linear, not circular; 2^a 3^b 5^c: fast
    # In float64: a float32 FFT spreads its rounding error (~1e-7 of the transformed block's
    # energy) over every sample, which shows as noise in near-silent passages (~-100 dB) that
    # the direct convolution keeps clean. float64 costs ~1.5x on the FFTs.
    work = torch.float32 if x.device.type == "mps" else torch.float64  # MPS has no float64
    key = (nfft, x.device, work, torch.is_inference_mode_enabled())
    kernel_spec = None if spectra is None else spectra.get(key)
    if kernel_spec is None:
        kernel_spec = torch.fft.rfft(kernel.flip(-1).to(work), nfft)
        if spectra is not None:
            spectra[key] = kernel_spec
    if blocked:  # overlap-save: each block's circular convolution is linear after its first taps - 1
        step = nfft - (taps - 1)
        n_blocks = -(-full_len // step)
        padded = torch.nn.functional.pad(x.to(work), (taps - 1, n_blocks * step - n))
        blocks = padded.unfold(-1, nfft, step)  # [B, 1, n_blocks, nfft]
        out = torch.fft.irfft(torch.fft.rfft(blocks, nfft) * kernel_spec, nfft)[..., taps - 1 :]
        full = out.reshape(*x.shape[:-1], n_blocks * step)
    else:
        full = torch.fft.irfft(torch.fft.rfft(x.to(work), nfft) * kernel_spec, nfft)
    out_len = (n + 2 * pad - taps) // factor + 1
    start = taps - 1 - pad
    return full[..., start : start + factor * (out_len - 1) + 1 : factor].to(x.dtype)


class _CQT2010Forward:
    """The magnitude forward of nnAudio 0.3.4's ``CQT2010v2``, faster on a CPU, for any module
    holding its buffers (``cqt_kernels_real``/``_imag``, ``lowpass_filter``, ``lenghts``, and
    ``early_downsample_filter`` when ``earlydownsample``) and scalars (``hop_length`` after early
    downsampling, ``downsample_factor``, ``n_octaves``, ``n_bins``, ``trainable``).

    Same output as nnAudio's forward to float rounding (tests/features); it differs in how:
    decimation through :func:`fft_decimate` with the filter's spectrum kept, and the real and
    imaginary kernels in one convolution whose halves give the power directly.
    """

    # False: decimate with nnAudio's strided conv1d (what export traces, see direct_decimation)
    fft_decimation = True

    def _decimate(self, x: torch.Tensor, kernel: torch.Tensor, factor: int, cache: str) -> torch.Tensor:
        if self.fft_decimation:
            return fft_decimate(x, kernel, factor, self.__dict__.setdefault(cache, {}))
        return torch.nn.functional.conv1d(x, kernel, stride=factor, padding=(kernel.shape[-1] - 1) // 2)

    def magnitude(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 1, x.shape[-1])  # [T] or [B, T] -> [B, 1, T]
        if self.earlydownsample:
            x = self._decimate(x, self.early_downsample_filter, int(self.downsample_factor), "_early_spectra")
        kernels, k = self._complex_kernels(), self.cqt_kernels_real.shape[0]
        hop, powers = self.hop_length, []
        for octave in range(self.n_octaves):
            if octave:
                hop //= 2
                x = self._decimate(x, self.lowpass_filter, 2, "_lowpass_spectra")
            y = torch.nn.functional.conv1d(self._pad(x), kernels, stride=hop)
            powers.append(y[:, :k].square() + y[:, k:].square())
        power = torch.cat(powers[::-1], 1)[:, -self.n_bins :]
        power = power * (self.downsample_factor**2 * self.lenghts.view(-1, 1))
        return torch.sqrt(power + 1e-8) if self.trainable else torch.sqrt(power)

    def _complex_kernels(self) -> torch.Tensor:
        """[2K, 1, L]: the real kernels, then the imaginary ones negated (nnAudio's sign),
        kept while the kernels are fixed (not ``trainable``)."""
        real, imag = self.cqt_kernels_real, self.cqt_kernels_imag
        key = (real.device, real.dtype, torch.is_inference_mode_enabled())
        cached = self.__dict__.get("_kernels")
        if self.trainable or cached is None or cached[0] != key:
            cached = (key, torch.cat([real, -imag], 0))
            if not self.trainable:
                self.__dict__["_kernels"] = cached
        return cached[1]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """The centering padding; reflection needs a signal longer than half a kernel, so a
        shorter one is zero-padded instead, as nnAudio does."""
        half = self.cqt_kernels_real.shape[-1] // 2
        if self.pad_mode == "reflect" and x.shape[-1] > half:
            return torch.nn.functional.pad(x, (half, half), mode="reflect")
        return torch.nn.functional.pad(x, (half, half))


def _early_downsampling(sample_rate: int, hop_length: int, fmin: float, bins_per_octave: int,
                        n_bins: int) -> tuple[int, int, int]:
    """(octaves, hop after early downsampling, downsample factor) as nnAudio 0.3.4's
    ``CQT2010v2`` derives them (``get_early_downsample_params``), without importing it."""
    q = 1.0 / (2 ** (1 / bins_per_octave) - 1)
    octaves = math.ceil(n_bins / bins_per_octave)
    remainder = n_bins % bins_per_octave
    fmax_t = fmin * 2 ** (octaves - 1) * 2 ** (((remainder or bins_per_octave) - 1) / bins_per_octave)
    cutoff = fmax_t * (1 + 0.5 * 1.5 / q)  # hann window bandwidth 1.5
    by_band = max(0, int(math.ceil(math.log2(0.85 * (sample_rate // 2) / cutoff)) - 1) - 1)
    by_hop = max(0, int(math.ceil(math.log2(hop_length))) - octaves + 1)
    factor = 2 ** min(by_band, by_hop)
    return octaves, hop_length // factor, factor


class CQT2010Restored(_CQT2010Forward, nn.Module):
    """A ``CQT2010v2`` whose kernels and filters come from a checkpoint: built without nnAudio.

    Why: importing nnAudio imports scipy.signal, half a second of a transcription command's
    start-up, only to compute kernels that the checkpoint's state dict then overwrites. The
    buffers start empty and take their shapes from the state dict when it loads; the scalars
    are derived as nnAudio derives them (tests/features compare both builds).
    """

    BUFFERS = ("lowpass_filter", "early_downsample_filter", "lenghts", "cqt_kernels_real", "cqt_kernels_imag")

    def __init__(self, sr: int, hop_length: int, fmin: float, n_bins: int, bins_per_octave: int,
                 pad_mode: str = "constant", **_: object) -> None:
        super().__init__()
        self.n_bins, self.pad_mode, self.trainable = int(n_bins), pad_mode, False
        self.output_format = "Magnitude"
        self.n_octaves, self.hop_length, self.downsample_factor = _early_downsampling(
            sr, hop_length, fmin, bins_per_octave, n_bins)
        self.earlydownsample = self.downsample_factor != 1
        for name in self.BUFFERS:
            if name != "early_downsample_filter" or self.earlydownsample:
                self.register_buffer(name, torch.empty(0))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001
        for name in self.BUFFERS:
            if name in self._buffers and prefix + name in state_dict:
                self._buffers[name] = torch.empty_like(state_dict[prefix + name], device=self._buffers[name].device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cqt_kernels_real.numel() == 0:
            raise RuntimeError("this CQT was built to receive a checkpoint's kernels (restoring=True); "
                               "load the state dict before using it")
        return self.magnitude(x)


@functools.cache
def _cqt2010_fft_class() -> type:
    """nnAudio's ``CQT2010v2`` with the faster magnitude forward of :class:`_CQT2010Forward`.

    Same kernels, buffers (so checkpoints load either way) and output. tests/features pin the
    output to nnAudio's own forward, which an instance falls back to when its
    ``fft_decimation`` is False (:func:`direct_decimation`).
    """
    from nnAudio.features import CQT2010v2

    class CQT2010FFT(_CQT2010Forward, CQT2010v2):
        # fft_decimation False: nnAudio's own forward, exactly (see :func:`direct_decimation`).
        def forward(self, x: torch.Tensor, output_format: str | None = None,
                    normalization_type: str = "librosa") -> torch.Tensor:
            if (not self.fft_decimation or (output_format or self.output_format) != "Magnitude"
                    or normalization_type != "librosa"):
                return super().forward(x, output_format, normalization_type)
            return self.magnitude(x)

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
    algorithm: str = "auto", pad_mode: str = "constant", name: str = "CQT", restoring: bool = False,
) -> tuple[nn.Module, str, float]:
    """An nnAudio magnitude CQT module [B, T] -> [B, n_bins, frames], its algorithm, and the
    factor its output must be multiplied by.

    The factor corrects nnAudio 0.3.4's ``CQT2010v2`` *early downsampling* (used when the top bin
    is far below Nyquist, e.g. an HCQT channel h = 0.5): it rescales by ``downsample_factor``
    where sqrt(downsample_factor) is right, so a tone reads sqrt(2) or 2x louder than with
    ``CQT1992v2`` or without early downsampling (tests/features check the agreement).

    ``restoring``: a state dict will supply the kernels, so a ``2010`` module is built without
    nnAudio (:class:`CQT2010Restored`).
    """
    top = fmin * 2 ** ((n_bins - 1) / bins_per_octave)
    check_below_nyquist(name, top, sample_rate,
                        "lower n_bins or fmin, or raise geometry.sample_rate")
    algorithm = cqt_algorithm(hop_length, n_bins, bins_per_octave, algorithm)
    kwargs = dict(sr=sample_rate, hop_length=hop_length, fmin=fmin, n_bins=n_bins,
                  bins_per_octave=bins_per_octave, output_format="Magnitude", verbose=False,
                  pad_mode=pad_mode)
    if algorithm == "2010":
        module = (CQT2010Restored if restoring else _cqt2010_fft_class())(**kwargs)
    else:
        from nnAudio.features import CQT1992v2  # heavy import, kept local

        module = CQT1992v2(**kwargs)
    scale = 1.0
    if algorithm == "2010" and module.earlydownsample:
        scale = 1.0 / math.sqrt(float(module.downsample_factor))
    return module, algorithm, scale


class KernelsFromCheckpoint:
    """For front-ends built on :func:`make_nnaudio_cqt`: when a checkpoint will supply the state
    dict, build with ``kernels_from_checkpoint`` (the CQT kernels come from it, not nnAudio)."""

    @classmethod
    def restore_config(cls, cfg: Any) -> Any:
        cfg.kernels_from_checkpoint = True
        return cfg


class CQT(KernelsFromCheckpoint, Frontend):
    """Log-magnitude CQT, shape [B, 1, n_bins, frames].

    Uses nnAudio's ``CQT2010v2`` (octave-wise downsampling; with :func:`fft_decimate` 14-38x
    faster on CPU than the direct ``CQT1992v2``) whenever the hop is divisible by
    2**(octaves-1), which that algorithm needs; otherwise falls back to ``CQT1992v2``, which
    works for any hop. Edges are zero-padded by
    default: reflection needs clips longer than half the longest (lowest-bin) kernel, about 1.5 s
    at A0, which short crops are not.

    ``kernels_from_checkpoint`` (set by :meth:`restore_config` when a checkpoint is loaded):
    the kernels come from the state dict, so nnAudio is not imported to compute them.
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
        kernels_from_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        self.sample_rate, self.hop_length = int(sample_rate), int(hop_length)
        self.n_bins, self.bins_per_octave, self.fmin = int(n_bins), int(bins_per_octave), float(fmin)
        self.cqt, self.algorithm, self.scale = make_nnaudio_cqt(
            self.sample_rate, self.hop_length, self.fmin, self.bins_per_octave, self.n_bins,
            algorithm, pad_mode, restoring=kernels_from_checkpoint)
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
