"""Spectrogram autoencoding (study 1): reconstruct the front-end's features through a bottleneck.

The target is the model's own input (normalized features), so any dataset works, labelled or
not. Losses: ``l1`` (default; the study's metric), ``l2``, or ``bce``. BCE compares
probabilities, so its targets must lie in [0, 1]: the features are mapped there with one floor and
one ceiling fitted on the training split before the first step (or given as ``bce_range``), kept
in the checkpoint as a buffer, and values outside are clamped; a model asked to use BCE without a
range refuses with an error instead of guessing one. Whatever the loss, ``val/l1`` and
``test/l1`` report the mean absolute error on the feature scale, so runs with different losses
stay comparable; ``val/loss`` is the checkpoint metric.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wavespace.errors import ConfigError
from wavespace.features.base import Frontend
from wavespace.tasks.base import Task
from wavespace.tasks.unit_range import UnitRange, accept_legacy_names

LOSSES = ("l1", "l2", "bce")


class Autoencode(Task):
    """Front-end -> net (an autoencoder with ``encode``) -> reconstruction of the features."""

    metric: ClassVar[str] = "val/loss"
    metric_mode: ClassVar[str] = "min"

    def __init__(
        self,
        net: nn.Module | Callable[..., nn.Module],
        features: Frontend,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        loss: str = "l1",
        bce_range: Sequence[float] | None = None,
        audio_iters: int = 32,
    ) -> None:
        super().__init__(net, features, optimizer, scheduler)
        if loss not in LOSSES:
            raise ConfigError(f"unknown autoencoder loss '{loss}' (model.loss): choose one of {', '.join(LOSSES)}")
        if not callable(getattr(self.net, "encode", None)):
            raise ConfigError(
                f"model.net {type(self.net).__name__} has no encode() method, so it cannot serve as "
                f"an autoencoder: use wavespace.models.UNet, ConvNet2d or ConvNet1d (model=unet, "
                f"convnet2d, convnet1d).")
        self.loss_name, self.audio_iters = loss, int(audio_iters)
        # [floor, ceiling] of the features for BCE targets: min/max of the training split.
        self.unit_range = UnitRange((0.0, 1.0), fixed=bce_range, name="model.bce_range")
        accept_legacy_names(self)
        self.save_hyperparameters({"loss": loss, "bce_range": None if bce_range is None else
                                   [float(v) for v in bce_range], "audio_iters": self.audio_iters})

    # -- the [0, 1] map BCE needs -------------------------------------------------------------
    @property
    def range_fitted(self) -> bool:
        return self.unit_range.is_fitted

    def _require_range(self) -> None:
        if not self.range_fitted:
            raise ConfigError(
                "model.loss=bce needs targets in [0, 1], and this model has no floor/ceiling to map "
                "its features there: they are fitted on the training split when training starts "
                "(trainer.fit), or can be given as model.bce_range=[floor,ceiling]. Use loss=l1 or "
                "l2 for features that are not probabilities.")

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        self._require_range()
        return self.unit_range.to_unit(x)

    def from_unit(self, p: torch.Tensor) -> torch.Tensor:
        self._require_range()
        return self.unit_range.from_unit(p)

    def on_fit_start(self) -> None:
        if self.loss_name != "bce" or self.range_fitted:
            return
        try:
            self.unit_range.fit_on_training_split(self, self.inputs, max_batches=None)
        except ConfigError as err:
            raise ConfigError(f"model.loss=bce: {err}; use loss=l1 or l2") from err

    # -- reconstruction and loss --------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The net's bottleneck for normalized features x [B, C, F, T]."""
        dtype = next((p.dtype for p in self.net.parameters() if p.is_floating_point()), x.dtype)
        return self.net.encode(x.to(dtype))

    def postprocess(self, out: torch.Tensor) -> dict[str, torch.Tensor]:
        """Net output -> ``{"reconstruction": features}`` on the scale of the input features."""
        out = out.float()
        return {"reconstruction": self.from_unit(torch.sigmoid(out)) if self.loss_name == "bce" else out}

    def loss(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = out.float()
        if self.loss_name == "l1":
            return F.l1_loss(out, x)
        if self.loss_name == "l2":
            return F.mse_loss(out, x)
        return F.binary_cross_entropy_with_logits(out, self.to_unit(x))

    def _step(self, batch: Mapping[str, Any], stage: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.inputs(batch)
        out = self(x)
        loss = self.loss(out, x)
        bs = x.shape[0]
        if stage == "train":
            self.log_train({"loss": loss}, bs)
        else:
            self.log(f"{stage}/loss", loss, prog_bar=True, on_epoch=True, batch_size=bs, sync_dist=True)
        return loss, x, out

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")[0]

    def _eval_step(self, batch: Mapping[str, Any], batch_idx: int, stage: str) -> None:
        _, x, out = self._step(batch, stage)
        recon = self.postprocess(out)["reconstruction"]
        self.log(f"{stage}/l1", F.l1_loss(recon, x), on_epoch=True, batch_size=x.shape[0], sync_dist=True)
        if stage == "val" and batch_idx == 0:
            keep = {"input": x, "reconstruction": recon}
            if "audio" in batch:
                keep["audio"] = batch["audio"]
            self.keep_figure_batch(keep)

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, batch_idx, "val")

    def test_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, batch_idx, "test")

    # -- what the figure callback shows and plays ---------------------------------------------
    def figure(self, example: dict[str, np.ndarray], title: str) -> Any:
        from wavespace.figures import reconstruction_figure

        return reconstruction_figure(example["input"], example["reconstruction"],
                                     self.features.frame_rate, title)

    def figure_audio(self, example: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The input clip and the reconstruction as audio (mel/logfreq only: NNLS + Griffin-Lim).

        When the batch came from the feature cache (no waveform), the input is inverted the same
        way, so both clips carry the same inversion artefacts.
        """
        from wavespace.features.inverse import features_to_audio, invertible

        out: dict[str, np.ndarray] = {}
        n = len(example["audio"]) if "audio" in example else None
        if "audio" in example:
            out["input"] = np.asarray(example["audio"], np.float32)
        if not invertible(self.features):
            return out
        if "audio" not in example:
            out["input"] = features_to_audio(self.features, example["input"], n, self.audio_iters)
        out["reconstruction"] = features_to_audio(self.features, example["reconstruction"], n, self.audio_iters)
        return out
