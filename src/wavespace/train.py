"""Training entry point: ``python -m wavespace.train [group=option ...] [key=value ...]``.

``train(cfg)`` does the work and can be called from notebooks and tests with a composed
config; ``main`` is the thin Hydra wrapper that turns errors into one readable paragraph,
records the job's result for sweeps, and returns the sweep metric to Hydra sweepers (None for a
failed job or a missing/non-finite metric: a failed trial for Optuna).

In a sweep (``--multirun``) a failed job does not end the sweep: its ``result.json`` says why,
the other jobs run, and the sweep exits non-zero at the end with a table of every job
(``wavespace.run.SweepReport``).
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from wavespace.config import config_dir
from wavespace.errors import ConfigError, find_wavespace_error, reported_errors
from wavespace.tuning import find_lr, metric_and_mode, register_resolvers

log = logging.getLogger("wavespace.train")
# ${ws.sweep_direction:...} in conf/hparams_search/: resolved when Hydra builds the sweeper.
register_resolvers()


def instantiate_collection(node: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a dict-of-configs node (callbacks, loggers)."""
    from hydra.utils import instantiate

    if not node:
        return []
    objs = [instantiate(sub) for sub in node.values() if isinstance(sub, DictConfig) and "_target_" in sub]
    return [o for o in objs if o is not None]


def _route_lightning_logs_to_root() -> None:
    """Lightning installs its own stderr handlers at import; under Hydra (which configures the
    root logger and a log file) that prints every line twice. Send them through the root instead."""
    if not logging.getLogger().handlers:
        return
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def _checkpoint_progress(path: Path) -> tuple[int, int]:
    """(epoch, global step) stored in a Lightning checkpoint."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return int(ckpt.get("epoch", -1)), int(ckpt.get("global_step", -1))


def _warn_if_code_changed(path: Path) -> None:
    """Resuming with other code than the checkpoint's is allowed, but never silently."""
    import torch

    from wavespace.provenance import version_change

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    warning = version_change(ckpt.get("wavespace", {}).get("provenance"))
    if warning:
        log.warning(warning)


def _progress(trainer: Any, last_checkpoint: Path | None) -> tuple[int, int]:
    """Epochs completed and optimizer steps taken.

    Under ddp_spawn the fit runs in child processes and the parent's trainer keeps step 0;
    the last checkpoint (written at the end of the final epoch) is then the record.
    """
    if trainer.global_step == 0 and last_checkpoint is not None:
        epoch, step = _checkpoint_progress(last_checkpoint)
        return epoch + 1, step
    return trainer.current_epoch, trainer.global_step


def resolve_metric(cfg: DictConfig) -> tuple[str, str]:
    """Fill ``optimized_metric`` / ``optimized_mode`` left null with what the task declares.

    Each task logs its own metrics (an autoencoder has no frame F1), so the metric that picks the
    best checkpoint and that sweeps optimize is the task's unless the user names another
    (``wavespace.tuning.metric_and_mode``; Optuna's direction follows the same rule).
    """
    from omegaconf import open_dict

    metric, mode = metric_and_mode(cfg.model._target_, cfg.get("optimized_metric"), cfg.get("optimized_mode"))
    with open_dict(cfg):
        cfg.optimized_metric, cfg.optimized_mode = metric, mode
    return metric, mode


