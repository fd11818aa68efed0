"""Local-context MLP: each frame's outputs from a window of neighbouring input frames.

The seed's strongest simple baseline on EnCodec latents. A window MLP is exactly a 1-D
convolution with kernel ``2*context+1`` followed by 1x1 layers, which is how it is computed
here (no unfold copy of the input).
"""

from __future__ import annotations

import torch
from torch import nn

from wavespace.models.heads import FrameHeads, flatten_frames


class LocalMLP(nn.Module):
    """Input [B, C, F, T] -> window of ``2*context+1`` frames -> hidden layers -> heads."""

    def __init__(
        self,
        in_channels: int,
        in_bins: int,
        n_bins: int,
        n_keys: int = 88,
        context: int = 4,
        hidden: int = 256,
        n_layers: int = 2,
        dropout: float = 0.1,
        salience: bool = True,
        offset: bool = False,
        velocity: bool = False,
    ) -> None:
        super().__init__()
        d_in = in_channels * in_bins
        self.context = int(context)
        self.norm = nn.BatchNorm1d(d_in)  # learned standardisation of log-CQT / latent scales
        layers: list[nn.Module] = [
            nn.Conv1d(d_in, hidden, 2 * self.context + 1, padding=self.context),
            nn.GELU(),
            nn.Dropout(dropout),
        ]
        for _ in range(max(0, int(n_layers) - 1)):
            layers += [nn.Conv1d(hidden, hidden, 1), nn.GELU(), nn.Dropout(dropout)]
        self.body = nn.Sequential(*layers)
        self.heads = FrameHeads(hidden, n_bins, n_keys, salience, offset, velocity)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.heads(self.body(self.norm(flatten_frames(x))))
