"""Turn a sweep (local directory or W&B) into one record per run: config, final metrics, status.

Local layouts understood:
- a Hydra multirun directory (basic or Runpod launcher): ``<job>/result.json`` per job, with
  the config read from the run's resolved ``config.yaml`` (``result.json['run_dir']``) or the
  job's ``.hydra/config.yaml``;
- a runs directory: ``<name>-<hash>/metrics.json`` next to ``config.yaml``.
Runs are keyed by run id, so a directory holding the same run twice counts it once.

W&B (``wandb:`` sources) goes through ``wandb.Api()``: ``run.config`` (sweep parameters appear
there as flat dotted keys, logged hyperparameters as nested dicts) and ``run.summary``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class RunRecord:
    """One run of a sweep."""

    name: str
    config: dict[str, Any]
    metrics: dict[str, float]
    status: str = "COMPLETED"
    source: str = ""
    overrides: list[str] = field(default_factory=list)


_MISSING = object()


def _parse_value(text: str) -> Any:
    """An override's value as Hydra would type it (``1e-3`` is a float, unlike in YAML 1.1)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def lookup(record: RunRecord, key: str) -> Any:
    """A hyperparameter's value: flat dotted key (W&B sweeps), nested path, then overrides."""
    if key in record.config:
        return record.config[key]
    node: Any = record.config
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            node = _MISSING
            break
    if node is not _MISSING:
        return node
    for override in reversed(record.overrides):
        k, sep, v = override.lstrip("+~").partition("=")
        if sep and k == key:
            return _parse_value(v)
    return None


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, bool):
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[str(k)] = f
    return out


def _load_yaml(path: Path) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def collect_dir(root: Path) -> list[RunRecord]:
    """Records from a local multirun or runs directory."""
    records: dict[str, RunRecord] = {}
    for path in sorted(root.rglob("result.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        config = data.get("config")
        if not isinstance(config, dict):
            run_dir = data.get("run_dir")
            config = (_load_yaml(Path(run_dir) / "config.yaml") if run_dir else None) or \
                _load_yaml(path.parent / ".hydra" / "config.yaml") or {}
        key = str(data.get("run_id") or path.parent)
        records[key] = RunRecord(
            name=str(data.get("run_id") or path.parent.name), config=config,
            metrics=_numbers(data.get("metrics") or {}),
            status=str(data.get("status", "UNKNOWN")), source=str(path),
            overrides=[str(o) for o in data.get("overrides") or []])
    if not records:
        for path in sorted(root.rglob("metrics.json")):
            config = _load_yaml(path.parent / "config.yaml")
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if config is None:
                continue
            records[str(data.get("run_id") or path.parent)] = RunRecord(
                name=path.parent.name, config=config, metrics=_numbers(data.get("metrics") or {}),
                status="COMPLETED", source=str(path))
    return list(records.values())


def records_from_wandb(runs: Iterable[Any]) -> list[RunRecord]:
    """Records from ``wandb.apis.public.Run`` objects (anything with the same attributes)."""
    out = []
    for run in runs:
        state = str(getattr(run, "state", "")).lower()
        out.append(RunRecord(
            name=str(getattr(run, "name", None) or run.id), config=dict(run.config),
            metrics=_numbers(dict(run.summary)),
            status="COMPLETED" if state == "finished" else state.upper(),
            source="wandb:" + "/".join(getattr(run, "path", []) or [str(run.id)])))
    return out


def collect_wandb(spec: str, api: Any = None) -> list[RunRecord]:
    """``ENTITY/PROJECT/sweep/ID``, ``ENTITY/PROJECT/group/NAME`` or ``ENTITY/PROJECT/ID``."""
    parts = spec.strip("/").split("/")
    if api is None:
        import wandb

        api = wandb.Api(timeout=60)
    if len(parts) == 4 and parts[2] == "group":
        runs = api.runs(f"{parts[0]}/{parts[1]}", filters={"group": parts[3]})
    elif len(parts) == 4 and parts[2] in ("sweep", "sweeps"):
        runs = api.sweep(f"{parts[0]}/{parts[1]}/{parts[3]}").runs
    elif len(parts) == 3:
        runs = api.sweep(spec).runs
    else:
        raise ValueError(f"W&B source must be ENTITY/PROJECT/sweep/ID or ENTITY/PROJECT/group/NAME,"
                         f" not {spec!r}")
    return records_from_wandb(runs)


def collect(source: str) -> list[RunRecord]:
    """Records of every run in ``source`` (a directory, or ``wandb:...``)."""
    if source.startswith("wandb:"):
        return collect_wandb(source.removeprefix("wandb:"))
    root = Path(source).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"no such directory: {root}")
    return collect_dir(root)