def _check_search_is_a_multirun() -> None:
    """``hparams_search=...`` without ``-m`` would train once with the default values and look
    like a search: say so instead."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        return
    search = hydra_cfg.runtime.choices.get("hparams_search")
    if search and hydra_cfg.mode != RunMode.MULTIRUN:
        raise ConfigError(f"hparams_search={search} configures a sweeper, which only runs in a multirun: add "
                          f"-m (python -m wavespace.train -m hparams_search={search} ...).")


def check_config(cfg: DictConfig) -> None:
    """Config mistakes that would otherwise end in a traceback mid-run, caught before the run
    directory is written (each a one-paragraph ConfigError)."""
    from wavespace.tasks.schedules import check_span, no_time_budget_error, unbounded_schedule_error

    _check_search_is_a_multirun()
    for key in ("batch_size", "eval_batch_size"):
        value = (cfg.get("data") or {}).get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"data.{key}={value}: a batch must hold at least one example. Set "
                              f"data.{key} to a positive whole number (16 is the default for training).")
    trainer = cfg.get("trainer") or {}
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    scheduler = (cfg.get("model") or {}).get("scheduler")
    span = check_span(scheduler.get("span", "steps")) if scheduler is not None else None
    if span == "time" and trainer.get("max_time") is None:
        raise no_time_budget_error()
    if max_epochs == -1 and max_steps in (-1, None) and span == "steps":
        raise unbounded_schedule_error(scheduler.get("_target_", scheduler))


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Build everything from ``cfg``, fit (resuming if the run exists), test; return metrics."""
    import lightning as L
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks import ModelCheckpoint

    from wavespace.callbacks import (
        ConfigInCheckpoint,
        FiniteCheckpointIO,
        NonFiniteLossGuard,
        ResumeState,
    )
    from wavespace.features.fit_callback import FitNormalization
    from wavespace.files import write_json
    from wavespace.loading import build_model
    from wavespace.run import prepare_run

    _route_lightning_logs_to_root()
    resolve_metric(cfg)
    check_config(cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    # The model is built before the run directory exists: a net that cannot be built for this
    # front-end (a UNet deeper than the bins allow, ...) stops with nothing written.
    model = build_model(cfg)
    run = prepare_run(cfg)
    log.info("Run %s in %s", run.run_id, run.run_dir)

    try:  # datasets check their files here and write their bad-file report into the run
        datamodule = instantiate(cfg.data)
    except BaseException:
        if run.created:  # a missing dataset leaves no half-made run behind
            shutil.rmtree(run.run_dir, ignore_errors=True)
        raise
    callbacks = instantiate_collection(cfg.get("callbacks"))
    callbacks += [
        ConfigInCheckpoint(run.config, run.run_id),
        NonFiniteLossGuard(run.checkpoint_dir, check=cfg.get("nonfinite_check") or "auto"),
        ResumeState(),  # with the datamodule's state: a resumed run continues exactly
        FitNormalization(),  # no-op unless a front-end has normalize: per_bin
    ]
    loggers = instantiate_collection(cfg.get("logger"))
    for logger in loggers:
        logger.log_hyperparams(run.config)
    # Every checkpoint is written through FiniteCheckpointIO: none can hold a NaN.
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[FiniteCheckpointIO()])
    # The datamodule's state_dict makes mid-epoch resumes exact (wavespace.data.sampling);
    # Lightning only knows stateful DataLoaders and would warn that this one is not.
    warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")

    ckpt_path = str(run.last_checkpoint) if cfg.get("resume", True) and run.last_checkpoint else None
    if ckpt_path:
        epoch, step = _checkpoint_progress(Path(ckpt_path))
        log.info("Resuming from %s (epoch %d, global step %d)", ckpt_path, epoch, step)
        _warn_if_code_changed(Path(ckpt_path))

    started = time.time()
    metrics: dict[str, float] = {}
    lr_record = None
    if cfg.get("train", True):
        def tuning_trainer() -> Any:  # the lr finder's own: the run's trainer starts its fit untouched
            return instantiate(cfg.trainer, callbacks=[], logger=False, enable_checkpointing=False)

        lr_record = find_lr(cfg.get("tuner"), tuning_trainer, model, datamodule, run.run_dir,
                            resuming=bool(ckpt_path), loggers=loggers)
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    # A run that had already finished trains no further step, so Lightning logs no validation:
    # keep what it measured then (a sweep re-running a finished job still gets its value).
    for key, value in _previous_metrics(run.run_dir).items():
        metrics.setdefault(key, value)
    best = next((c.best_model_path for c in callbacks if isinstance(c, ModelCheckpoint) and c.best_model_path), "")
    if cfg.get("test", True):
        results = trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
        for res in results:
            metrics.update({k: float(v) for k, v in res.items()})
    epochs, steps = _progress(trainer, run.last_checkpoint)
    summary = {
        "run_id": run.run_id,
        "run_dir": str(run.run_dir),
        "metrics": metrics,
        "best_checkpoint": best,
        "last_checkpoint": str(run.last_checkpoint or ""),
        "epochs_completed": epochs,
        "global_step": steps,
        "seconds": round(time.time() - started, 2),
    }
    if lr_record is not None:
        summary["lr_find"] = lr_record
    write_json(run.run_dir / "metrics.json", summary)
    return metrics, {"trainer": trainer, "model": model, "datamodule": datamodule, "run": run, "summary": summary}


