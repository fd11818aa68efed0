"""Plain convolutional spectrogram autoencoders without skip connections (study 1).

``ConvNet2d`` treats the spectrogram as an image (strided 2-D convolutions over bins and frames);
``ConvNet1d`` treats the bins as channels and convolves over time only, so every layer sees the
whole spectrum of a frame (and pitch shifts are not translations for it). Both end their
encoder in a 1x1 projection to ``latent_channels``: the bottleneck's size is a setting, which is
what the latent analysis and the PCA baseline of the benchmark compare at.
"""

from __future__ import annotations

import torch
from torch import nn

from wavespace.errors import ConfigError
from wavespace.models.ae_blocks import (
    ACTIVATIONS,
    NORMS,
    ConvNormAct,
    activation,
    check_choice,
    crop_like,
    norm,
    pad_to_multiple,
    widths,
)


def _check(net: str, depth: int, kernel_size: int, norm_kind: str, act: str) -> None:
    check_choice(net, "norm", norm_kind, NORMS)
    check_choice(net, "activation", act, list(ACTIVATIONS))
    if depth < 1:
        raise ConfigError(f"{net} depth must be at least 1 (model.net.depth={depth})")
    if kernel_size % 2 == 0:
        raise ConfigError(f"{net} kernel_size must be odd (got {kernel_size}) so maps keep their size")


class _ConvAutoencoder(nn.Module):
    """Stem, ``depth`` stride-2 levels, 1x1 latent projection; mirrored decoder; linear output."""

    dims = 2
    name = "ConvNet"

    def __init__(self, c_in: int, depth: int, channels: int, growth: float, max_channels: int,
                 latent_channels: int | None, kernel_size: int, norm_kind: str, act: str) -> None:
        super().__init__()
        _check(self.name, int(depth), int(kernel_size), norm_kind, act)
        self.depth, d, k = int(depth), self.dims, int(kernel_size)
        w = widths(int(channels), float(growth), int(max_channels), self.depth + 1)
        conv = nn.Conv2d if d == 2 else nn.Conv1d
        up = nn.ConvTranspose2d if d == 2 else nn.ConvTranspose1d
        latent = int(latent_channels) if latent_channels else w[-1]
        enc: list[nn.Module] = [ConvNormAct(c_in, w[0], k, d, norm_kind, act)]
        for i in range(1, self.depth + 1):
            enc += [ConvNormAct(w[i - 1], w[i], k, d, norm_kind, act, stride=2),
                    ConvNormAct(w[i], w[i], k, d, norm_kind, act)]
        enc.append(conv(w[-1], latent, 1))
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [ConvNormAct(latent, w[-1], 1, d, norm_kind, act)]
        for i in reversed(range(self.depth)):
            dec += [up(w[i + 1], w[i], 2, stride=2), norm(norm_kind, w[i], d), activation(act),
                    ConvNormAct(w[i], w[i], k, d, norm_kind, act)]
        dec.append(conv(w[0], c_in, 1))
        self.decoder = nn.Sequential(*dec)
        self.widths, self.latent_channels = w, latent


class ConvNet2d(_ConvAutoencoder):
    """[B, C, F, T] -> [B, C, F, T] with strided 2-D convolutions; no skip connections.

    The bottleneck is ``[B, latent_channels, ceil(F / 2**depth), ceil(T / 2**depth)]``.
    """

    name = "ConvNet2d"

    def __init__(self, in_channels: int, in_bins: int, depth: int = 4, channels: int = 32,
                 growth: float = 2.0, max_channels: int = 1024, latent_channels: int | None = 64,
                 kernel_size: int = 3, norm: str = "batch", activation: str = "gelu") -> None:
        if int(depth) >= 1 and 2 ** int(depth) > in_bins:
            raise ConfigError(
                f"ConvNet2d depth {depth} does not fit {in_bins} frequency bins: each level halves "
                f"the bins, so {in_bins} bins allow a depth of 1 to {int(in_bins).bit_length() - 1} "
                f"(model.net.depth).")
        super().__init__(in_channels, depth, channels, growth, max_channels, latent_channels,
                         kernel_size, norm, activation)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The bottleneck map [B, latent_channels, F / 2**depth, T / 2**depth] (rounded up)."""
        return self.encoder(pad_to_multiple(x, 2**self.depth, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return crop_like(self.decoder(self.encode(x)), x.shape, 2)


class ConvNet1d(_ConvAutoencoder):
    """[B, C, F, T] -> [B, C, F, T]: the C x F bins of a frame are the channels of a 1-D net
    that convolves over time (stride 2 per level); no skip connections.

    The bottleneck is ``[B, latent_channels, ceil(T / 2**depth)]``: a vector sequence in time.
    """

    dims = 1
    name = "ConvNet1d"

    def __init__(self, in_channels: int, in_bins: int, depth: int = 3, channels: int = 256,
                 growth: float = 1.0, max_channels: int = 1024, latent_channels: int | None = 64,
                 kernel_size: int = 5, norm: str = "batch", activation: str = "gelu") -> None:
        self.in_channels, self.in_bins = int(in_channels), int(in_bins)
        super().__init__(self.in_channels * self.in_bins, depth, channels, growth, max_channels,
                         latent_channels, kernel_size, norm, activation)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The bottleneck sequence [B, latent_channels, T / 2**depth] (frames rounded up)."""
        return self.encoder(pad_to_multiple(x.flatten(1, 2), 2**self.depth, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = crop_like(self.decoder(self.encode(x)), x.shape, 1)
        return y.reshape(x.shape)
