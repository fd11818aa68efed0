"""Wavespace: audio machine-learning research on Hydra + PyTorch Lightning.

Importing the package is cheap; heavy modules load where they are used.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load(path: str, map_location: str = "cpu") -> Any:
    """Rebuild a trained model from a checkpoint file, a run directory or the name of a shipped
    model (``wavespace.load("piano-cpu")``; see wavespace.loading and wavespace.pretrained)."""
    from wavespace.loading import load as _load

    return _load(path, map_location=map_location)


__all__ = ["__version__", "load"]
