"""How much class information a representation holds: a linear probe and a cluster score.

A logistic regression (scikit-learn, features standardized on the probe's training data) is fitted
on the train+validation clips and scored on the test clips: accuracy, macro accuracy (the mean of
the per-class accuracies, i.e. balanced accuracy, the figure Medley-solos-DB papers report) and
the accuracy of each class. The silhouette score (on the same standardized features, Euclidean)
says whether the classes also form separate clusters, which is what a PCA scatter shows by eye.
Nothing here knows about audio: inputs are [n, dims] arrays and integer labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

SILHOUETTE_SAMPLES = 2000  # silhouette is O(n^2): a fixed random subset beyond this


@dataclass
class ProbeResult:
    name: str
    dims: int
    accuracy: float
    macro_accuracy: float
    per_class: dict[str, float]
    silhouette: float
    chance: float
    n_train: int
    n_test: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def linear_probe(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 y_test: np.ndarray, classes: Sequence[str], seed: int = 0,
                 max_iter: int = 2000) -> ProbeResult:
    """Fit on (x_train, y_train), score on (x_test, y_test); see the module docstring."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    x_train = np.asarray(x_train, np.float64).reshape(len(x_train), -1)
    x_test = np.asarray(x_test, np.float64).reshape(len(x_test), -1)
    y_train, y_test = np.asarray(y_train, np.int64), np.asarray(y_test, np.int64)
    if len(np.unique(y_train)) < 2:
        raise ValueError(f"the probe needs at least two classes in its training data (got {np.unique(y_train)})")
    scaler = StandardScaler().fit(x_train)
    clf = LogisticRegression(max_iter=max_iter, random_state=seed)
    clf.fit(scaler.transform(x_train), y_train)
    z_test = scaler.transform(x_test)
    pred = clf.predict(z_test)
    per_class, present = {}, []
    for c, cname in enumerate(classes):
        mask = y_test == c
        if mask.any():
            per_class[cname] = float(np.mean(pred[mask] == c))
            present.append(per_class[cname])
        else:
            per_class[cname] = float("nan")
    sil = float("nan")
    if 2 <= len(np.unique(y_test)) < len(y_test):
        sil = float(silhouette_score(z_test, y_test, sample_size=min(len(y_test), SILHOUETTE_SAMPLES),
                                     random_state=seed))
    counts = np.bincount(y_train, minlength=len(classes))
    return ProbeResult(
        name=name, dims=int(x_train.shape[1]), accuracy=float(np.mean(pred == y_test)),
        macro_accuracy=float(np.mean(present)), per_class=per_class, silhouette=sil,
        chance=float(1.0 / max(1, np.count_nonzero(counts))), n_train=len(y_train), n_test=len(y_test),
    )


def verdict(results: Sequence[ProbeResult], subject: str) -> tuple[bool, list[str]]:
    """Does ``subject`` beat every other representation on macro accuracy? Lines that say so.

    A latent that does not beat its controls is the finding, so the lines name each control it
    fails to beat with both numbers, in capitals.
    """
    main = next(r for r in results if r.name == subject)
    lost = [r for r in results if r.name != subject and r.macro_accuracy >= main.macro_accuracy]
    if not lost:
        rest = ", ".join(f"{r.name} {r.macro_accuracy:.3f}" for r in results if r.name != subject)
        return True, [f"The {subject} beats every control on macro accuracy ({main.macro_accuracy:.3f} vs {rest})."]
    lines = [f"FINDING: the {subject} does NOT beat {len(lost)} of {len(results) - 1} control(s) on macro accuracy:"]
    lines += [f"  {r.name}: {r.macro_accuracy:.3f} >= {subject}: {main.macro_accuracy:.3f}" for r in lost]
    lines.append("  Its class information is no more linearly accessible than the control's; see probe.json.")
    return False, lines


def format_table(results: Sequence[ProbeResult], classes: Sequence[str]) -> str:
    """Summary rows (one per representation), then per-class accuracy columns."""
    r0 = results[0]
    head = (f"Linear probe: logistic regression on train+val ({r0.n_train} clips), scored on test "
            f"({r0.n_test} clips); chance {r0.chance:.3f}")
    width = max(len(r.name) for r in results) + 2
    lines = [head, "", f"{'representation'.ljust(width)}{'dims':>7}{'accuracy':>10}{'macro':>8}{'silhouette':>12}"]
    for r in results:
        lines.append(f"{r.name.ljust(width)}{r.dims:>7d}{r.accuracy:>10.3f}{r.macro_accuracy:>8.3f}{r.silhouette:>12.3f}")
    short = [c.split()[-1][:8] for c in classes]
    lines += ["", "per-class accuracy".ljust(width) + "".join(f"{s:>9}" for s in short)]
    for r in results:
        lines.append(r.name.ljust(width) + "".join(f"{r.per_class[c]:>9.2f}" for c in classes))
    return "\n".join(lines)
