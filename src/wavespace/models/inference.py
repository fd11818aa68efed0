"""Inference-only rewrites of a trained network: same outputs, less work per frame.

Why: in eval mode a BatchNorm right after a convolution is an affine map per channel, so it can
be folded into that convolution's weights and bias. On the CPU transcriber that removes a pass
over every feature map (BatchNorm was ~7 % of the forward time). Training keeps the unfolded
modules; ``wavespace.transcribe.load_model`` (transcribe, evaluate, the bench) folds them.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(module: nn.Module, inplace: bool = False) -> nn.Module:
    """Fold every ``Conv{1,2}d`` directly followed by a ``BatchNorm{1,2}d`` inside an
    ``nn.Sequential`` into one convolution (the BatchNorm becomes ``nn.Identity``).

    The module must be in eval mode (running statistics are what gets folded). Returns the
    rewritten module (a deep copy unless ``inplace``).
    """
    if module.training:
        raise ValueError("fold_batchnorm needs a module in eval mode (call .eval() first)")
    out = module if inplace else copy.deepcopy(module)
    pairs = ((nn.Conv1d, nn.BatchNorm1d), (nn.Conv2d, nn.BatchNorm2d))
    for seq in [m for m in out.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if any(isinstance(conv, c) and isinstance(bn, n) for c, n in pairs) and bn.track_running_stats:
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
    return out


#: precision names a user can pass (``precision=`` of transcribe / evaluate)
PRECISIONS = ("auto", "fp32", "bf16")


def native_bf16(device: torch.device | str) -> bool:
    """True where bfloat16 convolutions run in hardware: a CUDA GPU that supports them, or a CPU
    with AVX512-BF16 / AMX that oneDNN uses (Zen 4 and later, Sapphire Rapids and later).
    Elsewhere bfloat16 is emulated and slower than float32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def inference_dtype(precision: str, device: torch.device | str) -> torch.dtype:
    """The dtype a net runs in for ``precision`` (``auto``: bfloat16 where it is native, else
    float32). Why bfloat16: on a CPU with native support the transcriber's convolutions run
    ~2x faster, and its probabilities move by ~1e-2 at most (tests/transcription pin the notes)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}' (one of {', '.join(PRECISIONS)})")
    if precision == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    return torch.bfloat16 if precision == "bf16" else torch.float32


def temporal_reach(net: nn.Module) -> int | None:
    """Frames on each side that one output frame of ``net`` can depend on, at most; None when
    the net does not declare itself local in time (``local_in_time``: attention, recurrence,
    pooling over time, anything whose output at a frame may see the whole input).

    The bound adds up every convolution's half-extent along its last (time) axis, parallel
    branches included, so it is never below the true receptive field.
    """
    if not getattr(net, "local_in_time", False):
        return None
    reach = 0
    for m in net.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            if m.stride[-1] != 1:
                return None
            reach += -(-m.dilation[-1] * (m.kernel_size[-1] - 1) // 2)  # ceil: even kernels pad unevenly
    return reach


def tiled_forward(net: nn.Module, x: torch.Tensor, tile: int, reach: int) -> dict[str, torch.Tensor]:
    """``net(x)`` for a net local in time, computed one example and ``tile`` frames at a time,
    each tile with ``reach`` frames of input context on both sides that are computed and
    dropped. Same outputs as one call (to float rounding) wherever ``reach`` bounds the
    receptive field (:func:`temporal_reach`).

    Why: on a CPU a whole chunk's feature maps (16 channels x 264 bins x 1,700 frames, 29 MB
    each) spill out of the caches between layers; tiles of ~512 frames stay in them, 1.15x
    faster for the CPU transcriber (bench/transcribe_speed.py). Outputs must keep the input's
    frame count (the transcriber's heads do).
    """
    b, total = x.shape[0], x.shape[-1]
    window = tile + 2 * reach
    if b == 1 and total <= window:
        return net(x)
    parts: dict[str, list[torch.Tensor]] = {}
    for i in range(b):
        rows: dict[str, list[torch.Tensor]] = {}
        for start in range(0, total, tile):
            stop = min(start + tile, total)
            lo, hi = max(start - reach, 0), min(stop + reach, total)
            if total >= window:  # every call one shape (more context at the ends): the CPU's
                # kernels for it are built once per run, not once per file length
                lo, hi = (0, window) if lo == 0 else (hi - window, hi) if hi == total else (lo, hi)
            for name, value in net(x[i : i + 1, ..., lo:hi]).items():
                if value.shape[-1] != hi - lo:
                    raise ValueError(f"tiled_forward needs outputs with the input's frames; '{name}' has "
                                     f"{value.shape[-1]} for {hi - lo}")
                rows.setdefault(name, []).append(value[..., start - lo : stop - lo])
        for name, pieces in rows.items():
            parts.setdefault(name, []).append(torch.cat(pieces, dim=-1))
    return {name: torch.cat(values, dim=0) for name, values in parts.items()}
