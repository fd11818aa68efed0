"""What the notebooks under ``notebooks/`` share: find the run (or sweep) to show, else say which
command makes one and skip the rest; re-compose a run's config with Hydra's compose API.

A notebook opened before anything was trained must not end in an ``IndexError``: ``find_run``
prints the exact command that makes a suitable run and, inside IPython, turns the notebook's
remaining cells into one-line no-ops (an input transformer), so *Run All* ends cleanly with that
message on screen and no traceback. Running the cell that calls ``find_run`` again, once a run
exists, lifts the skip. Outside IPython (a notebook exported as a script) it exits with status 1.

Relative paths in a run's config (``./data``, ``./outputs``: the defaults) are relative to the
directory training ran in, usually the repository root while the notebook runs in
``notebooks/``: ``find_run`` moves the notebook there so datasets and outputs resolve as they
did for training.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from wavespace.errors import WavespaceError

RUN_ENV, SWEEP_ENV = "WAVESPACE_RUN", "WAVESPACE_SWEEP"
ENTRY_CALLS = ("find_run(", "find_sweep(")  # cells calling these always run
SKIPPED = "print('(skipped: nothing to show yet; see the message of the first cell)')\n"


class NotebookError(WavespaceError):
    """A run cannot be re-composed as asked."""


def output_dir() -> Path:
    """``$WAVESPACE_OUTPUT_DIR``, else ``./outputs`` or ``../outputs`` (notebooks run in notebooks/)."""
    env = os.environ.get("WAVESPACE_OUTPUT_DIR")
    if env:
        return Path(env).expanduser().resolve()
    for candidate in (Path("outputs"), Path("..") / "outputs"):
        if candidate.is_dir():
            return candidate.resolve()
    return Path("..", "outputs").resolve()


def _skip_rest(lines: list[str]) -> list[str]:
    return lines if any(call in line for line in lines for call in ENTRY_CALLS) else [SKIPPED]


def _ipython() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _skipping(on: bool) -> None:
    ip = _ipython()
    if ip is None:
        return
    hooks = ip.input_transformers_post
    while _skip_rest in hooks:
        hooks.remove(_skip_rest)
    if on:
        hooks.append(_skip_rest)


def stop(message: str) -> None:
    """Print ``message``; skip the notebook's remaining cells (IPython) or exit 1 (a script)."""
    print(message)
    if _ipython() is None:
        raise SystemExit(1)
    _skipping(True)


