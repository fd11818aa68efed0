"""Hyperparameter search helpers: the sweep metric's direction, and Lightning's lr finder.

Two things the training entry point needs before ``fit`` and that sweepers need before the
first job:

* ``metric_and_mode``: the metric that picks the best checkpoint and that sweeps optimize is
  the task's own unless the user names another (an autoencoder has no frame F1). The same rule
  feeds the ``ws.sweep_direction`` resolver, so ``conf/hparams_search/optuna.yaml`` maximizes
  F1 for salience models and minimizes the loss for autoencoders without being told which.
* ``find_lr``: ``tuner.lr_find=true`` runs Lightning's learning-rate range test, keeps its
  plot and suggestion in the run directory, and trains with the suggestion. A resumed run
  reuses the recorded suggestion instead of testing again (the test would move the weights'
  starting point and the data order of a run that is already under way).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

log = logging.getLogger("wavespace.tuning")

#: The lr finder's record in the run directory (read back when the run resumes).
LR_FIND_FILE = "lr_find.json"
_MAXIMIZED = ("f1", "acc", "precision", "recall")


def metric_and_mode(target: str, metric: str | None = None, mode: str | None = None) -> tuple[str, str]:
    """(metric, "min" | "max") for a task class path and the user's optional choices.

    Naming a metric without a mode takes the task's mode for its own metric, else max for
    F1/accuracy/precision/recall and min for anything else.
    """
    from hydra.utils import get_class

    from wavespace.errors import ConfigError

    task = get_class(target)
    metric = metric or getattr(task, "metric", "val/loss")
    if not mode and metric == getattr(task, "metric", None):
        mode = getattr(task, "metric_mode", "min")
    if not mode:
        mode = "max" if any(k in metric for k in _MAXIMIZED) else "min"
    if mode not in ("min", "max"):
        raise ConfigError(f"optimized_mode must be 'min' or 'max', not '{mode}'.")
    return metric, mode


def sweep_direction(target: str, metric: str | None = None, mode: str | None = None) -> str:
    """``minimize`` or ``maximize``, as Optuna spells the direction of ``metric_and_mode``."""
    return {"min": "minimize", "max": "maximize"}[metric_and_mode(target, metric, mode)[1]]


def register_resolvers() -> None:
    """``${ws.sweep_direction:${model._target_},${optimized_metric},${optimized_mode}}``."""
    if not OmegaConf.has_resolver("ws.sweep_direction"):
        OmegaConf.register_new_resolver("ws.sweep_direction", sweep_direction)


# -- learning-rate finder ---------------------------------------------------------------------
def _set_lr(model: Any, lr: float) -> None:
    """Train with ``lr``: the task builds its optimizer from this factory when fit starts."""
    model.optimizer_factory = functools.partial(model.optimizer_factory, lr=lr)


def _configured_lr(model: Any) -> float | None:
    lr = getattr(model.optimizer_factory, "keywords", {}).get("lr")
    return None if lr is None else float(lr)


def _log_plot(loggers: list[Any], path: Path, suggestion: float | None) -> None:
    """The plot as a W&B image and the suggestion as a scalar, in every logger that takes them."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key="tuner/lr_find", images=[str(path)], step=0)
        if suggestion is not None:
            logger.log_metrics({"tuner/lr_suggestion": suggestion}, step=0)


def find_lr(tuner_cfg: Any, make_trainer: Callable[[], Any], model: Any, datamodule: Any,
            run_dir: Path, resuming: bool, loggers: list[Any]) -> dict[str, Any] | None:
    """Run the lr range test when ``tuner.lr_find`` is true; returns the record (or None).

    The test runs on a trainer of its own (``make_trainer``: the run's trainer config, no
    callbacks or loggers), so the run's trainer starts its fit untouched; Lightning restores the
    model's weights afterwards. The record (``lr_find.json`` in the run directory, and
    ``lr_find`` in ``metrics.json``) holds the configured lr, the suggestion, the lr trained
    with and the plot's path. With no suggestion (too few points: the test needs
    ``tuner.num_training`` optimizer steps within ``trainer.max_epochs`` x
    ``limit_train_batches``) the configured lr is kept and a warning says why. With
    ``features.normalize=per_bin`` the test runs before the statistics are fitted.
    """
    from wavespace.files import write_json

    if not tuner_cfg or not tuner_cfg.get("lr_find", False):
        return None
    record_path = Path(run_dir) / LR_FIND_FILE
    if resuming:
        if not record_path.is_file():
            log.warning("lr finder: resuming a run without %s; keeping the checkpoint's learning rate",
                        LR_FIND_FILE)
            return None
        import json

        record = json.loads(record_path.read_text())
        if record.get("lr") is not None:
            _set_lr(model, float(record["lr"]))
        log.info("lr finder: resuming with the recorded learning rate %s", record.get("lr"))
        return {**record, "resumed": True}

    from lightning.pytorch.tuner import Tuner

    from wavespace.figures import save_figure

    configured = _configured_lr(model)
    finder = Tuner(make_trainer()).lr_find(
        model, datamodule=datamodule, min_lr=float(tuner_cfg.get("min_lr", 1e-6)),
        max_lr=float(tuner_cfg.get("max_lr", 1.0)), num_training=int(tuner_cfg.get("num_training", 100)),
        early_stop_threshold=tuner_cfg.get("early_stop_threshold", 4.0), update_attr=False,
    )
    suggestion = finder.suggestion() if finder is not None else None
    points = len(finder.results.get("lr", [])) if finder is not None else 0
    figure = finder.plot(suggest=suggestion is not None) if points else None
    plot = save_figure(figure, Path(run_dir) / "figures" / "lr_find.png") if figure is not None else None
    if suggestion is None:
        log.warning("lr finder: no suggestion from %d point(s) (it needs tuner.num_training steps within "
                    "trainer.max_epochs x trainer.limit_train_batches); training with the configured "
                    "learning rate %s", points, configured)
    else:
        suggestion = float(suggestion)
        _set_lr(model, suggestion)
        log.info("lr finder: learning rate %.3g (configured %s); plot %s", suggestion, configured, plot)
    record = {"configured_lr": configured, "suggestion": suggestion,
              "lr": suggestion if suggestion is not None else configured, "points": points,
              "plot": str(plot) if plot else None}
    if plot is not None:
        _log_plot(loggers, plot, suggestion)
    write_json(record_path, record)
    return record
