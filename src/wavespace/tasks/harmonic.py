"""Unsupervised pitch salience (study 2): reconstruction under an entropy constraint, primal-dual.

The net (models/harmonic.py) maps a log-frequency spectrogram to K non-negative salience maps
and rebuilds the spectrogram from them with learned harmonic kernels. Trained without labels:

* loss0: reconstruction (``l1`` | ``l2`` | ``bce``) of the target, the log spectrogram mapped
  to [0, 1] by a floor and ceiling fitted once on the training split (buffers, so they travel
  with the checkpoint);
* loss1: the entropy gap ``mean_t H(salience_t) - H(input_t)`` (tasks/constraints.py);
* minimise ``loss0 + lambda * (loss1 - threshold)``; after each optimizer step
  ``lambda <- max(0, lambda + dual_lr * (loss1 - threshold))`` (projected dual ascent), with
  loss1 averaged over DDP ranks so every rank holds the same lambda.

Why a buffer and not a second optimizer: a dual optimizer (cooper's pattern) forces Lightning's
manual optimisation, which rejects the trainer's gradient clipping. Lambda is a persistent
buffer updated in ``optimizer_step`` after the primal step: checkpointed, exact after resume.

Checkpoint selection uses no labels: ``val/loss0_feasible`` is the validation loss0 when the
validation loss1 meets the constraint, else ``INFEASIBLE + (loss1 - threshold)`` (worse than
any feasible value, infeasible epochs ranked by how far they miss).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from wavespace.errors import ConfigError
from wavespace.features.base import Frontend
from wavespace.tasks.base import Task
from wavespace.tasks.constraints import (
    LOSSES,
    dual_step,
    entropy_gap,
    reconstruction_loss,
)
from wavespace.tasks.unit_range import UnitRange, accept_legacy_names

INFEASIBLE = 1.0e6
WORKING_FRONTENDS = "features=cqt or features=logfreq"
NET_INPUTS = ("features", "target")


def frontend_bins_per_octave(features: Frontend) -> float:
    """Bins per octave of a single-channel front-end on a geometric frequency grid, else ConfigError.

    The harmonic kernels place harmonic h at ``round(B log2 h)`` bins, which only means something
    on a log-frequency axis with a constant B: the CQT and the log-frequency STFT. Mel (not
    geometric), EnCodec latents (no frequency axis) and the HCQT (several channels, already
    harmonically stacked) are refused here, at construction.
    """
    name = type(features).__name__
    bpo = getattr(features, "bins_per_octave", None)
    centers = getattr(features, "center_frequencies", None)
    if bpo is None or centers is None or int(getattr(features, "n_channels", 1)) != 1:
        raise ConfigError(
            f"model=harmonic needs a single-channel spectrogram on a log-frequency grid (a constant "
            f"number of bins per octave): use {WORKING_FRONTENDS}. The front-end {name} does not "
            f"qualify (mel and hcqt grids and EnCodec latents are not supported).")
    centers = np.asarray(centers, dtype=np.float64)
    steps = np.diff(np.log2(centers))
    if centers.ndim != 1 or not np.allclose(steps, 1.0 / float(bpo), rtol=1e-3, atol=1e-9):
        raise ConfigError(
            f"model=harmonic needs geometrically spaced bins; {name}'s center frequencies are not "
            f"{float(bpo):.3g} per octave: use {WORKING_FRONTENDS}.")
    return float(bpo)


def _with_bins_per_octave(net: nn.Module | Callable[..., nn.Module], bpo: float) -> nn.Module | Callable[..., nn.Module]:
    """Give a partial net the front-end's bins per octave (the one source of that number)."""
    if isinstance(net, nn.Module):
        return net
    given = getattr(net, "keywords", {}).get("bins_per_octave")
    if given is not None and abs(float(given) - bpo) > 1e-6:
        raise ConfigError(
            f"model.net.bins_per_octave={given} disagrees with the front-end's {bpo:.6g}; leave it "
            f"unset (null): the harmonic model takes it from the front-end")
    return functools.partial(net, bins_per_octave=bpo)


