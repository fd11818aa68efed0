"""The bad-file report: every file a dataset skipped or repaired, never silently.

Datasets add entries while they scan; at the end they write one JSON file and log one warning
line with the counts and the report's path, so a run with 3 broken files out of 20,000 says so
once instead of drowning the log.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wavespace.files import write_json

log = logging.getLogger("wavespace.data")


@dataclass
class Problem:
    path: str
    problem: str
    action: str  # "skipped" or "fixed"
    detail: str = ""


@dataclass
class BadFileReport:
    """Problems found in one dataset split."""

    dataset: str
    split: str
    problems: list[Problem] = field(default_factory=list)

    def skip(self, path: str | Path, problem: str, detail: str = "") -> None:
        self.problems.append(Problem(str(path), problem, "skipped", detail))

    def fix(self, path: str | Path, problem: str, detail: str = "") -> None:
        self.problems.append(Problem(str(path), problem, "fixed", detail))

    @property
    def n_skipped(self) -> int:
        return sum(p.action == "skipped" for p in self.problems)

    @property
    def n_fixed(self) -> int:
        return sum(p.action == "fixed" for p in self.problems)

    def skipped_paths(self) -> set[str]:
        return {p.path for p in self.problems if p.action == "skipped"}

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset, "split": self.split, "skipped": self.n_skipped,
            "fixed": self.n_fixed, "problems": [asdict(p) for p in self.problems],
        }

    def write(self, directory: str | Path) -> Path:
        """Write ``bad_files-<dataset>-<split>.json`` in ``directory``; log one line if non-empty."""
        path = write_json(Path(directory) / f"bad_files-{self.dataset}-{self.split}.json", self.to_dict())
        if self.problems:
            log.warning(
                "%s/%s: %d file(s) skipped, %d fixed (resampled, mixed to mono, ...); see %s",
                self.dataset, self.split, self.n_skipped, self.n_fixed, path,
            )
        return path
