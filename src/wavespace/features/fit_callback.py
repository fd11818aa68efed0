"""Lightning callback that fits per-bin feature statistics once, before the first training step.

Kept out of ``wavespace.features.__init__`` so importing the front-ends does not import Lightning.
"""

from __future__ import annotations

import logging

import lightning as L
from lightning.pytorch.callbacks import Callback

from wavespace.features.base import Frontend
from wavespace.features.normalize import compute_stats

log = logging.getLogger(__name__)


def fit_batches(trainer: L.Trainer, loader: object, max_batches: int | None = None) -> int | None:
    """How many training batches a statistics pass reads: ``max_batches`` if given, else as many
    as the trainer uses per epoch (``limit_train_batches``), else all (None)."""
    if max_batches is not None:
        return int(max_batches)
    limit = trainer.limit_train_batches
    if isinstance(limit, int):
        return limit
    if limit is not None and float(limit) < 1.0 and hasattr(loader, "__len__"):
        return max(1, int(float(limit) * len(loader)))  # type: ignore[arg-type]
    return None


class FitNormalization(Callback):
    """On fit start, fit every front-end of the module whose ``normalize: per_bin`` is unfitted.

    The pass reads the training DataLoader (``max_batches`` of it; default: as many batches as
    the trainer will use per epoch, so debug presets with ``limit_train_batches`` stay fast).
    Resumed runs restore the statistics from the checkpoint before ``on_fit_start``, so they are
    not refitted. Under DDP rank 0 fits and broadcasts, so all ranks share the same statistics.
    """

    def __init__(self, max_batches: int | None = None, progress: bool = True) -> None:
        self.max_batches = max_batches
        self.progress = progress

    def _n_batches(self, trainer: L.Trainer, loader: object) -> int | None:
        return fit_batches(trainer, loader, self.max_batches)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        todo = [m for m in pl_module.modules()
                if isinstance(m, Frontend) and m.standardizer is not None
                and not m.standardizer.fitted]
        if not todo:
            return
        dm = trainer.datamodule
        for frontend in todo:
            stats = None
            if trainer.is_global_zero:
                loader = dm.train_dataloader() if dm is not None else pl_module.train_dataloader()
                n = self._n_batches(trainer, loader)
                mean, std, count = compute_stats(frontend, loader, n, pl_module.device,
                                                 self.progress)
                stats = (mean.cpu(), std.cpu(), count)
                log.info("Fitted per-bin normalization of %s on %d frames",
                         type(frontend).__name__, count)
            mean, std, count = trainer.strategy.broadcast(stats, src=0)
            frontend.standardizer.set_stats(mean, std, count)
