"""Figure 5 of the seed, generalised: metric against each hyperparameter, with the fit.

One panel per hyperparameter: the runs as points, the fitted curve, its confidence band, the
fitted optimum (with its interval when the fit gives one) and the best observed run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavespace.analyze.fit import Fit, Optimum


@dataclass
class Panel:
    x_name: str
    y_name: str
    x: np.ndarray
    y: np.ndarray
    fit: Fit | None
    optimum: Optimum | None
    note: str = ""


def draw(panels: list[Panel], path: str | Path, title: str = "") -> Path:
    """Write all panels side by side to a PNG. A bare Figure (no pyplot): no display needed, and
    the caller's backend (a notebook's inline plots) is left as it was."""
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(4.8 * len(panels), 3.8))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        ax.scatter(panel.x, panel.y, s=18, color="0.3", zorder=3, label="runs")
        log_x = panel.fit.log_x if panel.fit else bool(np.all(panel.x > 0))
        if panel.fit is not None:
            lo, hi = panel.fit.t_range
            grid = panel.fit.x_of(np.linspace(lo, hi, 200))
            mean, low, high = panel.fit.predict(grid)
            ax.plot(grid, mean, color="C0", label=f"{panel.fit.family} fit")
            ax.fill_between(grid, low, high, color="C0", alpha=0.2,
                            label=f"{int(panel.fit.level * 100)}% band")
        if panel.optimum is not None:
            opt = panel.optimum
            ax.axvline(opt.x, color="C3", ls="--", lw=1,
                       label=f"optimum {opt.x:.3g}" + ("" if opt.interior else " (edge)"))
            if opt.x_low is not None and opt.x_high is not None:
                ax.axvspan(opt.x_low, opt.x_high, color="C3", alpha=0.08)
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(panel.x_name)
        ax.set_ylabel(panel.y_name)
        ax.set_title(panel.note or panel.x_name, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
