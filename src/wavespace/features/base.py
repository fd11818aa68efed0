"""Common shape of every front-end: waveform batch in, [B, channels, bins, frames] out."""

from __future__ import annotations

import torch
from torch import nn


class Frontend(nn.Module):
    """Base class for feature front-ends run batched on the training device.

    Subclasses set ``sample_rate``, ``hop_length``, ``n_bins`` and ``n_channels`` so that
    models can size their inputs from the front-end instead of from duplicated config values.
    Front-ends hold no trainable parameters and always run in float32, also under autocast:
    FFT/CQT precision matters more than their cost.
    """

    sample_rate: int
    hop_length: int
    n_bins: int
    n_channels: int = 1

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def n_frames(self, n_samples: int) -> int:
        return n_samples // self.hop_length + 1

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        with torch.autocast(device_type=audio.device.type, enabled=False):
            return self.compute(audio.float())

    def compute(self, audio: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


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
