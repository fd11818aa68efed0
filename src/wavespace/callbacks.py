"""Lightning callbacks: run safety (non-finite loss), provenance (config in checkpoints), figures."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from wavespace.errors import NonFiniteLossError
from wavespace.figures import save_figure

log = logging.getLogger(__name__)


class NonFiniteLossGuard(Callback):
    """Stop at the first NaN/inf loss, before it reaches the weights, and save what is usable.

    Raising before backward means the optimizer never applies the bad step; if the weights are
    still finite they are written to ``last.ckpt`` so the run can be inspected or resumed with a
    changed setting.
    """

    def __init__(self, checkpoint_dir: str | Path) -> None:
        self.checkpoint_dir = Path(checkpoint_dir)

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if torch.isfinite(loss).all():
            return
        where = f"epoch {trainer.current_epoch}, global step {trainer.global_step}"
        finite = all(torch.isfinite(p).all() for p in pl_module.parameters())
        if finite:
            path = self.checkpoint_dir / "last.ckpt"
            trainer.save_checkpoint(path)
            saved = f"The weights were still finite and were saved to {path}."
        else:
            saved = "The weights themselves are no longer finite, so nothing new was saved; the last good checkpoint in " + str(self.checkpoint_dir) + " is untouched."
        raise NonFiniteLossError(
            f"Training stopped: the loss became {loss.item()} at {where}. {saved} Common fixes: "
            f"a lower learning rate (model.optimizer.lr), gradient clipping "
            f"(trainer.gradient_clip_val), full precision (trainer.precision=32-true), or checking "
            f"the input data for silent or corrupt files."
        )


class ConfigInCheckpoint(Callback):
    """Store the resolved run config (plain containers) in every checkpoint.

    ``wavespace.load`` rebuilds the model from it without Hydra; plain dicts keep checkpoints
    loadable under ``torch.load(weights_only=True)``.
    """

    def __init__(self, config: dict[str, Any], run_id: str) -> None:
        self.config, self.run_id = config, run_id

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        from wavespace import __version__
        from wavespace.provenance import provenance

        checkpoint["wavespace"] = {"config": self.config, "run_id": self.run_id, "version": __version__,
                                   "provenance": provenance()}


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
