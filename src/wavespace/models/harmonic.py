"""Learned harmonic kernels: a salience map convolved along frequency rebuilds the spectrogram.

Study 2 of the write-up: a UNet maps a log-frequency spectrogram to K non-negative salience
channels (the latent *is* the salience map), and a physically interpretable decoder regenerates
the spectrogram from them. Each channel k owns one non-negative kernel ``W_k`` over frequency
offsets ``j = 0 .. L-1`` (bins above the salience bin), and

    recon[f, t] = sum_k sum_j S_k[f - j, t] * W_k[j]

i.e. a salience peak at bin ``b`` puts energy at ``b + j`` with weight ``W_k[j]``. On a grid of
``B`` bins per octave harmonic ``h`` lies ``round(B * log2 h)`` bins above its fundamental, so a
kernel spanning up to harmonic ``H`` has ``L = round(B * log2 H) + 1`` taps, and a ``comb``
initialisation puts lines exactly there. Non-negativity comes from the parametrisation
(``softplus`` of a free parameter), not from clamping, so every step keeps it and gradients flow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wavespace.errors import ConfigError

KERNEL_INITS = ("comb", "constant", "random")
SALIENCE_ACTIVATIONS = ("softplus", "relu")


def harmonic_offsets(bins_per_octave: float, n_harmonics: int) -> list[int]:
    """Bin offset of harmonic h = 1..n_harmonics above its fundamental: round(B * log2 h)."""
    return [int(round(bins_per_octave * math.log2(h))) for h in range(1, n_harmonics + 1)]


def kernel_length(bins_per_octave: float, n_harmonics: int) -> int:
    """Taps needed to reach harmonic ``n_harmonics``: round(B * log2 H) + 1."""
    return harmonic_offsets(bins_per_octave, n_harmonics)[-1] + 1


def _inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    """x with softplus(x) = y (y > 0), stable for large y."""
    return y + torch.log(-torch.expm1(-y))


class HarmonicKernelDecoder(nn.Module):
    """K non-negative harmonic kernels; ``forward(S [B, K, F, T]) -> [B, 1, F, T]``.

    One ``conv2d`` (kernel ``[1, K, L, 1]``, frequency padded by ``L - 1`` bins at the low end)
    computes the sum over channels and offsets: no loop over channels or harmonics.
    ``contributions`` gives the per-channel reconstructions (grouped conv) for figures.

    Initialisations (``init_value`` sets the scale):

    * ``comb``: ``init_value * decay ** (h - 1)`` at offset ``round(B log2 h)`` for h = 1..H
      (where two harmonics share a bin, the larger weight), ``init_value * floor`` elsewhere;
    * ``constant``: ``init_value`` at every tap;
    * ``random``: ``init_value * U(0, 1)`` per tap (``torch``'s global generator).
    """

    def __init__(
        self,
        n_channels: int,
        bins_per_octave: float,
        n_harmonics: int = 8,
        init: str = "comb",
        decay: float = 0.8,
        init_value: float = 0.5,
        floor: float = 1e-3,
    ) -> None:
        super().__init__()
        if int(n_channels) < 1:
            raise ConfigError(f"the harmonic decoder needs at least one salience channel "
                              f"(n_salience >= 1), got {n_channels}")
        if int(n_harmonics) < 1:
            raise ConfigError(f"n_harmonics must be >= 1 (1 = fundamental only), got {n_harmonics}")
        if not float(bins_per_octave) > 0:
            raise ConfigError(f"bins_per_octave must be positive, got {bins_per_octave}")
        if init not in KERNEL_INITS:
            raise ConfigError(f"unknown kernel init '{init}': choose one of {', '.join(KERNEL_INITS)}")
        if not float(init_value) > 0 or not float(decay) > 0 or not 0 < float(floor) < 1:
            raise ConfigError(f"kernel init_value and decay must be > 0 and floor in (0, 1) "
                              f"(got init_value={init_value}, decay={decay}, floor={floor})")
        self.n_channels, self.n_harmonics = int(n_channels), int(n_harmonics)
        self.bins_per_octave, self.init = float(bins_per_octave), init
        self.offsets = harmonic_offsets(self.bins_per_octave, self.n_harmonics)
        self.length = self.offsets[-1] + 1
        self.raw = nn.Parameter(_inverse_softplus(self.initial_kernels(init, float(init_value),
                                                                       float(decay), float(floor))))

    def initial_kernels(self, init: str, value: float, decay: float, floor: float) -> torch.Tensor:
        """[K, L] positive kernels the parameter starts from."""
        shape = (self.n_channels, self.length)
        if init == "constant":
            return torch.full(shape, value)
        if init == "random":
            return value * torch.rand(shape).clamp_min(floor)
        comb = torch.full(shape, value * floor)
        for h, j in enumerate(self.offsets, start=1):
            comb[:, j] = torch.maximum(comb[:, j], torch.tensor(value * decay ** (h - 1)))
        return comb

    @property
    def kernels(self) -> torch.Tensor:
        """[K, L] non-negative kernels (softplus of the parameter)."""
        return F.softplus(self.raw)

    def _conv(self, salience: torch.Tensor, groups: int) -> torch.Tensor:
        w = self.kernels.flip(-1).to(salience.dtype)  # conv2d correlates: flip for a convolution
        weight = w[:, None, :, None] if groups > 1 else w[None, :, :, None]
        padded = F.pad(salience, (0, 0, self.length - 1, 0))  # zeros below the lowest bin
        return F.conv2d(padded, weight, groups=groups)

    def forward(self, salience: torch.Tensor) -> torch.Tensor:
        """Sum over channels of each channel's salience convolved with its kernel: [B, 1, F, T]."""
        return self._conv(salience, groups=1)

    def contributions(self, salience: torch.Tensor) -> torch.Tensor:
        """Per-channel reconstructions [B, K, F, T] (their sum over K is ``forward``)."""
        return self._conv(salience, groups=self.n_channels)


class HarmonicSalienceNet(nn.Module):
    """UNet -> K non-negative salience maps -> harmonic-kernel decoder (see module docstring).

    ``forward(x [B, 1, F, T])`` returns ``{"salience": [B, K, F, T], "recon": [B, 1, F, T]}``.
    The input must be a single-channel spectrogram on a geometric frequency grid with
    ``bins_per_octave`` bins per octave (CQT or log-frequency STFT); the task checks the
    front-end and passes its ``bins_per_octave``. ``unet`` holds the UNet's own keyword
    arguments (depth, channels, norm, ...); its output channels and activation are set here.
    """

    def __init__(
        self,
        in_channels: int,
        in_bins: int,
        bins_per_octave: float,
        n_salience: int = 4,
        n_harmonics: int = 8,
        kernel_init: str = "comb",
        kernel_decay: float = 0.8,
        kernel_init_value: float = 0.5,
        salience_activation: str = "softplus",
        unet: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        from wavespace.models.unet import UNet

        if int(in_channels) != 1:
            raise ConfigError(
                f"the harmonic salience model reconstructs a single-channel log-frequency "
                f"spectrogram, but the front-end gives {in_channels} channels: use features=cqt "
                f"or features=logfreq")
        if salience_activation not in SALIENCE_ACTIVATIONS:
            raise ConfigError(f"salience_activation must be one of {', '.join(SALIENCE_ACTIVATIONS)} "
                              f"(salience must be non-negative), got '{salience_activation}'")
        unet_kwargs = dict(unet or {})
        for key in ("in_channels", "in_bins", "out_channels", "out_activation"):
            if key in unet_kwargs:
                raise ConfigError(f"net.unet.{key} is set by the harmonic model itself; remove it")
        self.n_salience = int(n_salience)
        self.decoder = HarmonicKernelDecoder(self.n_salience, bins_per_octave, n_harmonics,
                                             kernel_init, kernel_decay, kernel_init_value)
        self.unet = UNet(in_channels=1, in_bins=int(in_bins), out_channels=self.n_salience,
                         out_activation=salience_activation, **unet_kwargs)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        salience = self.unet(x)
        return {"salience": salience, "recon": self.decoder(salience)}
