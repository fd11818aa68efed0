"""Lightning callbacks and the checkpoint writer of training runs.

Run safety: no checkpoint ever holds a NaN (``FiniteCheckpointIO``, ``NonFiniteLossGuard``, both
in :mod:`wavespace.nonfinite` and re-exported here), ``last.ckpt`` always holds the newest state
(``LastCheckpoint``), and a resumed run continues exactly as an uninterrupted one
(``ResumeState``). Also provenance (config in checkpoints) and figures.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, Checkpoint

from wavespace.figures import save_figure
from wavespace.nonfinite import (  # noqa: F401  (re-exported: the run-safety callbacks live there)
    FIXES,
    FiniteCheckpointIO,
    NonFiniteCheckpointError,
    NonFiniteLossGuard,
    nonfinite_tensors,
    usable_checkpoints,
)

log = logging.getLogger(__name__)


class LastCheckpoint(Checkpoint):
    """Keep ``last.ckpt`` at the newest state: every N optimizer steps, every epoch end, and when
    training ends.

    A resumed or re-run command starts from this file, so it must never lag behind: Lightning's
    ``ModelCheckpoint(save_last=True)`` (2.6) refreshes it only when it saves a monitored
    checkpoint. As a ``Checkpoint`` it runs after the other callbacks (the NaN guard first) and
    after the task's own epoch-end hook, so it saves what the epoch ended with. The step-N save is
    skipped on an epoch's last batch, which the epoch-end save writes moments later.
    """

    def __init__(self, dirpath: str | Path, every_n_train_steps: int = 100, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename
        self.every = max(0, int(every_n_train_steps or 0))
        self._saved: tuple[int, int] | None = None  # (global step, epoch) of the newest save

    def _save(self, trainer: L.Trainer) -> None:
        if trainer.fast_dev_run or trainer.sanity_checking:
            return
        key = (trainer.global_step, trainer.current_epoch)
        if key != self._saved:
            trainer.save_checkpoint(self.path)
            self._saved = key

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.ckpt_path:  # resumed: the restored step is on disk already
            self._saved = (trainer.global_step, -1)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if (self.every and trainer.global_step % self.every == 0
                and not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch):
            self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._saved is None or self._saved[0] != trainer.global_step:  # ended mid-epoch (max_steps)
            self._save(trainer)


def _rng_state() -> dict[str, Any]:
    """The global generators (torch CPU and CUDA, numpy, ``random``) as tensors and ints, so a
    checkpoint holding them still loads under ``torch.load(weights_only=True)``."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, mt, py_gauss = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)},
             "python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64), "gauss": py_gauss}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumeState(Callback):
    """What a Lightning checkpoint leaves out and an exact resume needs, saved and put back.

    * The global random generators: dropout and anything else drawing from torch/numpy/``random``
      continues after a resume exactly as without the interruption (data order and crops are
      resumed by the datamodule, see :mod:`wavespace.data.sampling`). They are restored just
      before the first training step, after Lightning has rebuilt loaders and optimizers; in an
      uninterrupted run nothing draws from them in between either.
    * The running sums behind the epoch averages of logged training metrics (``train/loss_epoch``)
      when a checkpoint is written mid-epoch: otherwise the resumed epoch's average covers only
      the batches after the resume. They live in Lightning's private result collection; if its
      layout changes, the averages are left as they are, with a warning.
    """

    def __init__(self) -> None:
        self._trainer: L.Trainer | None = None
        self._pending: dict[str, Any] | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        state = {"rng": _rng_state()}
        trainer = self._trainer
        if trainer is not None and trainer.state.fn == "fit" and not trainer.sanity_checking:
            done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
            if 0 < done < trainer.num_training_batches:
                state["epoch_sums"] = self._epoch_sums(trainer)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = dict(state_dict) if state_dict else None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._pending and "rng" in self._pending:
            _set_rng_state(self._pending.pop("rng"))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        # After the first resumed step has logged (so the result entries exist), before any
        # checkpoint callback saves this step.
        state, self._pending = self._pending, None
        if state and state.get("epoch_sums"):
            self._add_epoch_sums(trainer, state["epoch_sums"])

    @staticmethod
    def _epoch_sums(trainer: L.Trainer) -> dict[str, Any]:
        sums = {}
        for key, metric in getattr(trainer.fit_loop.epoch_loop, "_results", {}).items():
            if getattr(metric, "is_tensor", False) and metric.meta.on_epoch and not metric.has_reset:
                sums[key] = {"value": metric.value.detach().cpu().clone(),
                             "count": getattr(metric, "cumulated_batch_size", torch.tensor(0)).detach().cpu().clone()}
        return sums

    @staticmethod
    def _add_epoch_sums(trainer: L.Trainer, sums: dict[str, Any]) -> None:
        try:
            results = trainer.fit_loop.epoch_loop._results
            for key, saved in sums.items():
                metric = results.get(key)
                if metric is None or not metric.is_tensor:
                    continue
                value = saved["value"].to(metric.value.device, metric.value.dtype)
                if metric.meta.is_mean_reduction:
                    metric.value = metric.value + value
                    metric.cumulated_batch_size = metric.cumulated_batch_size + saved["count"].to(metric.value.device)
                elif metric.meta.is_sum_reduction:
                    metric.value = metric.value + value
                elif metric.meta.is_max_reduction or metric.meta.is_min_reduction:
                    metric.value = metric.meta.reduce_fx(metric.value, value)
        except (AttributeError, KeyError, TypeError) as exc:  # Lightning internals moved
            log.warning("Could not restore the running epoch averages of training metrics (%s): the "
                        "resumed epoch's train/*_epoch values average only the batches after the resume.", exc)


