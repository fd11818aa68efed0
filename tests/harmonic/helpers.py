"""A callback the training tests inject through the config: records lambda per rank and step."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback


class LambdaRecorder(Callback):
    """After every training batch (after the optimizer and dual steps) and at train start,
    write (step, lambda, this rank's loss1) to ``<directory>/rank<r>.json``."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self.rows: list[dict[str, float]] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.rows.append({"event": "start", "step": trainer.global_step, "lam": float(pl_module.lam)})

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        loss1 = trainer.callback_metrics.get("train/loss1")
        self.rows.append({"event": "step", "step": trainer.global_step, "lam": float(pl_module.lam),
                          "loss1": None if loss1 is None else float(loss1)})
        self._write(trainer)

    def _write(self, trainer: L.Trainer) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"rank{trainer.global_rank}.json").write_text(json.dumps(self.rows))
