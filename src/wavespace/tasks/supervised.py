"""Supervised pitch salience / transcription as a LightningModule."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from wavespace.errors import ConfigError
from wavespace.features.base import Frontend
from wavespace.geometry import common_frames
from wavespace.tasks.base import Task
from wavespace.tasks.losses import sparse_bce
from wavespace.transcription.decoding import DecodeParams
from wavespace.transcription.metrics import FrameMetrics
from wavespace.transcription.thresholds import (
    FRAME_OBJECTIVES,
    THRESHOLD_GRID,
    reference_notes,
    score_clips,
    tune_thresholds,
)


class SupervisedSalience(Task):
    """Front-end -> net -> logits for each target the batch provides; weighted BCE per target.

    Targets are matched by name: the net's outputs ``salience``, ``frame``, ``onset`` (and any
    other) are compared with the batch entries of the same name, with weights from
    ``loss_weights``. Validation reports mir_eval frame metrics from the ``frame`` head.

    With ``note_metrics`` the frame/onset activations of up to ``note_eval_clips`` validation
    clips are decoded into notes and scored with mir_eval (note onset F1, note-with-offset F1);
    with ``tune_thresholds`` the frame, onset and offset thresholds that score best on the
    validation split are kept in the buffer ``decode_thresholds`` (so in every checkpoint) and
    used for testing and by ``wavespace.transcribe``. A ``velocity`` target is learned only where the
    frame target is on (its value elsewhere means nothing).
    """

    metric = "val/frame_f1"
    metric_mode = "max"

    def __init__(
        self,
        net: nn.Module | Callable[..., nn.Module],
        features: Frontend,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        loss_weights: Mapping[str, float] | None = None,
        pos_weight: float | Mapping[str, float] = 1.0,
        focal_gamma: float = 0.0,
        threshold: float = 0.5,
        min_midi: int = 21,
        note_metrics: bool = True,
        tune_thresholds: bool = True,
        note_eval_clips: int = 256,
        threshold_grid: Sequence[float] | None = None,
        decoding: Mapping[str, Any] | None = None,
        frame_threshold_for: str = "activations",
    ) -> None:
        super().__init__(net, features, optimizer, scheduler)
        if frame_threshold_for not in FRAME_OBJECTIVES:
            raise ConfigError(f"model.frame_threshold_for must be 'activations' or 'notes', not "
                              f"'{frame_threshold_for}'")
        # Which frame F1 the tuned frame threshold serves (besides note-with-offset F1): that of
        # the thresholded activations (what test/frame_f1 reports: salience-style models), or
        # that of the decoded notes (what transcribe writes and evaluate scores: transcribers).
        self.frame_threshold_for = frame_threshold_for
        self.loss_weights = dict(loss_weights or {"salience": 1.0, "frame": 1.0, "onset": 1.0})
        # One weight for every target, or one per target name (onsets are far sparser than frames).
        self.pos_weight: float | dict[str, float] = (
            {k: float(v) for k, v in pos_weight.items()} if isinstance(pos_weight, Mapping) else float(pos_weight))
        self.focal_gamma = float(focal_gamma)
        self.val_frame = FrameMetrics(min_midi, threshold)
        self.test_frame = FrameMetrics(min_midi, threshold)
        self.note_metrics, self.tune_thresholds = bool(note_metrics), bool(tune_thresholds)
        self.note_eval_clips = int(note_eval_clips)
        self.threshold_grid = tuple(float(t) for t in (threshold_grid or THRESHOLD_GRID))
        self.decoding = {k: v for k, v in dict(decoding or {}).items() if not k.endswith("_threshold")}
        self.decoding["min_midi"] = int(min_midi)
        # [frame, onset, offset] decision thresholds: tuned on validation, saved in the state dict.
        self.register_buffer("decode_thresholds", torch.tensor([float(threshold)] * 3))
        self.register_load_state_dict_pre_hook(self._default_thresholds)
        self._note_clips: dict[str, list[dict[str, np.ndarray]]] = {"val": [], "test": []}
        # Plain values only, so checkpoints load under torch.load(weights_only=True).
        self.save_hyperparameters(
            {"loss_weights": self.loss_weights, "pos_weight": self.pos_weight,
             "focal_gamma": self.focal_gamma, "threshold": float(threshold), "min_midi": int(min_midi),
             "note_metrics": self.note_metrics, "tune_thresholds": self.tune_thresholds,
             "decoding": dict(self.decoding), "frame_threshold_for": frame_threshold_for}
        )

    # -- forward -----------------------------------------------------------------------------
    def postprocess(self, out: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Probabilities per head (what transcription and notebooks use)."""
        return {k: torch.sigmoid(v) for k, v in out.items()}

    def figure(self, example: Mapping[str, np.ndarray], title: str) -> Any:
        """Input, then each predicted map beside its target (as in the seed's Figure 6)."""
        from wavespace.figures import prediction_figure

        return prediction_figure(dict(example), self.features.frame_rate, title)

    def losses(self, out: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        parts = {}
        for name, weight in self.loss_weights.items():
            if weight == 0 or name not in out or name not in batch:
                continue
            pred, target = out[name], batch[name].to(out[name].dtype)
            n = common_frames(pred.shape[-1], target.shape[-1], f"model output '{name}' vs. its labels")
            if name == "velocity" and "frame" in batch:  # only where a note sounds (0 in silence)
                # A masked mean, not pred[on]: boolean indexing waits for the device to count `on`.
                on = (batch["frame"][..., :n] > 0.5).to(pred.dtype)
                bce = nn.functional.binary_cross_entropy_with_logits(pred[..., :n], target[..., :n], reduction="none")
                parts[name] = weight * (bce * on).sum() / on.sum().clamp_min(1.0)
                continue
            pos_weight = self.pos_weight.get(name, 1.0) if isinstance(self.pos_weight, dict) else self.pos_weight
            parts[name] = weight * sparse_bce(pred[..., :n], target[..., :n], pos_weight, self.focal_gamma)
        if not parts:
            raise ConfigError(
                f"The dataset gives no target this model can learn from: the net predicts "
                f"{sorted(out)}, the batch holds {sorted(k for k in batch if k not in ('audio', 'features'))} "
                f"and loss_weights selects {sorted(k for k, w in self.loss_weights.items() if w)}. "
                f"Pick a dataset with pitch labels (data=synth, maestro or rendered) for this model; "
                f"Medley-solos-DB carries instrument labels only."
            )
        return parts

    def _step(self, batch: Mapping[str, torch.Tensor], stage: str) -> tuple[torch.Tensor, dict]:
        out = self(self.inputs(batch))
        parts = self.losses(out, batch)
        loss = torch.stack(list(parts.values())).sum()
        bs = next(iter(batch.values())).shape[0]
        if stage == "train":
            self.log_train({"loss": loss, **{f"loss_{k}": v for k, v in parts.items()}}, bs)
            return loss, out
        self.log(f"{stage}/loss", loss, prog_bar=True, on_epoch=True, batch_size=bs, sync_dist=True)
        for name, value in parts.items():
            self.log(f"{stage}/loss_{name}", value, on_epoch=True, batch_size=bs, sync_dist=True)
        return loss, out

    # -- Lightning hooks ---------------------------------------------------------------------
    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self._step(batch, "train")
        return loss

    def _eval_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int, stage: str) -> None:
        _, out = self._step(batch, stage)
        if "frame" in out and "frame" in batch:
            probs = torch.sigmoid(out["frame"].float())
            n = common_frames(probs.shape[-1], batch["frame"].shape[-1], "model output 'frame' vs. its labels")
            metric = self.val_frame if stage == "val" else self.test_frame
            metric.update(probs[..., :n], batch["frame"][..., :n])
            if self.note_metrics:
                self._collect_note_clips(out, batch, n, stage)
        if stage == "val" and batch_idx == 0:
            keep = {k: torch.sigmoid(v[:4].float()) for k, v in out.items()}
            keep.update({f"target_{k}": v[:4] for k, v in batch.items() if k not in ("audio", "features")})
            keep["input"] = self.inputs({k: v[:4] for k, v in batch.items()})
            if "audio" in batch:
                keep["audio"] = batch["audio"][:4]
            self.keep_figure_batch(keep)

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
        self._log_note_metrics("val", tune=self.tune_thresholds and not self.trainer.sanity_checking)

    def on_test_epoch_start(self) -> None:
        self.test_frame.threshold = float(self.decode_thresholds[0])

    def on_test_epoch_end(self) -> None:
        self._log_frame_metrics(self.test_frame, "test")
        self._log_note_metrics("test", tune=False)

    # -- notes: decoding, note metrics, threshold tuning --------------------------------------
    @staticmethod
    def _default_thresholds(module, state_dict, prefix, *args, **kwargs) -> None:
        """Checkpoints written before thresholds (or the offset threshold) were stored load with
        the configured ones for what they lack."""
        key = prefix + "decode_thresholds"
        default = module.decode_thresholds.detach().clone()
        stored = state_dict.get(key, default[:0])
        state_dict[key] = torch.cat([stored.to(default.dtype), default[len(stored):]])

    def decode_params(self, **overrides: Any) -> DecodeParams:
        """The decision rule this model was validated with (tuned thresholds included)."""
        return DecodeParams.from_config(self.decoding, self.decode_thresholds.tolist(), **overrides)

    def _collect_note_clips(self, out: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor], n: int, stage: str) -> None:
        clips = self._note_clips[stage]
        room = self.note_eval_clips - len(clips)
        if room <= 0:
            return
        probs = {k: torch.sigmoid(out[k][:room, :, :n].float()).cpu().numpy().astype(np.float16)
                 for k in ("frame", "onset", "offset", "velocity") if k in out}
        targets = {f"target_{k}": (batch[k][:room, :, :n] >= 0.5).cpu().numpy()
                   for k in ("frame", "onset") if k in batch}
        for i in range(probs["frame"].shape[0]):
            clips.append({**{k: v[i] for k, v in probs.items()}, **{k: v[i] for k, v in targets.items()}})

    def _log_note_metrics(self, stage: str, tune: bool) -> None:
        clips = self._note_clips[stage]
        self._note_clips[stage] = []
        if not clips:
            return
        fr, min_midi = self.features.frame_rate, self.decoding["min_midi"]
        refs = [reference_notes(c, fr, min_midi) for c in clips]
        if tune:
            tuned = tune_thresholds(clips, refs, self.decode_params(), fr, self.threshold_grid, self.frame_threshold_for)
            self.decode_thresholds.copy_(torch.tensor(tuned))
        scores = score_clips(clips, refs, self.decode_params(), fr)
        for key in ("note_f1", "note_precision", "note_recall", "note_offset_f1"):
            self.log(f"{stage}/{key}", scores[key], prog_bar=(key == "note_f1"), sync_dist=True)
        if stage == "val":
            self.log("val/frame_f1_tuned", scores["frame_f1_at_threshold"], sync_dist=True)
            self.log("val/frame_f1_notes", scores["frame_f1_notes"], sync_dist=True)
            self.log("val/threshold_frame", float(self.decode_thresholds[0]), sync_dist=True)
            self.log("val/threshold_onset", float(self.decode_thresholds[1]), sync_dist=True)
            self.log("val/threshold_offset", float(self.decode_thresholds[2]), sync_dist=True)
