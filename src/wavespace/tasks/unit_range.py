"""A floor and a ceiling that map features to [0, 1], fitted once on the training split.

Two studies need targets in [0, 1]: the autoencoder's BCE loss compares probabilities, and the
harmonic model's non-negative kernel sums cannot fit log magnitudes. Both map features with
``(x - floor) / (ceiling - floor)``, clipped, where floor and ceiling are quantiles of the
training features (min/max for the autoencoder, the median and the 99.9th percentile for the
harmonic model). The pair is a buffer of this module, so it travels with the checkpoint, is
restored before ``on_fit_start`` on resume (and therefore not refitted), and is identical on every
DDP rank because rank 0 fits and broadcasts it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from wavespace.errors import ConfigError

log = logging.getLogger(__name__)

#: Values kept per batch when fitting inner quantiles: long chunks stay cheap, quantiles barely move.
SAMPLE_PER_BATCH = 500_000

# Buffer names used before this module existed (checkpoints from wavespace <= 0.1.0 main of
# 2026-11-28): Autoencode kept ``bce_range`` (floor == ceiling meaning unfitted), HarmonicSalience
# kept ``target_range`` and ``target_fitted``.
_LEGACY_BOUNDS = ("bce_range", "target_range")
_LEGACY_FITTED = "target_fitted"


class UnitRange(nn.Module):
    """``[floor, ceiling]`` and whether it was fitted, as buffers; maps to and from [0, 1]."""

    def __init__(self, quantiles: Sequence[float] = (0.0, 1.0),
                 fixed: Sequence[float] | None = None, name: str = "range",
                 allow_constant: bool = False) -> None:
        super().__init__()
        self.allow_constant = allow_constant
        lo, hi = (float(q) for q in quantiles)
        if not 0.0 <= lo < hi <= 1.0:
            raise ConfigError(f"{name}: quantiles must satisfy 0 <= floor < ceiling <= 1; got {list(quantiles)}")
        self.quantiles, self.name = (lo, hi), name
        self.register_buffer("bounds", torch.tensor([0.0, 1.0]))
        self.register_buffer("fitted", torch.tensor(0, dtype=torch.long))
        if fixed is not None:
            values = [float(v) for v in fixed]
            if len(values) != 2 or not values[0] < values[1]:
                raise ConfigError(f"{name} must be [floor, ceiling] with floor < ceiling (got {list(fixed)})")
            self.set(*values)

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted)

    def set(self, floor: float, ceiling: float) -> None:
        self.bounds.copy_(torch.tensor([float(floor), float(ceiling)]))
        self.fitted.fill_(1)

    def fit(self, batches: Iterable[torch.Tensor]) -> tuple[float, float]:
        """Set floor/ceiling to the configured quantiles of the values in ``batches``.

        Quantiles 0 and 1 are the exact minimum and maximum; inner quantiles are computed on up to
        ``SAMPLE_PER_BATCH`` values per batch, drawn with a fixed seed so a refit is identical.
        """
        gen = np.random.default_rng(0)
        values, lo, hi = [], float("inf"), float("-inf")
        for batch in batches:
            flat = batch.detach().float().flatten().cpu().numpy()
            if flat.size == 0:
                continue
            lo, hi = min(lo, float(flat.min())), max(hi, float(flat.max()))
            if flat.size > SAMPLE_PER_BATCH:
                flat = gen.choice(flat, SAMPLE_PER_BATCH, replace=False)
            values.append(flat)
        if not values:
            raise ConfigError(f"{self.name}: the training data loader yielded no batch to fit on")
        floor, ceiling = np.quantile(np.concatenate(values), self.quantiles)
        floor = lo if self.quantiles[0] == 0.0 else float(floor)
        ceiling = hi if self.quantiles[1] == 1.0 else float(ceiling)
        if not ceiling > floor and self.allow_constant:
            ceiling = floor + 1.0  # e.g. a silent training split: any span maps it to 0
        elif not ceiling > floor:
            raise ConfigError(f"{self.name}: the training features are constant ({floor:.4g}), so no "
                              f"[0, 1] map can be fitted")
        self.set(floor, ceiling)
        return floor, ceiling

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        floor, ceiling = self.bounds[0], self.bounds[1]
        return ((x.float() - floor) / (ceiling - floor).clamp_min(1e-6)).clamp(0.0, 1.0)

    def from_unit(self, p: torch.Tensor) -> torch.Tensor:
        floor, ceiling = self.bounds[0], self.bounds[1]
        return p * (ceiling - floor) + floor

    def fit_on_training_split(self, module: L.LightningModule,
                              batch_values: Callable[[Mapping[str, Any]], torch.Tensor],
                              max_batches: int | None) -> None:
        """Fit on the trainer's training loader (rank 0), then broadcast to every rank.

        ``batch_values`` turns a batch (already on the module's device) into the values to fit;
        ``max_batches`` None reads as many batches as the trainer uses per epoch.
        """
        from wavespace.features.fit_callback import fit_batches

        trainer = module.trainer
        bounds: tuple[float, float] | str | None = None
        if trainer.is_global_zero:
            dm = trainer.datamodule
            loader = dm.train_dataloader() if dm is not None else trainer.fit_loop._data_source.dataloader()
            n = fit_batches(trainer, loader, max_batches)

            def values() -> Iterable[torch.Tensor]:
                for i, batch in enumerate(loader):
                    if n is not None and i >= n:
                        break
                    yield batch_values({k: v.to(module.device) if torch.is_tensor(v) else v
                                        for k, v in batch.items()})

            try:
                bounds = self.fit(values())
                log.info("%s fitted on the training split: floor %.4g, ceiling %.4g", self.name, *bounds)
            except ConfigError as err:  # every rank raises it, none waits forever for rank 0
                bounds = str(err)
        bounds = trainer.strategy.broadcast(bounds, src=0)
        if isinstance(bounds, str):
            raise ConfigError(bounds)
        self.set(*bounds)


def _rename_legacy(attr: str, module: nn.Module, state_dict: dict, prefix: str, *args: Any) -> None:
    new = f"{prefix}{attr}."
    if new + "bounds" in state_dict:
        return
    for key in _LEGACY_BOUNDS:
        if prefix + key in state_dict:
            old = state_dict.pop(prefix + key)
            fitted = state_dict.pop(prefix + _LEGACY_FITTED, None)
            is_fitted = bool(old[1] > old[0]) if fitted is None else bool(fitted)
            state_dict[new + "bounds"] = old if is_fitted else torch.tensor([0.0, 1.0])
            state_dict[new + "fitted"] = torch.tensor(int(is_fitted), dtype=torch.long)
            return


def accept_legacy_names(parent: nn.Module, attr: str = "unit_range") -> None:
    """Let ``parent`` load checkpoints that kept the range as its own buffers (before this module).

    A pre-hook on the parent, not on the UnitRange itself: the parent rejects unknown keys and
    hands each child only the keys under the child's prefix, so the rename must happen first.
    A partial of a module-level function, so the module still pickles (DDP spawn).
    """
    parent.register_load_state_dict_pre_hook(functools.partial(_rename_legacy, attr))
