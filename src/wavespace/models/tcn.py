"""Dilated temporal convolution network over frames (non-causal, residual)."""

from __future__ import annotations

import torch
from torch import nn

from wavespace.models.heads import FrameHeads, flatten_frames


def tcn_receptive_field(kernel: int, dilations: list[int]) -> int:
    """Frames seen by one output frame: 1 + sum((kernel - 1) * dilation)."""
    return 1 + sum((kernel - 1) * d for d in dilations)


def tcn_dilations(kernel: int, n_blocks: int | None, receptive_field: int | None, base: int = 2) -> list[int]:
    """Dilations base**0, base**1, ...: ``n_blocks`` of them, or as many as ``receptive_field`` needs."""
    if receptive_field is None:
        return [base**i for i in range(int(n_blocks or 1))]
    dilations: list[int] = []
    while tcn_receptive_field(kernel, dilations) < int(receptive_field):
        dilations.append(base ** len(dilations))
    return dilations or [1]


class TCNBlock(nn.Module):
    def __init__(self, d: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.net = nn.Sequential(
            nn.Conv1d(d, d, kernel, padding=pad, dilation=dilation),
            nn.BatchNorm1d(d),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Conv1d(d, d, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class TCN(nn.Module):
    """Input [B, C, F, T] -> 1x1 projection -> residual dilated conv blocks -> heads.

    Give either ``n_blocks`` or ``receptive_field`` (frames); the latter picks the number of
    doubling-dilation blocks that reaches it. ``kernel`` must be odd (centered, non-causal).
    """

    def __init__(
        self,
        in_channels: int,
        in_bins: int,
        n_bins: int,
        n_keys: int = 88,
        channels: int = 128,
        kernel: int = 3,
        n_blocks: int | None = 5,
        receptive_field: int | None = None,
        dilation_base: int = 2,
        dropout: float = 0.1,
        salience: bool = True,
        offset: bool = False,
        velocity: bool = False,
    ) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"TCN kernel must be odd for centered convolutions, got {kernel}")
        d_in = in_channels * in_bins
        self.dilations = tcn_dilations(kernel, n_blocks, receptive_field, dilation_base)
        self.receptive_field = tcn_receptive_field(kernel, self.dilations)
        self.norm = nn.BatchNorm1d(d_in)
        self.proj = nn.Conv1d(d_in, channels, 1)
        self.blocks = nn.Sequential(*[TCNBlock(channels, kernel, d, dropout) for d in self.dilations])
        self.heads = FrameHeads(channels, n_bins, n_keys, salience, offset, velocity)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.heads(self.blocks(self.proj(self.norm(flatten_frames(x)))))
