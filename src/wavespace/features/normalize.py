"""Per-bin standardization of features, with statistics fitted on the training split.

Why per bin: log-magnitudes differ by tens of dB between low and high bins (and EnCodec latent
dimensions have unrelated scales); centring each (channel, bin) row and scaling it to unit
variance lets one learning rate serve all of them. The statistics are buffers of the front-end,
so they travel in checkpoints and ``wavespace.load`` restores them without refitting.

Fitting is one streaming pass in float64 (Chan et al.'s parallel merge of per-batch mean and
sum of squared deviations), so it is exact for any number of frames and never holds more than
one batch of features in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from wavespace.errors import WavespaceError


class NormalizationNotFittedError(WavespaceError):
    """Per-bin normalization was asked for, but its statistics were never fitted."""


class RunningStats:
    """Streaming per-(channel, bin) mean and variance over batches and frames, in float64."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def update(self, x: torch.Tensor) -> None:
        """Add a batch of features [B, C, F, T]; statistics are over B and T."""
        x = x.detach().to(torch.float64)
        n = x.shape[0] * x.shape[-1]
        if n == 0:
            return
        b_mean = x.mean(dim=(0, 3))  # [C, F]
        b_m2 = ((x - b_mean[None, :, :, None]) ** 2).sum(dim=(0, 3))
        if self.mean is None:
            self.count, self.mean, self.m2 = n, b_mean, b_m2
            return
        total = self.count + n
        delta = b_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + b_m2 + delta**2 * (self.count * n / total)
        self.count = total

    def result(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(mean [C, F], population std [C, F], frames seen)."""
        if self.mean is None or self.m2 is None:
            raise NormalizationNotFittedError(
                "no features were seen while fitting normalization statistics: the training "
                "data loader yielded no batches"
            )
        return self.mean, (self.m2 / self.count).sqrt(), self.count


class Standardize(nn.Module):
    """(x - mean) / std per (channel, bin), statistics held as buffers (saved in checkpoints).

    ``count`` (frames seen while fitting) doubles as the fitted flag: 0 means never fitted, and
    using an unfitted standardizer raises instead of silently passing raw features through.
    """

    def __init__(self, n_channels: int, n_bins: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = float(eps)
        self.register_buffer("mean", torch.zeros(n_channels, n_bins, 1))
        self.register_buffer("std", torch.ones(n_channels, n_bins, 1))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def fitted(self) -> bool:
        return bool(self.count > 0)

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor, count: int) -> None:
        """Load fitted statistics [C, F] (any float dtype) into the buffers."""
        self.mean.copy_(mean.reshape(self.mean.shape).to(self.mean))
        self.std.copy_(std.reshape(self.std.shape).to(self.std).clamp_min(self.eps))
        self.count.fill_(int(count))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fitted:
            raise NormalizationNotFittedError(
                "the front-end has 'normalize: per_bin' but its statistics were never fitted. "
                "Fit them once on the training split before training, e.g. with the callback "
                "wavespace.features.fit_callback.FitNormalization (CLI: "
                "'+callbacks.fit_normalization._target_=wavespace.features.fit_callback."
                "FitNormalization') or wavespace.features.fit_normalization(features, loader); "
                "or set features.normalize=none."
            )
        return (x - self.mean) / self.std


def _batch_features(frontend: nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
    """Raw features of one batch: a waveform tensor, or a dict with 'audio' or cached 'features'."""
    if isinstance(batch, Mapping):
        if "features" in batch:  # feature cache: already raw features [B, C, F, T]
            return torch.as_tensor(batch["features"]).to(device).float()
        if "audio" not in batch:
            raise ValueError(f"batch has neither 'audio' nor 'features' (keys: {sorted(batch)})")
        batch = batch["audio"]
    return frontend.raw(torch.as_tensor(batch).to(device))


@torch.no_grad()
def compute_stats(
    frontend: nn.Module,
    batches: Iterable[Any],
    max_batches: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One streaming pass of ``frontend.raw`` over ``batches``; returns (mean, std, frames)."""
    from tqdm.auto import tqdm

    if device is None:
        buf = next(iter(frontend.buffers()), None)
        device = buf.device if buf is not None else torch.device("cpu")
    stats = RunningStats()
    total = max_batches
    if total is None and hasattr(batches, "__len__"):
        total = len(batches)  # type: ignore[arg-type]
    bar = tqdm(batches, total=total, desc="fitting feature normalization", disable=not progress,
               leave=False)
    for i, batch in enumerate(bar):
        if max_batches is not None and i >= max_batches:
            break
        stats.update(_batch_features(frontend, batch, torch.device(device)))
    bar.close()
    return stats.result()


def fit_normalization(
    frontend: nn.Module,
    batches: Iterable[Any],
    max_batches: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> bool:
    """Fit the per-bin statistics of ``frontend`` (a Frontend with ``normalize: per_bin``).

    ``batches`` yields waveform tensors [B, T], or dicts with ``audio`` [B, T] or cached raw
    ``features`` [B, C, F, T] (what a training DataLoader gives). Returns False (and does nothing)
    when the front-end has no standardizer, True once fitted.
    """
    std = getattr(frontend, "standardizer", None)
    if std is None:
        return False
    mean, sd, count = compute_stats(frontend, batches, max_batches, device, progress)
    std.set_stats(mean, sd, count)
    return True