def run_config(run: str | Path) -> dict[str, Any]:
    """The resolved config a run wrote at its start (``config.yaml``), or {} if unreadable."""
    path = Path(run)
    path = path if path.is_dir() else path.parent.parent  # a .ckpt: <run>/checkpoints/x.ckpt
    try:
        data = yaml.safe_load((path / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def task_of(cfg: dict[str, Any]) -> str:
    """The task class name of a run config (``SupervisedSalience``, ``Autoencode``, ...)."""
    return str((cfg.get("model") or {}).get("_target_", "?")).rsplit(".", 1)[-1]


def dataset_of(cfg: dict[str, Any]) -> str:
    """The training dataset's class name (``SynthDataset``, ``SolosDataset``, ...)."""
    train = (cfg.get("data") or {}).get("train") or {}
    return str(train.get("_target_", "?") if isinstance(train, dict) else "?").rsplit(".", 1)[-1]


def _has_checkpoint(run: Path) -> bool:
    # Not wavespace.loading.resolve_checkpoint: that module imports torch, and finding no run
    # should print its message at once, before a notebook's heavy imports.
    return run.suffix == ".ckpt" if run.is_file() else any(run.glob("checkpoints/*.ckpt"))


def trained_from(cfg: dict[str, Any]) -> Path | None:
    """The directory training ran in, when the run's paths are relative to it (else None)."""
    paths, run_dir = cfg.get("paths") or {}, cfg.get("run_dir")
    runs_dir = Path(str(paths.get("runs_dir", "")))
    if not run_dir or not str(runs_dir) or runs_dir.is_absolute():
        return None
    base = Path(run_dir).parent  # = <training cwd> / runs_dir, resolved by wavespace.run
    for _ in Path(os.path.normpath(runs_dir)).parts:
        base = base.parent
    return base


def run_paths(cfg: dict[str, Any]) -> dict[str, str]:
    """The run's data, cache and output folders, relative ones made absolute from where it trained."""
    base, paths = trained_from(cfg), cfg.get("paths") or {}
    out = {}
    for key in ("data_dir", "cache_dir", "output_dir"):
        if key in paths:
            path = Path(str(paths[key])).expanduser()
            out[key] = str(base / path if base is not None and not path.is_absolute() else path)
    return out


def _enter(run: Path) -> None:
    where = trained_from(run_config(run))
    if where is not None and where.is_dir() and where.resolve() != Path.cwd().resolve():
        os.chdir(where)
        print(f"working directory: {where} (the run's relative paths start where it was trained)")


def find_run(task: str, command: str, what: str = "run", data: tuple[str, ...] = ()) -> Path | None:
    """``$WAVESPACE_RUN``, else the newest run of ``task`` (trained on one of the ``data``
    dataset classes, if given) with a checkpoint under the outputs.

    None (after printing ``command`` and skipping the rest of the notebook) when there is none.
    """
    _skipping(False)
    outputs = output_dir()
    env = os.environ.get(RUN_ENV)
    on = f" on {' or '.join(data)}" if data else ""
    if env:
        run = Path(env).expanduser().resolve()
        cfg = run_config(run)
        found, trained_on = task_of(cfg), dataset_of(cfg)
        if run.exists() and found == task and (not data or trained_on in data) and _has_checkpoint(run):
            _enter(run)
            return run
        why = (f"{RUN_ENV}={env} does not exist" if not run.exists() else
               f"{RUN_ENV}={env} is a run of {found}, and this notebook shows {task} runs" if found != task
               else f"{RUN_ENV}={env} was trained on {trained_on}, and this notebook needs a run{on}"
               if data and trained_on not in data else f"{RUN_ENV}={env} has no checkpoint yet")
    else:
        runs = [r for r in (outputs / "runs").glob("*") if r.is_dir() and _has_checkpoint(r)
                and task_of(cfg := run_config(r)) == task and (not data or dataset_of(cfg) in data)]
        if runs:
            run = max(runs, key=os.path.getmtime)
            _enter(run)
            return run
        why = f"No {what} ({task}{on}) with a checkpoint under {outputs / 'runs'}"
    stop(f"{why}. Make one from the repository root, then run this notebook again:\n\n"
         f"    {command}\n\nor set {RUN_ENV} to a run directory or .ckpt file. The remaining cells are skipped.")
    return None


def find_sweep(command: str) -> str | None:
    """``$WAVESPACE_SWEEP`` (a multirun folder or ``wandb:ENTITY/PROJECT/sweep/ID``), else the
    newest multirun folder under the outputs with a completed job; None (after printing
    ``command`` and skipping the rest) when there is none."""
    _skipping(False)
    env = os.environ.get(SWEEP_ENV)
    if env:
        if env.startswith("wandb:") or Path(env).is_dir():
            return env
        why = f"{SWEEP_ENV}={env} is neither a folder nor a wandb: source"
    else:
        outputs = output_dir()
        sweeps = [d for d in (outputs / "multirun").glob("*/*") if any(
            json.loads(p.read_text()).get("status") == "COMPLETED" for p in d.glob("*/result.json"))]
        if sweeps:
            return str(max(sweeps, key=os.path.getmtime))
        why = f"No multirun folder with a completed job under {outputs / 'multirun'}"
    stop(f"{why}. Make one from the repository root, then run this notebook again:\n\n"
         f"    {command}\n\nor set {SWEEP_ENV} to a multirun folder or wandb:ENTITY/PROJECT/sweep/ID. "
         f"The remaining cells are skipped.")
    return None


def job_overrides(run: str | Path) -> list[str]:
    """The command-line overrides the run was trained with, from its Hydra job record
    (``result.json`` under ``<outputs>/hydra`` or ``<outputs>/multirun``; newest wins)."""
    cfg = run_config(run)
    run_dir = str(cfg.get("run_dir") or Path(run).resolve())
    outputs = Path(run_paths(cfg).get("output_dir") or output_dir())
    records = [*outputs.glob("hydra/*/*/result.json"), *outputs.glob("multirun/*/*/*/result.json")]
    for path in sorted(records, key=os.path.getmtime, reverse=True):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if record.get("run_dir") == run_dir and isinstance(record.get("overrides"), list):
            return [str(o) for o in record["overrides"]]
    raise NotebookError(
        f"cannot re-compose {run_dir}: the overrides it was trained with are kept in Hydra's job "
        f"record (result.json under {outputs}/hydra or {outputs}/multirun), and none names this "
        f"run (was it trained in-process, or copied without its outputs folder?). Compose it by "
        f"hand with hydra.compose('train', overrides=[...]).")


def _quote(value: str) -> str:
    return value if re.fullmatch(r"[\w./~+:-]*", value) else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def overrides_for(run: str | Path, *overrides: str) -> list[str]:
    """The run's own overrides with ``overrides`` applied: an override of a key or group replaces
    the run's overrides of that key and of everything under it (``data=synth`` drops
    ``data.train.root=...``); Hydra's own settings (``hydra/launcher=...``) are left out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    new_keys = [o.key_or_group for o in parser.parse_overrides(list(overrides))]
    base = job_overrides(run)
    kept = [line for line, o in zip(base, parser.parse_overrides(base))
            if not o.key_or_group.startswith("hydra")
            and not any(o.key_or_group == k or o.key_or_group.startswith(k + ".") for k in new_keys)]
    return [*kept, *overrides]


def recompose(run: str | Path, *overrides: str) -> Any:
    """The run's config composed again from ``conf/`` with Hydra's compose API, with
    :func:`overrides_for` and the run's own data, cache and output folders (:func:`run_paths`),
    wherever the notebook runs. Returns a resolved
    DictConfig without the ``hydra`` node."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    from wavespace.config import config_dir

    lines = overrides_for(run, *overrides)
    lines += [f"paths.{k}={_quote(v)}" for k, v in run_paths(run_config(run)).items()
              if not any(line.startswith(f"paths.{k}=") for line in lines)]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=lines, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg["hydra"]
        OmegaConf.resolve(cfg)
    return cfg


def command(overrides: list[str], module: str = "wavespace.train") -> str:
    """The shell command line that passes ``overrides`` (quoted where the shell needs it)."""
    import shlex

    return " ".join(["python", "-m", module, *(shlex.quote(o) for o in overrides)])


def write_summary(path: str | Path, values: dict[str, Any]) -> Path:
    """A notebook's key results as JSON (what a test, or a later notebook, reads back)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2, default=float))
    print(f"summary written to {path}")
    return path
