"""Run identity and bookkeeping: the config hash, the run directory and what is written there,
and the end-of-sweep report built from every job's ``result.json``."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback as HydraCallback
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
    created: bool = False  # this call made the directory (nothing of an earlier run is in it)

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
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    plain = to_plain(cfg)
    from wavespace.provenance import provenance

    # The code and library versions sit beside the config (not in it: they do not change the hash).
    write_text(run_dir / "config.yaml",
               OmegaConf.to_yaml(OmegaConf.create({**plain, "provenance": provenance()})))
    return RunInfo(run_id, run_dir, plain, created)


# -- sweeps ---------------------------------------------------------------------------------
def sweep_results(sweep_dir: Path, since: float = 0.0) -> list[tuple[str, dict[str, Any] | None]]:
    """(job directory name, its result.json or None) for every job of a multirun directory.

    Jobs are the sub-directories Hydra (or the Runpod launcher) made for this multirun: those
    with a ``.hydra/`` record or a ``result.json`` changed since ``since`` (a fixed
    ``hydra.sweep.dir`` may hold older sweeps' jobs).
    """
    rows = []
    for job in sorted((p for p in Path(sweep_dir).iterdir() if p.is_dir()),
                      key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name)):
        marks = [m for m in (job / "result.json", job / ".hydra" / "overrides.yaml") if m.is_file()]
        if not marks or max(m.stat().st_mtime for m in marks) < since:
            continue
        try:
            result = json.loads((job / "result.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            result = None
        rows.append((job.name, result))
    return rows


def format_sweep_table(rows: list[tuple[str, dict[str, Any] | None]], width: int = 110) -> str:
    """One line per job: status, the sweep metric, its overrides, and why it failed (or where)."""
    table = [("job", "status", "metric", "overrides", "error / run directory")]
    for name, result in rows:
        result = result or {}
        status = result.get("status", "NO RESULT")
        metric_name = result.get("optimized_metric")
        value = (result.get("metrics") or {}).get(metric_name) if metric_name else None
        metric = f"{metric_name}={value:.4g}" if isinstance(value, (int, float)) else "-"
        overrides = " ".join(result.get("overrides") or [])
        detail = result.get("error") if status != "COMPLETED" else result.get("run_dir")
        detail = " ".join(str(detail or "-").split())
        table.append((name, status, metric, overrides, detail[:width] + ("..." if len(detail) > width else "")))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
                     for row in table)


class SweepReport(HydraCallback):
    """Hydra callback: at the end of a multirun, a table of every job; exit status 1 if any failed.

    A failed training job does not stop the sweep (it writes ``result.json`` with status FAILED
    and the reason, and returns None to the sweeper: ``wavespace.train.main``), so this is where
    the sweep as a whole reports failure. Registered in ``conf/hydra/default.yaml``.
    """

    def __init__(self) -> None:
        self.started = 0.0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time() - 1.0  # file times are coarse on some filesystems

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        rows = sweep_results(sweep_dir, self.started) if sweep_dir.is_dir() else []
        if not rows:
            return
        failed = [name for name, result in rows if (result or {}).get("status") == "FAILED"]
        print(f"\nSweep {sweep_dir}: {len(rows) - len(failed)} of {len(rows)} job(s) completed\n"
              + format_sweep_table(rows) + "\n", flush=True)
        if failed:
            print(f"wavespace: error: {len(failed)} of {len(rows)} sweep job(s) failed (job {', '.join(failed)}); "
                  f"each job's result.json in {sweep_dir} says why.", file=sys.stderr, flush=True)
            raise SystemExit(1)
