"""The job description a pod receives: one base64-encoded JSON document in one env variable.

Why one encoded variable: the runpod SDK (1.12) splices env values into its GraphQL mutation
without escaping, so a quote in an override (``tags=["a b"]``) would break or inject into the
mutation. Base64 of JSON has no quotes, backslashes or newlines, and no pickles cross the
wire: the pod runs the ordinary CLI with plain-text overrides.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

#: Name of the environment variable that carries the payload.
ENV_VAR = "WAVESPACE_JOB"
VERSION = 1


def _quote(value: str) -> str:
    """Quote a list element for Hydra's override grammar unless it is a plain token."""
    if re.fullmatch(r"[\w.:/-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class JobPayload:
    """Everything a pod needs to run one job, and nothing secret.

    kind: ``train`` runs ``python -m <module> [--config-name=...] <overrides>``;
    ``agent`` runs ``wandb agent [--count N] <sweep>`` (W&B sweep workers).
    """

    sweep_id: str
    job_num: int
    kind: str = "train"
    module: str = "wavespace.train"
    config_name: str | None = None
    overrides: list[str] = field(default_factory=list)
    wandb_group: str | None = None
    tags: list[str] | None = None
    #: Directory (as seen inside the pod) under which ``<sweep_id>/<job_num>/`` holds the
    #: job's Hydra output dir (result.json) and the entrypoint's pod_status.json.
    results_dir: str | None = None
    max_runtime_s: float | None = None
    wandb_sweep: str | None = None
    agent_count: int | None = None
    version: int = VERSION

    @property
    def job_id(self) -> str:
        """Stable, human-readable id of the job within its sweep."""
        return f"{self.sweep_id}-{self.job_num}"

    @property
    def job_tag(self) -> str:
        """W&B tag that lets the launcher find this job's run among the group's runs."""
        return f"wsjob-{self.job_id}"

    def job_dir(self) -> str | None:
        """The job's output directory inside the pod, or None without a results dir."""
        if self.results_dir is None:
            return None
        return f"{self.results_dir.rstrip('/')}/{self.sweep_id}/{self.job_num}"

    def train_overrides(self) -> list[str]:
        """The job's overrides plus what the launcher adds (W&B group, job tag, run dir)."""
        out = list(self.overrides)
        if self.wandb_group:
            out.append(f"logger.wandb.group={self.wandb_group}")
        if self.tags is not None:
            out.append("tags=[" + ",".join(_quote(t) for t in self.tags) + "]")
        job_dir = self.job_dir()
        if job_dir is not None:
            out.append(f"hydra.run.dir={job_dir}")
        return out

    def encode(self) -> str:
        """URL-safe base64 of compact JSON: safe inside any GraphQL string literal."""
        raw = json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)
        return base64.urlsafe_b64encode(raw.encode()).decode()

    @classmethod
    def decode(cls, text: str) -> JobPayload:
        """Inverse of :meth:`encode`; rejects payloads from a newer, unknown format."""
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(text.encode()))
        if data.get("version", 0) > VERSION:
            raise ValueError(f"payload version {data['version']} is newer than {VERSION}")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
