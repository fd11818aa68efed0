"""Transcription and multipitch metrics: every mir_eval call of the project lives here.

Frame metrics follow ``mir_eval.multipitch`` (a pitch is correct within 50 cents; counts are
summed over all frames before the ratios are taken, "macro" as mir_eval says). We accumulate
the raw counts (true positives, reference and estimate pitch counts) so that batches, clips
and DDP ranks can be combined exactly before the ratios are formed.
"""

from __future__ import annotations

import mir_eval
import numpy as np
import torch
from torchmetrics import Metric

from wavespace.labels import midi_to_hz


def roll_to_frequencies(roll: np.ndarray, min_midi: int = 21) -> list[np.ndarray]:
    """Active keys of a boolean roll [n_keys, n_frames] as a list (per frame) of Hz arrays."""
    keys, frames = np.nonzero(np.asarray(roll, dtype=bool))
    hz = midi_to_hz(keys + min_midi)
    order = np.argsort(frames, kind="stable")
    split = np.searchsorted(frames[order], np.arange(1, roll.shape[1]))
    return np.split(hz[order], split)


def frame_counts(ref_roll: np.ndarray, est_roll: np.ndarray, min_midi: int = 21) -> np.ndarray:
    """[true positives, number of reference pitches, number of estimated pitches], via mir_eval."""
    ref = mir_eval.multipitch.frequencies_to_midi(roll_to_frequencies(ref_roll, min_midi))
    est = mir_eval.multipitch.frequencies_to_midi(roll_to_frequencies(est_roll, min_midi))
    tp = mir_eval.multipitch.compute_num_true_positives(ref, est).sum()
    n_ref = mir_eval.multipitch.compute_num_freqs(ref).sum()
    n_est = mir_eval.multipitch.compute_num_freqs(est).sum()
    return np.array([tp, n_ref, n_est], dtype=np.float64)


def scores_from_counts(tp: float, n_ref: float, n_est: float) -> dict[str, float]:
    """Precision, recall, F1 and frame accuracy TP / (TP + FP + FN), from mir_eval's formulas."""
    if n_est == 0 or n_ref == 0:  # mir_eval warns and scores 0 there; say so without the noise
        precision = tp / n_est if n_est > 0 else 0.0
        recall = tp / n_ref if n_ref > 0 else 0.0
        denom = n_est + n_ref - tp
        accuracy = tp / denom if denom > 0 else 0.0
    else:
        precision, recall, accuracy = mir_eval.multipitch.compute_accuracy(
            np.array([tp]), np.array([n_ref]), np.array([n_est])
        )
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1), "accuracy": float(accuracy)}


def frame_scores(ref_roll: np.ndarray, est_roll: np.ndarray, min_midi: int = 21) -> dict[str, float]:
    return scores_from_counts(*frame_counts(ref_roll, est_roll, min_midi))


class FrameMetrics(Metric):
    """Torchmetrics wrapper: accumulates mir_eval frame counts, sums them across DDP ranks."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, min_midi: int = 21, threshold: float = 0.5) -> None:
        super().__init__()
        self.min_midi, self.threshold = int(min_midi), float(threshold)
        self.add_state("counts", default=torch.zeros(3, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, probs: torch.Tensor, target: torch.Tensor) -> None:
        """probs, target: [B, n_keys, T]."""
        est = (probs.detach() >= self.threshold).cpu().numpy()
        ref = (target.detach() >= 0.5).cpu().numpy()
        total = sum(frame_counts(r, e, self.min_midi) for r, e in zip(ref, est))
        self.counts += torch.as_tensor(total, dtype=torch.float64, device=self.counts.device)

    def compute(self) -> dict[str, torch.Tensor]:
        scores = scores_from_counts(*self.counts.tolist())
        return {k: torch.tensor(v) for k, v in scores.items()}
