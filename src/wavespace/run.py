"""Run identity and bookkeeping: the config hash, the run directory and what is written there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from wavespace.files import digest, jsonable, to_plain, write_text

HASH_LENGTH = 10


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
    data = jsonable(plain)
    for key in [*ignore, "run_id", "run_dir"]:
        _drop(data, key.split("."))
    return digest(data, HASH_LENGTH)


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
    write_text(run_dir / "config.yaml",
               OmegaConf.to_yaml(OmegaConf.create({**plain, "provenance": provenance()})))
    return RunInfo(run_id, run_dir, plain)
