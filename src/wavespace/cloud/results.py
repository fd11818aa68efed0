"""Where a finished job's outcome comes back from, for the launcher's blocking mode.

A pod cannot hand anything back to the launcher directly, so results travel through storage
both sides can read:

- ``DirResults`` (channel ``dir``): the entrypoint runs the job with
  ``hydra.run.dir=<results_dir>/<sweep_id>/<job_num>``, so the trainer's ``result.json`` lands
  there, and writes ``pod_status.json`` beside it when the child exits. On Runpod that
  directory is on the network volume; the launcher reads it through a local view of the
  same volume (a mount, or the same path when launching from a pod; tests use one local
  directory for both).
- ``WandbResults`` (channel ``wandb``): the job's run carries the tag ``wsjob-<sweep>-<num>``;
  the launcher asks ``wandb.Api()`` for it and reads its state and summary.

Either way the outcome is a :class:`JobResult`; ``None`` means "not finished yet".
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from wavespace.cloud.payload import JobPayload

log = logging.getLogger(__name__)


@dataclass
class JobResult:
    """Outcome of one job as reported by the job itself."""

    status: str  # "COMPLETED" or "FAILED"
    metric: float | None = None
    reason: str | None = None
    result: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ResultChannel(Protocol):
    """Anything that can tell whether a job has finished, and how."""

    def fetch(self, payload: JobPayload) -> JobResult | None: ...


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or None if it is absent or still being written."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def metric_from_result(result: dict[str, Any], default_metric: str | None) -> float | None:
    """The sweep metric of a trainer ``result.json`` (None when absent or not finite)."""
    name = result.get("optimized_metric") or default_metric
    value = (result.get("metrics") or {}).get(name) if name else None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class DirResults:
    """Results read from ``<local_dir>/<sweep_id>/<job_num>/`` (shared volume view)."""

    def __init__(self, local_dir: str | Path, optimized_metric: str | None = None) -> None:
        self.local_dir = Path(local_dir)
        self.optimized_metric = optimized_metric

    def job_dir(self, payload: JobPayload) -> Path:
        return self.local_dir / payload.sweep_id / str(payload.job_num)

    def fetch(self, payload: JobPayload) -> JobResult | None:
        job_dir = self.job_dir(payload)
        pod_status = _read_json(job_dir / "pod_status.json")
        if pod_status is None:
            return None
        result = _read_json(job_dir / "result.json")
        status = "COMPLETED"
        reason = pod_status.get("reason")
        if pod_status.get("status") != "COMPLETED":
            status = "FAILED"
        elif result is None:
            status, reason = "FAILED", "job exited 0 but wrote no result.json"
        elif result.get("status", "COMPLETED") != "COMPLETED":
            status, reason = "FAILED", f"result.json status {result.get('status')}"
        metric = metric_from_result(result, self.optimized_metric) if result else None
        return JobResult(status=status, metric=metric, reason=reason, result=result,
                         extra={"pod_status": pod_status})


class WandbResults:
    """Results read from the job's W&B run (found by its job tag) through ``wandb.Api()``."""

    FINAL_STATES = {"finished": "COMPLETED", "failed": "FAILED", "crashed": "FAILED",
                    "killed": "FAILED"}

    def __init__(self, project_path: str, optimized_metric: str | None = None,
                 api: Any = None) -> None:
        self.project_path = project_path
        self.optimized_metric = optimized_metric
        self._api = api

    @property
    def api(self) -> Any:
        if self._api is None:
            import wandb

            self._api = wandb.Api(timeout=30)
        return self._api

    def fetch(self, payload: JobPayload) -> JobResult | None:
        try:
            runs = list(self.api.runs(self.project_path, filters={"tags": payload.job_tag}))
        except Exception as e:  # network hiccups must not end a sweep: poll again later
            log.warning("W&B query for %s failed: %s", payload.job_id, type(e).__name__)
            return None
        for run in runs:
            status = self.FINAL_STATES.get(str(run.state))
            if status is None:
                continue
            summary = dict(run.summary)
            metric = metric_from_result({"metrics": summary}, self.optimized_metric)
            result = {"run_id": run.id, "status": status, "metrics": summary,
                      "optimized_metric": self.optimized_metric, "config": dict(run.config),
                      "overrides": payload.overrides, "source": f"wandb:{run.path}"}
            return JobResult(status=status, metric=metric,
                             reason=None if status == "COMPLETED" else f"W&B state {run.state}",
                             result=result)
        return None
