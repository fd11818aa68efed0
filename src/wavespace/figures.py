"""Figures a researcher looks at, rendered to PNG with matplotlib (headless)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _show(ax, image: np.ndarray, title: str, frame_rate: float, cmap: str = "magma", unit: bool = True) -> None:
    extent = (0, image.shape[-1] / frame_rate, 0, image.shape[0])
    ax.imshow(image, origin="lower", aspect="auto", cmap=cmap, extent=extent, interpolation="nearest",
              vmin=0.0 if unit else None, vmax=1.0 if unit else None)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.tick_params(labelsize=7)


def prediction_figure(example: dict[str, np.ndarray], frame_rate: float, title: str = "") -> plt.Figure:
    """Input spectrogram, then each predicted map next to its target (as in the seed's Figure 6)."""
    heads = [k for k in ("salience", "frame", "onset") if k in example]
    fig, axes = plt.subplots(len(heads) + 1, 2, figsize=(10, 2.3 * (len(heads) + 1)), squeeze=False)
    x = example["input"]
    x = x[0] if x.ndim == 3 else x  # first channel of [C, F, T]
    _show(axes[0, 0], x, "input features", frame_rate, "viridis", unit=False)
    axes[0, 1].axis("off")
    for row, head in enumerate(heads, start=1):
        _show(axes[row, 0], example[head], f"predicted {head}", frame_rate)
        if f"target_{head}" in example:
            _show(axes[row, 1], example[f"target_{head}"], f"target {head}", frame_rate)
        else:
            axes[row, 1].axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def maps_figure(example: Mapping[str, np.ndarray], frame_rate: float, title: str = "") -> plt.Figure:
    """One row per 2-D map of an example ([F, T], or the first channel of [C, F, T]).

    The default panel of a task: whatever it kept, each map with its own colour scale.
    """
    maps = {k: (v[0] if v.ndim == 3 else v) for k, v in example.items() if v.ndim in (2, 3)}
    fig, axes = plt.subplots(max(1, len(maps)), 1, figsize=(8, 2.2 * max(1, len(maps))), squeeze=False)
    for ax, (name, image) in zip(axes[:, 0], maps.items()):
        _show(ax, image, name, frame_rate, "viridis", unit=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 100) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
