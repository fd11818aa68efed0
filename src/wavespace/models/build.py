"""Completing a configured net with the front-end it reads from (training and inference alike)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn


def build_net(net: nn.Module | Callable[..., nn.Module], features: Any) -> nn.Module:
    """Complete a partially configured net with the front-end's output shape.

    Configs give nets as ``_partial_`` so that input sizes come from the front-end that is
    actually used (its ``n_channels`` and ``n_bins``), never from a second copy of the same
    numbers. A task (``wavespace.tasks.base``) and the inference-only loader
    (``wavespace.loading``) both build nets here, so both always agree.
    """
    if isinstance(net, nn.Module):
        return net
    return net(in_channels=features.n_channels, in_bins=features.n_bins)