class ConfigInCheckpoint(Callback):
    """Store the resolved run config (plain containers) in every checkpoint, with the validation
    scores current when it was written.

    ``wavespace.load`` rebuilds the model from it without Hydra; plain dicts keep checkpoints
    loadable under ``torch.load(weights_only=True)``. The scores let a published model state its
    own numbers: the run's metrics.json holds the last epoch's, which need not be the best
    checkpoint's (wavespace.pretrained.publish).
    """

    def __init__(self, config: dict[str, Any], run_id: str) -> None:
        self.config, self.run_id = config, run_id

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        from wavespace import __version__
        from wavespace.provenance import provenance

        scores = {k: float(v) for k, v in trainer.callback_metrics.items()
                  if k.startswith("val/") and getattr(v, "numel", lambda: 1)() == 1}
        checkpoint["wavespace"] = {"config": self.config, "run_id": self.run_id, "version": __version__,
                                   "provenance": provenance(), "val_metrics": scores}


class PredictionFigures(Callback):
    """After validation, let the task draw its kept examples: PNGs (and WAVs) in ``figures/``, W&B.

    The task decides what a panel shows (:meth:`wavespace.tasks.base.Task.figure`) and which
    waveforms are worth hearing (:meth:`~wavespace.tasks.base.Task.figure_audio`); this callback
    only decides when, writes the files and logs them.
    """

    def __init__(self, dirpath: str | Path, every_n_epochs: int = 1, n_examples: int = 2, log_audio: bool = True) -> None:
        self.dirpath, self.every = Path(dirpath), max(1, int(every_n_epochs))
        self.n_examples, self.log_audio = int(n_examples), log_audio
        self.saved: list[Path] = []

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        batch = getattr(pl_module, "figure_batch", None)
        if batch is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        if trainer.current_epoch % self.every:
            return
        epoch = trainer.current_epoch
        paths: list[Path] = []
        clips: dict[str, np.ndarray] = {}
        for i in range(min(self.n_examples, next(iter(batch.values())).shape[0])):
            example = {k: v[i].float().numpy() for k, v in batch.items()}
            fig = pl_module.figure(example, f"epoch {epoch}, example {i}")
            paths.append(save_figure(fig, self.dirpath / f"epoch{epoch:03d}_example{i}.png"))
            if self.log_audio:
                for name, wave in pl_module.figure_audio(example).items():
                    clips[f"example{i}_{name}"] = np.asarray(wave, dtype=np.float32)
        sample_rate = int(getattr(pl_module.features, "sample_rate", 22050))
        audio_paths = [self._write_wav(self.dirpath / f"epoch{epoch:03d}_{name}.wav", wave, sample_rate)
                       for name, wave in clips.items()]
        self.saved.extend(paths + audio_paths)
        self._log_to_wandb(trainer, paths, clips, sample_rate)

    @staticmethod
    def _write_wav(path: Path, wave: np.ndarray, sample_rate: int) -> Path:
        import soundfile as sf

        peak = float(np.abs(wave).max()) if wave.size else 0.0
        sf.write(path, wave / peak * 0.9 if peak > 1.0 else wave, sample_rate, subtype="PCM_16")
        return path

    def _log_to_wandb(self, trainer: L.Trainer, paths: list[Path], clips: dict[str, np.ndarray], sample_rate: int) -> None:
        from lightning.pytorch.loggers import WandbLogger

        for logger in trainer.loggers:
            if not isinstance(logger, WandbLogger):
                continue
            logger.log_image(key="val/examples", images=[str(p) for p in paths], step=trainer.global_step)
            if clips:
                import wandb

                logger.experiment.log({"val/audio": [wandb.Audio(w, sample_rate=sample_rate, caption=name)
                                                     for name, w in clips.items()]}, step=trainer.global_step)
