"""Figures a researcher looks at, rendered to PNG with matplotlib (headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


# -- study 2, harmonic salience (the write-up's Figures 2-4) -----------------------------------


def _image(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x[0] if x.ndim == 3 else x


def _scaled(x: np.ndarray) -> np.ndarray:
    """Map to [0, 1] by the maximum, for display of maps with no fixed scale (salience)."""
    top = float(np.max(x)) if x.size else 0.0
    return x / top if top > 0 else x


def _bin_ticks(ax, center_hz: np.ndarray | None, n_bins: int) -> None:
    if center_hz is None or len(center_hz) != n_bins:
        ax.set_ylabel("bin", fontsize=8)
        return
    ticks = np.linspace(0, n_bins - 1, 5).astype(int)
    ax.set_yticks(ticks + 0.5)
    ax.set_yticklabels([f"{center_hz[t]:.0f}" for t in ticks])
    ax.set_ylabel("Hz", fontsize=8)


def draw_kernels(ax, kernels: np.ndarray, bins_per_octave: float | None = None) -> None:
    """Each channel's kernel over frequency offset (bins), harmonics h marked at round(B log2 h)."""
    kernels = np.asarray(kernels, dtype=np.float32)
    for k, w in enumerate(kernels):
        ax.plot(np.arange(len(w)), w, lw=1.0, label=f"channel {k}")
    if bins_per_octave:
        h = 1
        while round(bins_per_octave * np.log2(h)) < kernels.shape[-1]:
            ax.axvline(round(bins_per_octave * np.log2(h)), color="0.8", lw=0.6, zorder=0)
            h += 1
    ax.set_xlabel("offset above the salience bin (bins)", fontsize=8)
    ax.set_title("harmonic kernels (grey: harmonics h = 1, 2, ...)", fontsize=9)
    ax.tick_params(labelsize=7)
    if len(kernels) <= 8:
        ax.legend(fontsize=6, loc="upper right")


def example_figure(example: Mapping[str, np.ndarray], kernels: np.ndarray | None, frame_rate: float,
                   center_hz: np.ndarray | None = None, title: str = "",
                   bins_per_octave: float | None = None) -> plt.Figure:
    """Input (the [0, 1] target), summed salience, reconstruction; the kernels underneath."""
    rows = [("input", "input (target, [0, 1])", True), ("salience", "salience, summed over channels "
            "(scaled to its max)", False), ("recon", "reconstruction", True)]
    rows = [r for r in rows if r[0] in example]
    n = len(rows) + (kernels is not None)
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.2 * n), squeeze=False)
    for ax, (key, label, unit) in zip(axes[:, 0], rows):
        img = _image(example[key])
        _show(ax, img if unit else _scaled(img), label, frame_rate, "magma")
        _bin_ticks(ax, center_hz, img.shape[0])
    if kernels is not None:
        draw_kernels(axes[-1, 0], kernels, bins_per_octave)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def kernels_figure(kernels: np.ndarray, bins_per_octave: float) -> plt.Figure:
    """The learned kernels, one panel per channel (the write-up's Figure 3)."""
    kernels = np.asarray(kernels, dtype=np.float32)
    fig, axes = plt.subplots(len(kernels), 1, figsize=(8, 1.6 * len(kernels) + 0.6), squeeze=False,
                             sharex=True)
    for k, ax in enumerate(axes[:, 0]):
        draw_kernels(ax, kernels[k : k + 1], bins_per_octave)
        ax.set_title(f"channel {k}", fontsize=9)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.tight_layout()
    return fig


def channel_histograms(activity: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> plt.Figure:
    """Per channel, histograms of clip activity by class (the write-up's Figure 2).

    ``activity`` [N, K]: each clip's share of salience per channel (rows sum to 1); ``labels``
    [N] class ids indexing ``names``.
    """
    activity, labels = np.asarray(activity, dtype=np.float64), np.asarray(labels)
    n_channels = activity.shape[1]
    fig, axes = plt.subplots(1, n_channels, figsize=(3.2 * n_channels, 3.0), squeeze=False, sharey=True)
    bins = np.linspace(0.0, 1.0, 21)
    for k, ax in enumerate(axes[0]):
        for c in np.unique(labels):
            ax.hist(activity[labels == c, k], bins=bins, histtype="step", lw=1.2,
                    label=names[int(c)] if int(c) < len(names) else str(c), density=True)
        ax.set_title(f"channel {k}", fontsize=9)
        ax.set_xlabel("share of the clip's salience", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, -1].legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return fig


def dual_curves_figure(steps: np.ndarray, lam: np.ndarray, loss1: np.ndarray, threshold: float | None) -> plt.Figure:
    """lambda and the entropy gap loss1 over training steps, the threshold dashed."""
    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 4.4), sharex=True)
    a.plot(steps, lam, lw=1.0)
    a.set_ylabel("lambda", fontsize=8)
    b.plot(steps, loss1, lw=1.0, color="C1", label="loss1 (entropy gap)")
    if threshold is not None:
        b.axhline(threshold, ls="--", color="0.4", lw=0.8, label="threshold")
    b.set_ylabel("loss1", fontsize=8)
    b.set_xlabel("optimizer step", fontsize=8)
    b.legend(fontsize=7)
    for ax in (a, b):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 100) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def reconstruction_figure(target: np.ndarray, reconstruction: np.ndarray, frame_rate: float,
                          title: str = "") -> plt.Figure:
    """Input, reconstruction (same colour scale) and their absolute error, first channel each.

    The error panel has its own scale and colour bar, with the clip's mean absolute error (the
    L1 that autoencoders are scored by) in its title.
    """
    x = target[0] if target.ndim == 3 else target
    y = reconstruction[0] if reconstruction.ndim == 3 else reconstruction
    lo, hi = float(np.min(x)), float(np.max(x))
    fig, axes = plt.subplots(3, 1, figsize=(8, 7.5), sharex=True)
    extent = (0, x.shape[-1] / frame_rate, 0, x.shape[0])
    panels = [(x, "input", "viridis", (lo, hi)), (y, "reconstruction", "viridis", (lo, hi)),
              (np.abs(y - x), f"|error| (mean {np.mean(np.abs(y - x)):.3f})", "magma", (0.0, None))]
    for ax, (image, name, cmap, (vmin, vmax)) in zip(axes, panels):
        im = ax.imshow(image, origin="lower", aspect="auto", cmap=cmap, extent=extent,
                       interpolation="nearest", vmin=vmin, vmax=vmax)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("bin", fontsize=8)
        ax.tick_params(labelsize=7)
        fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    axes[-1].set_xlabel("time (s)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
