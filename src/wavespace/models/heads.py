"""Per-frame output heads shared by the sequence models (local MLP, TCN, transformer).

Sequence models see one feature vector per frame; these 1x1 convolutions turn it into the
contract every net of the project follows: ``salience`` [B, n_bins, T] on the geometry's
log-frequency grid, and piano-roll logits ``frame`` / ``onset`` (``offset`` / ``velocity``
optional) [B, n_keys, T].
"""

from __future__ import annotations

import torch
from torch import nn


def flatten_frames(x: torch.Tensor) -> torch.Tensor:
    """[B, C, F, T] -> [B, C*F, T]: every channel/bin becomes one input feature per frame."""
    b, c, f, t = x.shape
    return x.reshape(b, c * f, t)


class FrameHeads(nn.Module):
    """1x1 convolutions from per-frame embeddings [B, D, T] to every requested target."""

    def __init__(
        self,
        d_in: int,
        n_bins: int,
        n_keys: int = 88,
        salience: bool = True,
        offset: bool = False,
        velocity: bool = False,
    ) -> None:
        super().__init__()
        sizes = {"salience": n_bins} if salience else {}
        sizes.update({"frame": n_keys, "onset": n_keys})
        if offset:
            sizes["offset"] = n_keys
        if velocity:
            sizes["velocity"] = n_keys
        self.heads = nn.ModuleDict({k: nn.Conv1d(d_in, n, 1) for k, n in sizes.items()})

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: head(h) for name, head in self.heads.items()}
