"""UNet spectrogram autoencoder (study 1 of the write-up).

Why ``skip`` is a switch: the write-up credits the UNet's low L1 (0.77) to its skip connections
carrying detail around the bottleneck. With ``skip: false`` the same network must push
everything through the bottleneck, so the two can be compared on equal footing (same depth,
widths, norm and activation); ``encode`` returns the bottleneck either way.
"""

from __future__ import annotations

import torch
from torch import nn

from wavespace.errors import ConfigError
from wavespace.models.ae_blocks import (
    ACTIVATIONS,
    NORMS,
    ConvNormAct,
    check_choice,
    crop_like,
    pad_to_multiple,
    widths,
)

# What the output passes through: none for reconstructions, softplus/relu for non-negative maps
# (the harmonic model's salience), sigmoid for [0, 1] targets.
OUT_ACTIVATIONS = {"none": nn.Identity, "softplus": nn.Softplus, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


class DoubleConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, norm_kind: str, act: str) -> None:
        super().__init__(ConvNormAct(c_in, c_out, kernel, 2, norm_kind, act),
                         ConvNormAct(c_out, c_out, kernel, 2, norm_kind, act))


class UNet(nn.Module):
    """[B, C, F, T] -> [B, C, F, T]: ``depth`` max-pool halvings of bins and frames, and back.

    Level i has ``min(channels * growth**i, max_channels)`` channels; the bottleneck (level
    ``depth``) holds ``[B, width, ceil(F / 2**depth), ceil(T / 2**depth)]``. Upsampling is a
    2x2 transposed convolution; with ``skip`` the matching encoder map is concatenated before
    each decoder block. The output is linear (no activation): the task decides the loss.
    """

    def __init__(
        self,
        in_channels: int,
        in_bins: int,
        depth: int = 4,
        channels: int = 32,
        growth: float = 2.0,
        max_channels: int = 1024,
        kernel_size: int = 3,
        norm: str = "batch",
        activation: str = "gelu",
        skip: bool = True,
        out_channels: int | None = None,
        out_activation: str = "none",
    ) -> None:
        super().__init__()
        check_choice("UNet", "norm", norm, NORMS)
        check_choice("UNet", "activation", activation, list(ACTIVATIONS))
        check_choice("UNet", "out_activation", out_activation, list(OUT_ACTIVATIONS))
        depth = int(depth)
        if depth < 1 or 2**depth > in_bins:
            most = max(int(in_bins).bit_length() - 1, 0)
            raise ConfigError(
                f"UNet depth {depth} does not fit {in_bins} frequency bins: each level halves the "
                f"bins, so {in_bins} bins allow a depth of 1 to {most} (model.net.depth), or use a "
                f"front-end with more bins (features.n_bins).")
        if kernel_size % 2 == 0:
            raise ConfigError(f"UNet kernel_size must be odd (got {kernel_size}) so maps keep their size")
        self.depth, self.skip = depth, bool(skip)
        w = widths(int(channels), float(growth), int(max_channels), depth + 1)
        self.widths = w
        self.down = nn.ModuleList()
        c = in_channels
        for i in range(depth):
            self.down.append(DoubleConv(c, w[i], kernel_size, norm, activation))
            c = w[i]
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(w[depth - 1], w[depth], kernel_size, norm, activation)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in reversed(range(depth)):
            self.up.append(nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2))
            self.dec.append(DoubleConv(w[i] * (2 if self.skip else 1), w[i], kernel_size, norm, activation))
        self.out = nn.Conv2d(w[0], in_channels if out_channels is None else int(out_channels), 1)
        self.out_activation = OUT_ACTIVATIONS[out_activation]()  # no parameters

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = pad_to_multiple(x, 2**self.depth, 2)
        skips = []
        for block in self.down:
            h = block(h)
            skips.append(h)
            h = self.pool(h)
        return self.bottleneck(h), skips

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The bottleneck map [B, width, F / 2**depth, T / 2**depth] (bins/frames rounded up)."""
        return self._encode(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, skips = self._encode(x)
        for up, dec, s in zip(self.up, self.dec, reversed(skips)):
            h = up(h)
            h = dec(torch.cat([h, s], dim=1) if self.skip else h)
        return crop_like(self.out_activation(self.out(h)), x.shape, 2)