class HarmonicSalience(Task):
    """Self-supervised salience: see the module docstring for the objective and the dual step."""

    metric: ClassVar[str] = "val/loss0_feasible"
    metric_mode: ClassVar[str] = "min"

    def __init__(
        self,
        net: nn.Module | Callable[..., nn.Module],
        features: Frontend,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        loss: str = "l1",
        threshold: float = -0.1,
        dual_lr: float = 0.05,
        lambda_init: float = 0.0,
        energy_floor: float = 0.02,
        target_quantiles: Sequence[float] = (0.5, 0.999),
        fit_batches: int = 8,
        net_input: str = "target",
    ) -> None:
        if loss not in LOSSES:
            raise ConfigError(f"model.loss must be one of {', '.join(LOSSES)}, got '{loss}'")
        if not -1.0 <= float(threshold) <= 1.0:
            raise ConfigError(f"model.threshold bounds an entropy gap of normalised entropies, so it "
                              f"must lie in [-1, 1]; got {threshold}")
        if float(dual_lr) < 0 or float(lambda_init) < 0:
            raise ConfigError(f"model.dual_lr and model.lambda_init must be >= 0 (lambda is a "
                              f"multiplier of an inequality constraint); got dual_lr={dual_lr}, "
                              f"lambda_init={lambda_init}")
        if net_input not in NET_INPUTS:
            raise ConfigError(f"model.net_input must be one of {', '.join(NET_INPUTS)}, got '{net_input}'")
        bpo = frontend_bins_per_octave(features)
        super().__init__(_with_bins_per_octave(net, bpo), features, optimizer, scheduler)
        if int(getattr(self.net, "n_salience", 1)) < 1:  # the decoder refuses it too
            raise ConfigError("model.net.n_salience must be >= 1")
        self.loss_kind, self.threshold = loss, float(threshold)
        self.dual_lr, self.energy_floor = float(dual_lr), float(energy_floor)
        self.fit_batches = int(fit_batches)
        self.net_input = net_input
        self.register_buffer("lam", torch.tensor(float(lambda_init)))
        # [floor, ceiling] of the log spectrogram, fitted on the training split.
        self.unit_range = UnitRange(target_quantiles, name="model.target_quantiles", allow_constant=True)
        accept_legacy_names(self)
        self._pending_loss1: list[torch.Tensor] = []
        self._sums: dict[str, torch.Tensor] = {}
        self.save_hyperparameters({
            "loss": loss, "threshold": self.threshold, "dual_lr": self.dual_lr,
            "lambda_init": float(lambda_init), "energy_floor": self.energy_floor,
            "target_quantiles": list(self.unit_range.quantiles), "fit_batches": self.fit_batches, "net_input": net_input})

    # -- inputs and target --------------------------------------------------------------------
    def raw_inputs(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Raw (un-normalized) features [B, 1, F, T]: from the feature cache or computed here."""
        if "features" in batch:
            return batch["features"].float()
        with torch.no_grad():
            return self.features.raw(batch["audio"])

    def fit_target_range(self, raw_batches: Sequence[torch.Tensor] | Any) -> tuple[float, float]:
        """Set floor/ceiling to the configured quantiles of raw features (iterable of [B, C, F, T])."""
        return self.unit_range.fit(raw_batches)

    def set_target_range(self, floor: float, ceiling: float) -> None:
        self.unit_range.set(floor, ceiling)

    def net_inputs(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """What the UNet reads: the front-end's (normalized) features, or the [0, 1] target."""
        return target if self.net_input == "target" else self.features.normalize(raw)

    def target(self, raw: torch.Tensor) -> torch.Tensor:
        """The [0, 1] reconstruction target of raw log features."""
        if not self.unit_range.is_fitted:
            raise ConfigError(
                "the harmonic model's target range (floor/ceiling of the log spectrogram) was never "
                "fitted: it is fitted on the training split when training starts (trainer.fit), or "
                "call fit_target_range(batches of raw features) before evaluating an untrained model")
        return self.unit_range.to_unit(raw)

    def on_fit_start(self) -> None:
        if self.unit_range.is_fitted:
            return  # resumed: restored from the checkpoint
        if self.trainer.datamodule is None:
            raise ConfigError(
                "HarmonicSalience fits its target range on the training split through the "
                "trainer's datamodule; without one, call fit_target_range(...) before fit")
        self.unit_range.fit_on_training_split(self, self.raw_inputs, max_batches=self.fit_batches)

    # -- objective ----------------------------------------------------------------------------
    def objective(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Forward pass and every term: loss0, loss1, violation, total loss, plus the maps."""
        raw = self.raw_inputs(batch)
        target = self.target(raw)
        out = self(self.net_inputs(raw, target))
        loss0 = reconstruction_loss(out["recon"], target, self.loss_kind)
        loss1, n_active = entropy_gap(out["salience"], target, self.energy_floor)
        violation = loss1 - self.threshold
        loss = loss0 + self.lam.to(loss0.dtype) * violation
        return {"loss": loss, "loss0": loss0, "loss1": loss1, "violation": violation,
                "n_active": n_active, "target": target, **out}

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        res = self.objective(batch)
        self._pending_loss1.append(res["loss1"].detach())
        # The dual trajectory (lambda is the value this step used; slack >= 0: the constraint
        # holds) at every logging step, read by `analyze salience`; one host copy for all five.
        values = {"loss": res["loss"], "loss0": res["loss0"], "loss1": res["loss1"],
                  "lambda": self.lam.float(), "slack": -res["violation"]}
        self.log_train(values, res["target"].shape[0], step=tuple(values), step_suffix="")
        return res["loss"]

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Callable | None = None) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        self.dual_update()

    @torch.no_grad()
    def dual_update(self) -> None:
        """lambda <- max(0, lambda + dual_lr * (loss1 - threshold)), loss1 the mean of the
        micro-batches since the last step, averaged over ranks (identical lambda everywhere)."""
        if not self._pending_loss1:
            return
        loss1 = torch.stack(self._pending_loss1).mean().float()
        self._pending_loss1 = []
        trainer = self._trainer
        if trainer is not None:
            loss1 = trainer.strategy.reduce(loss1, reduce_op="mean")
        self.lam.copy_(dual_step(self.lam, loss1.to(self.lam) - self.threshold, self.dual_lr))

    # -- evaluation ---------------------------------------------------------------------------
    def _eval_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int, stage: str) -> None:
        res = self.objective(batch)
        bs = float(res["target"].shape[0])
        sums = torch.stack([res["loss0"].detach().float() * bs, res["loss1"].detach().float() * bs,
                            torch.tensor(bs, device=res["loss0"].device)])
        self._sums[stage] = self._sums.get(stage, torch.zeros_like(sums)) + sums
        if stage == "val" and batch_idx == 0:
            keep = {"input": res["target"][:4], "salience": res["salience"][:4].sum(1),
                    "recon": res["recon"][:4]}
            if "audio" in batch:
                keep["audio"] = batch["audio"][:4]
            self.keep_figure_batch(keep)

    def _log_epoch(self, stage: str) -> None:
        sums = self._sums.pop(stage, None)
        if sums is None:
            return
        sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
        loss0, loss1 = (sums[:2] / sums[2].clamp_min(1.0)).tolist()
        violation = loss1 - self.threshold
        self.log(f"{stage}/loss0", loss0)
        self.log(f"{stage}/loss1", loss1)
        self.log(f"{stage}/loss", loss0 + float(self.lam) * violation)
        self.log(f"{stage}/lambda", float(self.lam))
        if stage == "val":
            self.log("val/loss0_feasible", loss0 if violation <= 0 else INFEASIBLE + violation)

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, batch_idx, "val")

    def test_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, batch_idx, "test")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    # -- prediction and figures ---------------------------------------------------------------
    def postprocess(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Salience maps [B, K, F, T], their sum over channels [B, F, T], the reconstruction."""
        return {"salience": out["salience"], "salience_sum": out["salience"].sum(1),
                "recon": out["recon"][:, 0]}

    def figure(self, example: dict[str, np.ndarray], title: str) -> Any:
        from wavespace.figures import example_figure

        decoder = self.net.decoder
        return example_figure(example, decoder.kernels.detach().float().cpu().numpy(),
                              self.features.frame_rate, self.features.center_frequencies, title,
                              decoder.bins_per_octave)
