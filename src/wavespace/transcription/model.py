"""A trained transcriber for inference only: front-end, net and decision rule, without Lightning.

Why it exists: the training task (``wavespace.tasks.SupervisedSalience``) is a LightningModule,
and importing Lightning pulls in torchmetrics, torch._dynamo, sympy and transformers, seconds of
start-up on a small CPU before the first sample is read. ``transcribe``, ``evaluate`` and the
bench need none of it: the same front-end and net (built from the checkpoint's config by
``wavespace.loading.load_transcriber``, weights loaded strictly from the same state dict) give
the same probabilities, and the decision rule is the one the task stored
(:meth:`wavespace.transcription.decoding.DecodeParams.from_config`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from wavespace.models.inference import temporal_reach, tiled_forward
from wavespace.transcription.decoding import DecodeParams

N_THRESHOLDS = 3  # frame, onset, offset
#: frames per tile when a net local in time runs on a CPU (tiled_forward): fits the caches
CPU_TILE_FRAMES = 512


class Transcriber(nn.Module):
    """Audio -> probabilities per head (``predict_audio``) and the stored rule (``decode_params``).

    Its state dict has the training task's keys (``features.*``, ``net.*``,
    ``decode_thresholds``), so a task checkpoint loads into it strictly.
    """

    run_config: dict[str, Any] | None
    checkpoint_path: str | None

    def __init__(self, features: nn.Module, net: nn.Module, decoding: Mapping[str, Any],
                 default_threshold: float = 0.5) -> None:
        super().__init__()
        self.features, self.net = features, net
        self.decoding = dict(decoding)
        self.register_buffer("decode_thresholds", torch.tensor([float(default_threshold)] * N_THRESHOLDS))
        self.run_config, self.checkpoint_path = None, None
        self.tile_frames: int | None = CPU_TILE_FRAMES  # None: one net call per chunk

    @property
    def device(self) -> torch.device:
        return self.decode_thresholds.device

    @property
    def net_dtype(self) -> torch.dtype:
        """The dtype the net runs in (``load_transcriber``'s ``precision``)."""
        return next((p.dtype for p in self.net.parameters() if p.is_floating_point()), torch.float32)

    def decode_params(self, **overrides: Any) -> DecodeParams:
        """The decision rule the task validated (tuned thresholds included), with overrides."""
        return DecodeParams.from_config(self.decoding, self.decode_thresholds.tolist(), **overrides)

    @torch.no_grad()
    def predict_audio(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Probabilities of every head for a waveform batch [B, T], as the task computes them."""
        x = self.features(audio.to(self.device))
        x = x.to(self.net_dtype)
        reach = temporal_reach(self.net) if self.device.type == "cpu" and self.tile_frames else None
        out = (self.net(x) if reach is None
               else tiled_forward(self.net, x, self.tile_frames, reach))
        return {k: torch.sigmoid(v.float()) for k, v in out.items()}

    def restore(self, state_dict: Mapping[str, torch.Tensor], run_config: Mapping[str, Any] | None,
                path: str | None) -> None:
        """Load a task's weights strictly; thresholds a checkpoint lacks (written before offsets
        were tuned) keep their defaults."""
        state = dict(state_dict)
        stored: Sequence[float] = state.pop("decode_thresholds", torch.zeros(0)).tolist()
        default = self.decode_thresholds.tolist()
        state["decode_thresholds"] = torch.tensor([*stored, *default[len(stored):]][:N_THRESHOLDS])
        self.load_state_dict(state, strict=True)
        self.run_config = dict(run_config) if run_config else None
        self.checkpoint_path = path
