"""Supervised pitch salience / transcription as a LightningModule."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
import torch
from torch import nn

from wavespace.features.base import Frontend
from wavespace.metrics import FrameMetrics
from wavespace.tasks.losses import sparse_bce


def build_net(net: nn.Module | Callable[..., nn.Module], features: Frontend) -> nn.Module:
    """Complete a partially configured net with the front-end's output shape.

    Configs give nets as ``_partial_`` so that input sizes come from the front-end that is
    actually used, never from a second copy of the same numbers.
    """
    if isinstance(net, nn.Module):
        return net
    return net(in_channels=features.n_channels, in_bins=features.n_bins)


class SupervisedSalience(L.LightningModule):
    """Front-end -> net -> logits for each target the batch provides; weighted BCE per target.

    Targets are matched by name: the net's outputs ``salience``, ``frame``, ``onset`` (and any
    other) are compared with the batch entries of the same name, with weights from
    ``loss_weights``. Validation reports mir_eval frame metrics from the ``frame`` head.
    """

    def __init__(
        self,
        net: nn.Module | Callable[..., nn.Module],
        features: Frontend,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        loss_weights: Mapping[str, float] | None = None,
        pos_weight: float = 1.0,
        focal_gamma: float = 0.0,
        threshold: float = 0.5,
        min_midi: int = 21,
    ) -> None:
        super().__init__()
        self.features = features
        self.net = build_net(net, features)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.loss_weights = dict(loss_weights or {"salience": 1.0, "frame": 1.0, "onset": 1.0})
        self.pos_weight, self.focal_gamma = float(pos_weight), float(focal_gamma)
        self.val_frame = FrameMetrics(min_midi, threshold)
        self.test_frame = FrameMetrics(min_midi, threshold)
        # Plain values only, so checkpoints load under torch.load(weights_only=True).
        self.save_hyperparameters(
            {"loss_weights": self.loss_weights, "pos_weight": self.pos_weight,
             "focal_gamma": self.focal_gamma, "threshold": float(threshold), "min_midi": int(min_midi)}
        )
        self.figure_batch: dict[str, torch.Tensor] | None = None

    # -- forward -----------------------------------------------------------------------------
    def inputs(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Features for a batch: precomputed (feature cache) or computed here on the device."""
        if "features" in batch:
            return batch["features"].float()
        with torch.no_grad():
            return self.features(batch["audio"])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net(x)

    @torch.no_grad()
    def predict_audio(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Probabilities for a waveform batch [B, T] (what transcription and notebooks use)."""
        out = self(self.features(audio.to(self.device)))
        return {k: torch.sigmoid(v) for k, v in out.items()}

    def losses(self, out: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        parts = {}
        for name, weight in self.loss_weights.items():
            if weight == 0 or name not in out or name not in batch:
                continue
            pred, target = out[name], batch[name].to(out[name].dtype)
            n = min(pred.shape[-1], target.shape[-1])
            if abs(pred.shape[-1] - target.shape[-1]) > 1:
                raise ValueError(
                    f"'{name}': model gives {pred.shape[-1]} frames but labels have "
                    f"{target.shape[-1]}; features and data disagree on the hop (see geometry)"
                )
            parts[name] = weight * sparse_bce(pred[..., :n], target[..., :n], self.pos_weight, self.focal_gamma)
        if not parts:
            raise ValueError(f"no target in the batch matches the net outputs {sorted(out)}")
        return parts

    def _step(self, batch: Mapping[str, torch.Tensor], stage: str) -> tuple[torch.Tensor, dict]:
        out = self(self.inputs(batch))
        parts = self.losses(out, batch)
        loss = torch.stack(list(parts.values())).sum()
        bs = next(iter(batch.values())).shape[0]
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, prog_bar=True, on_step=on_step, on_epoch=True, batch_size=bs, sync_dist=not on_step)
        for name, value in parts.items():
            self.log(f"{stage}/loss_{name}", value, on_step=False, on_epoch=True, batch_size=bs, sync_dist=True)
        return loss, out

    # -- Lightning hooks ---------------------------------------------------------------------
    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self._step(batch, "train")
        return loss

    def _eval_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int, stage: str) -> None:
        _, out = self._step(batch, stage)
        if "frame" in out and "frame" in batch:
            probs = torch.sigmoid(out["frame"].float())
            n = min(probs.shape[-1], batch["frame"].shape[-1])
            metric = self.val_frame if stage == "val" else self.test_frame
            metric.update(probs[..., :n], batch["frame"][..., :n])
        if stage == "val" and batch_idx == 0:
            keep = {k: torch.sigmoid(v[:4].float()).cpu() for k, v in out.items()}
            keep.update({f"target_{k}": v[:4].cpu() for k, v in batch.items() if k != "audio"})
            keep["input"] = self.inputs({k: v[:4] for k, v in batch.items()}).cpu()
            if "audio" in batch:
                keep["audio"] = batch["audio"][:4].cpu()
            self.figure_batch = keep

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, batch_idx, "val")

    def test_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, batch_idx, "test")

    def _log_frame_metrics(self, metric: FrameMetrics, stage: str) -> None:
        if metric.update_count == 0:
            return
        for k, v in metric.compute().items():
            self.log(f"{stage}/frame_{k}", v, prog_bar=(k == "f1"), sync_dist=False)
        metric.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_frame_metrics(self.val_frame, "val")

    def on_test_epoch_end(self) -> None:
        self._log_frame_metrics(self.test_frame, "test")

    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params)
        if self.scheduler_factory is None:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer, total_steps=total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