def _previous_metrics(run_dir: Path) -> dict[str, float]:
    """The val/train metrics an earlier call of this run wrote to metrics.json (empty if none)."""
    import json

    try:
        stored = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return {}
    return {k: float(v) for k, v in stored.items() if not k.startswith("test/")}


def format_summary(summary: dict[str, Any], optimized_metric: str) -> str:
    """The short table a user reads at the end of a run: every epoch-level val/test metric the
    task logged (whatever the task), the sweep metric marked."""
    metrics = summary["metrics"]
    keys = [k for k in sorted(metrics) if k.startswith(("val/", "test/")) and not k.endswith("_step")]
    width = max([len(k) for k in keys] + [len(optimized_metric)])
    lines = ["", "Results".ljust(width) + "   value", "-" * (width + 10)]
    lines += [f"{k.ljust(width)}   {metrics[k]:.4f}" + ("  <- sweep metric" if k == optimized_metric else "") for k in keys]
    run_dir = Path(summary["run_dir"])
    lines += [
        "",
        f"run directory    {run_dir}",
        f"best checkpoint  {summary['best_checkpoint'] or '(none)'}",
        f"last checkpoint  {summary['last_checkpoint'] or '(none)'}",
        f"resolved config  {run_dir / 'config.yaml'}",
        f"figures          {run_dir / 'figures'}",
        f"metrics          {run_dir / 'metrics.json'}",
        "",
    ]
    return "\n".join(lines)


def _job_output_dir() -> Path | None:
    from hydra.core.hydra_config import HydraConfig

    try:
        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return None


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def _record_result(cfg: DictConfig, result: dict[str, Any], exit_code: int) -> None:
    """End W&B and write the job's ``result.json`` (what sweeps and the cloud launcher read)."""
    from wavespace.files import to_plain, write_json
    from wavespace.loggers import finish_wandb

    finish_wandb(exit_code)
    result.update(run_id=cfg.get("run_id"), run_dir=cfg.get("run_dir"))
    if cfg.get("run_dir"):
        result["config"] = to_plain(cfg)
    out_dir = _job_output_dir()
    if out_dir is not None:
        from hydra.core.hydra_config import HydraConfig

        result["overrides"] = list(HydraConfig.get().overrides.task)
        write_json(out_dir / "result.json", result)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def main(cfg: DictConfig) -> float | None:
    result: dict[str, Any] = {"status": "FAILED", "optimized_metric": cfg.get("optimized_metric")}
    try:
        metrics, objects = train(cfg)
    except BaseException as exc:
        err = find_wavespace_error(exc) if isinstance(exc, Exception) else None
        result["error"] = f"{type(err or exc).__name__}: {err or exc}"
        _record_result(cfg, result, 1)
        if not isinstance(exc, Exception) or not _in_multirun():
            with reported_errors():  # one paragraph and exit status 1, or the bug's traceback
                raise
        # A sweep goes on. Hydra's sweepers stop at the first job that raises (and SystemExit
        # would skip even the jobs of the same batch), so the job returns None, which Optuna's
        # sweeper records as a failed trial (NaN would crash it: hydra-optuna-sweeper 1.3 then
        # tells the failed trial a value); result.json says FAILED and SweepReport fails the sweep.
        if err is not None:
            print(f"\nwavespace: error: {err}\n(this sweep job failed; the sweep goes on)\n", file=sys.stderr)
        else:
            log.exception("This sweep job failed with an unexpected error; the sweep goes on")
        return None
    result.update(objects["summary"], status="COMPLETED", optimized_metric=cfg.get("optimized_metric"))
    _record_result(cfg, result, 0)
    print(format_summary(objects["summary"], cfg.optimized_metric))
    value = metrics.get(cfg.optimized_metric)
    # A missing or non-finite metric is no result for a sweeper: None (a failed trial), not NaN.
    return float(value) if value is not None and math.isfinite(value) else None


if __name__ == "__main__":
    main()
