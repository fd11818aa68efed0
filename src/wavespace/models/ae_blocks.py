"""Pieces shared by the spectrogram autoencoders (UNet, ConvNet2d, ConvNet1d).

Why pad and crop: a 2.0 s clip at hop 256 has 173 frames, a prime, so no stack of stride-2
stages divides it. The input is zero-padded on the right/top up to the next multiple of the total
downsampling factor and the output cropped back, so any bins x frames come out in the same shape
they went in. Norms and activations are chosen by name so that a config (and a sweep) can switch
them without code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wavespace.errors import ConfigError

NORMS = ("batch", "instance", "group", "layer", "none")
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "elu": nn.ELU,
               "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh}


def check_choice(net: str, what: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    if value not in choices:
        raise ConfigError(f"{net}: unknown {what} '{value}' (model.net.{what}): choose one of "
                          f"{', '.join(choices)}")
    return value


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def norm(kind: str, channels: int, dims: int) -> nn.Module:
    """A normalization layer over ``channels`` for 1-D ([B, C, T]) or 2-D ([B, C, F, T]) maps.

    ``group`` uses up to 8 groups (the largest divisor of ``channels`` not above 8); ``layer`` is
    GroupNorm with one group (normalizes each example over channels and positions).
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)
    if kind == "instance":
        return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm1d)(channels, affine=True)
    if kind == "group":
        groups = max(g for g in range(1, 9) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def widths(channels: int, growth: float, max_channels: int, levels: int) -> list[int]:
    """Channel count of each level: ``channels * growth**i``, capped at ``max_channels``."""
    return [int(min(round(channels * growth**i), max_channels)) for i in range(levels)]


class ConvNormAct(nn.Sequential):
    """Conv (no bias when a norm follows) -> norm -> activation, 1-D or 2-D, 'same' padding."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dims: int, norm_kind: str, act: str,
                 stride: int = 1) -> None:
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        super().__init__(
            conv(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=norm_kind == "none"),
            norm(norm_kind, c_out, dims),
            activation(act),
        )


def pad_to_multiple(x: torch.Tensor, multiple: int, dims: int) -> torch.Tensor:
    """Zero-pad the last ``dims`` axes (bins and/or frames) at their end to a multiple."""
    pads: list[int] = []
    for size in reversed(x.shape[-dims:]):  # F.pad lists the last axis first
        pads += [0, (-size) % multiple]
    return F.pad(x, pads) if any(pads) else x


def crop_like(x: torch.Tensor, shape: torch.Size, dims: int) -> torch.Tensor:
    """Crop the last ``dims`` axes of ``x`` back to those of ``shape``."""
    index = (Ellipsis, *(slice(0, n) for n in shape[-dims:]))
    return x[index]
