"""Common shape of every front-end: waveform batch in, [B, channels, bins, frames] out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

import wavespace.geometry as geometry
from wavespace.errors import ConfigError

NORMALIZE_MODES = ("none", "per_bin")


class FrontendConfigError(ConfigError, ValueError):
    """A front-end setting that cannot work (range above Nyquist, wrong geometry, ...).

    Also a ``ValueError`` so callers that validate plain arguments can catch it as such.
    """


class Frontend(nn.Module):
    """Base class for feature front-ends run batched on the training device.

    Subclasses set ``sample_rate``, ``hop_length``, ``n_bins`` and ``n_channels`` so that
    models can size their inputs from the front-end instead of from duplicated config values.
    Front-ends hold no trainable parameters and always run in float32, also under autocast:
    FFT/CQT precision matters more than their cost. That includes whole-model dtype casts
    (``.half()``, ``.bfloat16()``, Lightning's ``precision=bf16-true`` / ``16-true``): they
    move the front-end with the model but leave its kernels and weights untouched in float32,
    and tensors ``compute`` creates are float32 even under a 16-bit default dtype. (Under
    ``*-true`` precision Lightning still rounds the batch, audio included, to 16 bits before
    the step; ``bf16-mixed``, what ``trainer=gpu`` uses, does not.)

    ``forward`` = ``normalize(raw(audio))``. ``raw`` is the transform itself (what a feature
    cache should store); ``normalize`` applies the optional per-bin standardization
    (``normalize: per_bin``), whose statistics are fitted once on the training split by
    :func:`wavespace.features.normalize.fit_normalization` and saved with the checkpoint.
    """

    sample_rate: int
    hop_length: int
    n_bins: int
    n_channels: int = 1

    @classmethod
    def restore_config(cls, cfg: Any) -> Any:
        """The front-end config to build with when a checkpoint will supply the state dict.

        Identity here; a front-end whose construction fetches weights (EnCodec) returns a
        config that builds the same architecture without fetching anything.
        """
        return cfg

    @property
    def frame_rate(self) -> float:
        return geometry.frame_rate(self.sample_rate, self.hop_length)

    def n_frames(self, n_samples: int) -> int:
        """Centered frames: frame i describes time i * hop / sample_rate."""
        return geometry.n_frames(n_samples, self.hop_length)

    # -- normalization -----------------------------------------------------------------------
    def set_normalization(self, mode: str) -> None:
        """Attach a per-bin standardizer (``per_bin``) or none; call after n_channels/n_bins."""
        from wavespace.features.normalize import Standardize

        if mode not in NORMALIZE_MODES:
            raise FrontendConfigError(
                f"unknown normalize mode '{mode}' for {type(self).__name__}: choose one of "
                f"{', '.join(NORMALIZE_MODES)}"
            )
        self.normalize_mode = mode
        self.standardize = Standardize(self.n_channels, self.n_bins) if mode == "per_bin" else None

    @property
    def standardizer(self) -> nn.Module | None:
        """The Standardize module when ``normalize: per_bin``, else None."""
        return self._modules.get("standardize")

    def normalize(self, features: torch.Tensor) -> torch.Tensor:
        """Apply the configured normalization to raw features [B, C, F, T] (identity if none)."""
        std = self.standardizer
        return features if std is None else std(features.float())

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> Frontend:
        """Follow the model's device moves but not its dtype casts: a cast to 16 bits and back
        would round the kernels, so floating tensors keep their dtype (float32) and only move."""

        def move_only(t: torch.Tensor) -> torch.Tensor:
            out = fn(t)
            if t.is_floating_point() and out.dtype != t.dtype:
                return t.to(out.device)
            return out

        return super()._apply(move_only, recurse)

    # -- transform ---------------------------------------------------------------------------
    def raw(self, audio: torch.Tensor) -> torch.Tensor:
        """Features before normalization, float32 [B, C, F, frames], also under autocast."""
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        with torch.autocast(device_type=audio.device.type, enabled=False), _float32_default():
            return self.compute(audio.float())

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.raw(audio))

    def compute(self, audio: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def build_frontend(cfg: Any, restoring: bool = False) -> Frontend:
    """The front-end of a ``features`` config; with ``restoring``, built to receive a state dict.

    One place for both users: :func:`wavespace.loading.build_model` (a task from a checkpoint)
    and an exported transcriber whose front-end stays in Python (its state dict is saved beside
    the exported net). ``restoring`` goes through :meth:`Frontend.restore_config` (EnCodec then
    skips its download: the saved state holds the weights).
    """
    from hydra.utils import get_class, instantiate
    from omegaconf import DictConfig, OmegaConf

    cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    if restoring:
        cfg = get_class(cfg._target_).restore_config(cfg.copy())
    return instantiate(cfg)


@contextmanager
def _float32_default() -> Iterator[None]:
    """float32 as the default dtype for tensors created inside (Lightning's ``*-true`` precision
    sets a 16-bit default around the forward pass)."""
    previous = torch.get_default_dtype()
    if previous == torch.float32:
        yield
        return
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def compress(mag: torch.Tensor, mode: str, eps: float = 1e-5) -> torch.Tensor:
    """Dynamic-range compression of a magnitude spectrogram.

    ``log``: natural log with a floor (what CQT models of the seed used); ``db``: decibels
    rescaled so a 80 dB range maps to [0, 1]; ``none``: linear magnitude.
    """
    if mode == "log":
        return torch.log(mag.clamp_min(eps))
    if mode == "db":
        return (20 * torch.log10(mag.clamp_min(eps)) + 80.0) / 80.0
    if mode == "none":
        return mag
    raise ValueError(f"unknown compression '{mode}' (choose log, db or none)")


def check_compression(mode: str) -> str:
    """Fail at construction, not at the first batch, on an unknown compression."""
    if mode not in ("log", "db", "none"):
        raise FrontendConfigError(f"unknown compression '{mode}' (choose log, db or none)")
    return mode


def check_below_nyquist(name: str, top_hz: float, sample_rate: int, hint: str) -> None:
    """Raise a clear error when a front-end's highest analysed frequency is above Nyquist."""
    if top_hz >= sample_rate / 2:
        raise FrontendConfigError(
            f"{name} top bin {top_hz:.0f} Hz is above Nyquist ({sample_rate / 2:.0f} Hz at "
            f"{sample_rate} Hz): {hint}"
        )
