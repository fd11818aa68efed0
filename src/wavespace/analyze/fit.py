"""Least-squares fits of a metric against one hyperparameter, with a confidence band.

Default family: quadratic in log10(x). Learning-rate (and weight-decay) curves are roughly
parabolic on a log axis near their optimum, so the vertex of the fitted parabola is a less
noisy estimate of the best value than the best single run, and its delta-method interval
says how well the sweep pins it down. Other families: ``quadratic`` (linear x), ``linear``,
``linear_log``, ``cubic_log``. Bands are pointwise confidence intervals of the mean curve
(Student t with n - p degrees of freedom).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: family -> (polynomial degree, fit in log10(x))
FAMILIES: dict[str, tuple[int, bool]] = {
    "quadratic_log": (2, True),
    "quadratic": (2, False),
    "linear_log": (1, True),
    "linear": (1, False),
    "cubic_log": (3, True),
}


@dataclass
class Optimum:
    """Best x of the fitted curve within the data range (``interior``: a true extremum)."""

    x: float
    y: float
    interior: bool
    x_low: float | None = None
    x_high: float | None = None


@dataclass
class Fit:
    family: str
    degree: int
    log_x: bool
    coef: np.ndarray  # increasing powers of t (t = log10 x or x)
    cov: np.ndarray | None
    dof: int
    r2: float
    level: float
    t_range: tuple[float, float]
    n: int

    def t(self, x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.log10(x) if self.log_x else x

    def x_of(self, t: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        return 10.0**t if self.log_x else t

    def _design(self, t: np.ndarray) -> np.ndarray:
        return np.vander(np.atleast_1d(t), self.degree + 1, increasing=True)

    def predict(self, x: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean curve and its confidence band (band = mean when there is no residual dof)."""
        design = self._design(self.t(x))
        mean = design @ self.coef
        if self.cov is None:
            return mean, mean, mean
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, self.cov, design))
        half = _t_quantile(self.level, self.dof) * se
        return mean, mean - half, mean + half

    def optimum(self, mode: str = "min") -> Optimum:
        """Vertex of the fitted curve if it is an interior extremum, else the best end."""
        lo, hi = self.t_range
        sign = 1.0 if mode == "min" else -1.0
        if self.degree == 2 and self.coef[2] * sign > 0:
            b, c = self.coef[1], self.coef[2]
            t_star = -b / (2 * c)
            if lo <= t_star <= hi:
                y_star = float((self._design(np.array([t_star])) @ self.coef)[0])
                x_low = x_high = None
                if self.cov is not None:
                    grad = np.array([0.0, -1 / (2 * c), b / (2 * c**2)])
                    se = float(np.sqrt(grad @ self.cov @ grad))
                    half = _t_quantile(self.level, self.dof) * se
                    x_low, x_high = float(self.x_of(t_star - half)), float(self.x_of(t_star + half))
                return Optimum(float(self.x_of(t_star)), y_star, True, x_low, x_high)
        grid = np.linspace(lo, hi, 2001)
        values = self._design(grid) @ self.coef
        i = int(np.argmin(sign * values))
        interior = 0 < i < len(grid) - 1 and self.degree != 2
        return Optimum(float(self.x_of(grid[i])), float(values[i]), interior)


def _t_quantile(level: float, dof: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, dof))


def fit_curve(x: np.ndarray, y: np.ndarray, family: str = "quadratic_log",
              level: float = 0.95) -> Fit:
    """Fit ``y`` against ``x`` with a polynomial family; needs more points than coefficients
    for a band (exactly as many gives the curve without a band)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown fit family {family!r}; choose from {sorted(FAMILIES)}")
    degree, log_x = FAMILIES[family]
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if log_x:
        keep &= x > 0
    x, y = x[keep], y[keep]
    t = np.log10(x) if log_x else x
    if len(np.unique(t)) < degree + 1:
        raise ValueError(f"{family} needs at least {degree + 1} distinct x values, got "
                         f"{len(np.unique(t))}")
    design = np.vander(t, degree + 1, increasing=True)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    dof = len(y) - (degree + 1)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    cov = None
    if dof > 0:
        sigma2 = float(resid @ resid) / dof
        cov = sigma2 * np.linalg.pinv(design.T @ design)
    return Fit(family, degree, log_x, coef, cov, dof, r2, level, (float(t.min()), float(t.max())),
               len(y))
