"""Run identity and bookkeeping: the config hash, the run directory and what is written there."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

HASH_LENGTH = 10


def to_plain(cfg: DictConfig) -> dict[str, Any]:
    """Resolved config as plain containers, without Hydra's own node."""
    if "hydra" in cfg:  # composed with return_hydra_config: its sweep keys only resolve in a job
        cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert isinstance(data, dict)
    return data


def _drop(node: Any, parts: list[str]) -> None:
    """Remove a dotted key; a ``*`` part matches every key at that level (``data.*.root``)."""
    if not isinstance(node, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    keys = list(node) if head == "*" else [head] if head in node else []
    for key in keys:
        if rest:
            _drop(node[key], rest)
        else:
            node.pop(key, None)


def config_hash(plain: dict[str, Any], ignore: list[str]) -> str:
    """Hash of everything that changes a run's results (the ignore list names what does not)."""
    data = json.loads(json.dumps(plain, default=str))
    for key in [*ignore, "run_id", "run_dir"]:
        _drop(data, key.split("."))
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha1(blob).hexdigest()[:HASH_LENGTH]


@dataclass
class RunInfo:
    run_id: str
    run_dir: Path
    config: dict[str, Any]

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def last_checkpoint(self) -> Path | None:
        path = self.checkpoint_dir / "last.ckpt"
        return path if path.is_file() else None


def prepare_run(cfg: DictConfig) -> RunInfo:
    """Give the config its run id and directory, and write the resolved config there.

    The id is computed with ``run_id``/``run_dir`` unset, then both are set on ``cfg`` so that
    loggers and callbacks can interpolate ``${run_dir}``.
    """
    with open_dict(cfg):
        cfg.run_id = None
        cfg.run_dir = None
    plain = to_plain(cfg)
    run_id = config_hash(plain, list(cfg.get("run_hash_ignore") or []))
    run_dir = Path(cfg.paths.runs_dir).expanduser().resolve() / f"{cfg.name}-{run_id}"
    with open_dict(cfg):
        cfg.run_id = run_id
        cfg.run_dir = str(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    plain = to_plain(cfg)
    from wavespace.provenance import provenance

    # The code and library versions sit beside the config (not in it: they do not change the hash).
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create({**plain, "provenance": provenance()})))
    return RunInfo(run_id, run_dir, plain)


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    """Write JSON atomically (a killed process never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)
    return path
