"""What every Wavespace task shares: one small LightningModule base that studies subclass.

A task is a front-end, a net and a training objective. The base owns everything that is the
same for all of them, so that a new study needs only a net (``wavespace.models``), a subclass
that says what is learned (``training_step`` / ``validation_step``) and a ``conf/model/*.yaml``:

* the net arrives as a ``_partial_`` and is completed here with the front-end's shape
  (``build_net``), so input sizes are never written twice;
* ``inputs(batch)``: cached features (feature cache) or features computed on the device;
* ``predict_audio``: waveform batch in, named output maps out (notebooks, transcription);
* optimizer + scheduler wiring from the config's factories;
* the figure hooks that :class:`wavespace.callbacks.PredictionFigures` calls: the task keeps a
  few validation examples and draws its own panel;
* the checkpoint/sweep metric and its mode, declared by the class (``metric``, ``metric_mode``):
  ``train.py``, the checkpoint callback and the end-of-run table use it unless the user sets
  ``optimized_metric``. A task that never logs ``val/frame_f1`` must not be judged by it.
* training scalars without a host sync per step (``log_train``): epoch means summed on the device
  and read once per epoch, step values logged only on the steps Lightning writes logs;
* provenance: ``run_config`` (the resolved run config) and ``checkpoint_path`` after
  :func:`wavespace.load`, set through :meth:`restore`, never from outside.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
from torch import nn

from wavespace.features.base import Frontend
from wavespace.models.build import build_net

FIGURE_EXAMPLES = 4


class Task(L.LightningModule):
    """Front-end -> net, plus the wiring every study needs (see the module docstring).

    Subclasses call ``super().__init__(net, features, optimizer, scheduler)``, then
    ``save_hyperparameters`` with plain values only (checkpoints load under
    ``torch.load(weights_only=True)``), and implement the Lightning steps.
    """

    #: Metric that picks the best checkpoint and that sweeps optimize, and its direction.
    metric: ClassVar[str] = "val/loss"
    metric_mode: ClassVar[str] = "min"

    run_config: dict[str, Any] | None
    checkpoint_path: str | None
    figure_batch: dict[str, torch.Tensor] | None

    def __init__(
        self,
        net: nn.Module | Callable[..., nn.Module],
        features: Frontend,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__()
        self.features = features
        self.net = build_net(net, features)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.run_config, self.checkpoint_path = None, None
        self.figure_batch = None
        # Running epoch sums of the training scalars (on the device) and the examples they cover.
        self._train_sums: dict[str, torch.Tensor] = {}
        self._train_count = 0
        self._train_step_names: tuple[str, ...] = ()
        self._train_step_suffix = "_step"

    # -- forward -----------------------------------------------------------------------------
    def inputs(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Features for a batch: precomputed (feature cache) or computed here on the device."""
        if "features" in batch:  # feature cache: raw front-end output, normalized here like forward()
            return self.features.normalize(batch["features"].float())
        with torch.no_grad():
            return self.features(batch["audio"])

    def forward(self, x: torch.Tensor) -> Any:
        # Features are float32; a net cast to 16 bits (precision=bf16-true, .half()) takes its own.
        dtype = next((p.dtype for p in self.net.parameters() if p.is_floating_point()), x.dtype)
        return self.net(x.to(dtype))

    def postprocess(self, out: Any) -> dict[str, torch.Tensor]:
        """Net output -> named maps a user reads (probabilities, reconstructions, ...)."""
        return dict(out) if isinstance(out, Mapping) else {"output": out}

    @torch.no_grad()
    def predict_audio(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named output maps for a waveform batch [B, T] (what transcription and notebooks use)."""
        return self.postprocess(self(self.features(audio.to(self.device))))

    # -- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params)
        if self.scheduler_factory is None:
            return optimizer
        from wavespace.tasks.schedules import (
            lightning_time_budget,
            scheduler_span,
            unbounded_schedule_error,
        )

        span = scheduler_span(self.scheduler_factory)
        extra = {"time_budget": lightning_time_budget(self.trainer)} if span == "time" else {}
        estimate = self.trainer.estimated_stepping_batches
        if not math.isfinite(estimate) and span != "time":  # max_epochs=-1: "all steps" has no length
            raise unbounded_schedule_error(getattr(self.scheduler_factory, "func", self.scheduler_factory))
        total = int(estimate) if math.isfinite(estimate) else None
        scheduler = self.scheduler_factory(optimizer, total_steps=total, **extra)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # -- training metrics --------------------------------------------------------------------
    def log_train(self, values: Mapping[str, torch.Tensor], batch_size: int, step: Sequence[str] = ("loss",),
                  step_suffix: str = "_step") -> None:
        """Log training scalars (``{"loss": ..., "loss_frame": ...}``) at no host sync per step.

        Each value is summed on the device, weighted by ``batch_size``, and logged once per epoch
        as its mean (``train/<name>``; the ``step`` names as ``train/<name>_epoch``, which is also
        on the progress bar). The ``step`` names are also logged as ``train/<name>_step``, but only
        on the steps Lightning writes logs (``trainer.log_every_n_steps``), and as a host copy:
        Lightning reads progress-bar values after every batch, and a read of a device value
        stalls an accelerator's queue; this way the host waits once per logging step, for all the
        ``step`` values together. ``step_suffix=""`` keeps the plain ``train/<name>`` key for the
        per-step values (a trajectory a task's analysis reads, like the harmonic model's lambda);
        their epoch means are then only ``train/<name>_epoch``. The first ``step`` name goes on
        the progress bar.
        """
        for name, value in values.items():
            value = value.detach().float() * batch_size
            total = self._train_sums.get(name)
            self._train_sums[name] = value if total is None else total.to(value.device) + value
        self._train_count += int(batch_size)
        self._train_step_names = tuple(step)
        self._train_step_suffix = step_suffix
        trainer = self._trainer
        if trainer is None or not step:  # a step called by hand (a notebook): nothing to log to
            return
        connector = getattr(trainer, "_logger_connector", None)
        if trainer.fast_dev_run or connector is None or connector.should_update_logs:
            stacked = torch.stack([values[name].detach().float().reshape(()) for name in step])
            host = stacked.to("cpu", copy=True)  # the one wait of a logging step
            for k, name in enumerate(step):
                self.log(f"train/{name}{step_suffix}", host[k], prog_bar=(k == 0), on_step=True, on_epoch=False,
                         batch_size=batch_size)

    def on_train_epoch_end(self) -> None:
        """The epoch means of what ``log_train`` gathered: one host read per epoch."""
        sums, count = self._train_sums, self._train_count
        self._train_sums, self._train_count = {}, 0
        if not count:
            return
        for name, total in sums.items():
            mean = total / count
            if name in self._train_step_names:
                first = name == self._train_step_names[0]
                self.log(f"train/{name}_epoch", mean, prog_bar=first, sync_dist=True)
                if self._train_step_suffix:  # else train/<name> is the per-step trajectory
                    self.log(f"train/{name}", mean, logger=False, sync_dist=True)  # as a monitor key
            else:
                self.log(f"train/{name}", mean, sync_dist=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A checkpoint written mid-epoch keeps the running sums: a resumed epoch averages them all."""
        trainer = self._trainer
        if trainer is None or not self._train_count or trainer.state.fn != "fit":
            return
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if 0 < done < trainer.num_training_batches:
            checkpoint["wavespace_train_sums"] = {"count": self._train_count,
                                                  "sums": {k: v.detach().cpu() for k, v in self._train_sums.items()}}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("wavespace_train_sums")
        self._train_sums = dict(saved["sums"]) if saved else {}
        self._train_count = int(saved["count"]) if saved else 0

    # -- figures -----------------------------------------------------------------------------
    def keep_figure_batch(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Keep the first few examples (float, on the CPU) for the figure callback to draw."""
        self.figure_batch = {k: v[:FIGURE_EXAMPLES].detach().float().cpu() for k, v in tensors.items()}

    def figure(self, example: Mapping[str, np.ndarray], title: str) -> Any:
        """A matplotlib Figure for one kept example; the default shows every map as an image."""
        from wavespace.figures import maps_figure

        return maps_figure(example, self.features.frame_rate, title)

    def figure_audio(self, example: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Waveforms to write beside the figure and log (name -> mono audio at the front-end's rate)."""
        return {"input": example["audio"]} if "audio" in example else {}

    # -- provenance --------------------------------------------------------------------------
    def restore(self, checkpoint: Mapping[str, Any], path: str | None = None) -> None:
        """Load a wavespace checkpoint's weights (strictly) and record where they came from."""
        self.load_state_dict(checkpoint["state_dict"], strict=True)
        self.run_config = dict(checkpoint.get("wavespace", {}).get("config") or {}) or None
        self.checkpoint_path = None if path is None else str(path)
