"""Transcription and multipitch metrics: every mir_eval call of the project lives here.

Frame metrics follow ``mir_eval.multipitch`` (a pitch is correct within 50 cents; counts are
summed over all frames before the ratios are taken, "macro" as mir_eval says). We accumulate
the raw counts (true positives, reference and estimate pitch counts) so that batches, clips
and DDP ranks can be combined exactly before the ratios are formed.
"""

from __future__ import annotations

import mir_eval
import mir_eval.transcription_velocity
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


def multipitch_counts(ref_freqs: list[np.ndarray], est_freqs: list[np.ndarray]) -> np.ndarray:
    """[true positives, reference pitches, estimated pitches] of frame-aligned pitch lists (Hz),
    via mir_eval.multipitch (correct within 50 cents). Both lists have one array per frame."""
    if len(ref_freqs) != len(est_freqs):
        raise ValueError(f"{len(ref_freqs)} reference frames but {len(est_freqs)} estimated frames")
    ref = mir_eval.multipitch.frequencies_to_midi([np.asarray(f, float) for f in ref_freqs])
    est = mir_eval.multipitch.frequencies_to_midi([np.asarray(f, float) for f in est_freqs])
    tp = mir_eval.multipitch.compute_num_true_positives(ref, est).sum()
    n_ref = mir_eval.multipitch.compute_num_freqs(ref).sum()
    n_est = mir_eval.multipitch.compute_num_freqs(est).sum()
    return np.array([tp, n_ref, n_est], dtype=np.float64)


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


# -- Note-level metrics (mir_eval.transcription) ------------------------------------------------
# Conventions of the MAESTRO / Onsets and Frames literature: onset tolerance 50 ms, pitch within
# 50 cents, offset tolerance max(50 ms, 0.2 x reference duration); scores per piece, then averaged.

NOTE_ONSET_TOLERANCE = 0.05
NOTE_OFFSET_RATIO = 0.2
NOTE_OFFSET_MIN_TOLERANCE = 0.05


def notes_to_intervals(notes) -> tuple[np.ndarray, np.ndarray]:
    """(intervals [N, 2] in seconds, pitches in Hz) for mir_eval; zero-length notes get 1 ms."""
    onset = np.asarray(notes.onset, dtype=np.float64)
    offset = np.maximum(np.asarray(notes.offset, dtype=np.float64), onset + 1e-3)
    intervals = np.stack([onset, offset], axis=1) if len(onset) else np.zeros((0, 2))
    return intervals, midi_to_hz(np.asarray(notes.pitch, dtype=np.float64))


def note_scores(ref, est) -> dict[str, float]:
    """Note-onset and note-with-offset precision / recall / F1 of ``est`` against ``ref`` (Notes).

    With no reference notes and no estimates, all scores are 1 (nothing to find, nothing
    invented); with only one side empty they are 0, as mir_eval scores them.
    """
    import warnings

    keys = ("note_precision", "note_recall", "note_f1",
            "note_offset_precision", "note_offset_recall", "note_offset_f1")
    if len(ref) == 0 or len(est) == 0:
        value = 1.0 if len(ref) == len(est) else 0.0
        return dict.fromkeys(keys, value)
    ref_iv, ref_hz = notes_to_intervals(ref)
    est_iv, est_hz = notes_to_intervals(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
            ref_iv, ref_hz, est_iv, est_hz, onset_tolerance=NOTE_ONSET_TOLERANCE, offset_ratio=None)
        po, ro, fo, _ = mir_eval.transcription.precision_recall_f1_overlap(
            ref_iv, ref_hz, est_iv, est_hz, onset_tolerance=NOTE_ONSET_TOLERANCE,
            offset_ratio=NOTE_OFFSET_RATIO, offset_min_tolerance=NOTE_OFFSET_MIN_TOLERANCE)
    return dict(zip(keys, map(float, (p, r, f, po, ro, fo))))


VELOCITY_TOLERANCE = 0.1  # mir_eval's default, as in the MAESTRO paper


def note_velocity_scores(ref, est) -> dict[str, float]:
    """Note-with-velocity precision / recall / F1 and note-with-offset-and-velocity F1
    (``mir_eval.transcription_velocity``, the MAESTRO paper's measures).

    A note counts when it matches in onset (50 ms) and pitch (and offset, for the second) and its
    velocity, after mir_eval rescales the estimates by least squares onto the reference
    velocities normalised to [0, 1], is within 0.1 of the reference. Only meaningful for a model
    with a velocity head (the caller decides); a reference with one velocity for every note
    makes it equal to the note F1. Empty sides score as in ``note_scores``.
    """
    import warnings

    keys = ("note_velocity_precision", "note_velocity_recall", "note_velocity_f1", "note_offset_velocity_f1")
    if len(ref) == 0 or len(est) == 0:
        return dict.fromkeys(keys, 1.0 if len(ref) == len(est) else 0.0)
    ref_iv, ref_hz = notes_to_intervals(ref)
    est_iv, est_hz = notes_to_intervals(est)
    ref_v, est_v = np.asarray(ref.velocity, np.float64), np.asarray(est.velocity, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, _ = mir_eval.transcription_velocity.precision_recall_f1_overlap(
            ref_iv, ref_hz, ref_v, est_iv, est_hz, est_v, onset_tolerance=NOTE_ONSET_TOLERANCE,
            offset_ratio=None, velocity_tolerance=VELOCITY_TOLERANCE)
        _, _, fo, _ = mir_eval.transcription_velocity.precision_recall_f1_overlap(
            ref_iv, ref_hz, ref_v, est_iv, est_hz, est_v, onset_tolerance=NOTE_ONSET_TOLERANCE,
            offset_ratio=NOTE_OFFSET_RATIO, offset_min_tolerance=NOTE_OFFSET_MIN_TOLERANCE,
            velocity_tolerance=VELOCITY_TOLERANCE)
    return dict(zip(keys, map(float, (p, r, f, fo))))


def notes_frame_scores(ref, est, frame_rate: float = 100.0, min_midi: int = 21, n_keys: int = 88) -> dict[str, float]:
    """Frame metrics of two note lists, both rendered to rolls at ``frame_rate``.

    Scores what a transcription *says* (its notes), so models and external systems that only
    deliver MIDI (basic-pitch) are compared on equal terms.
    """
    from wavespace.labels import notes_to_roll

    end = max([0.0, *np.asarray(ref.offset).tolist(), *np.asarray(est.offset).tolist()])
    n_frames = int(np.ceil(end * frame_rate)) + 1
    ref_roll = notes_to_roll(ref, n_frames, frame_rate, min_midi, n_keys)["frame"]
    est_roll = notes_to_roll(est, n_frames, frame_rate, min_midi, n_keys)["frame"]
    return {f"frame_{k}": v for k, v in frame_scores(ref_roll, est_roll, min_midi).items()}


def transcription_scores(ref, est, frame_rate: float = 100.0, min_midi: int = 21,
                         velocity: bool = False) -> dict[str, float]:
    """Everything reported per piece: frame P/R/F1/accuracy from notes, note onset and offset
    scores, and (``velocity=True``: the estimate's velocities come from a velocity head) the
    note-with-velocity scores."""
    scores = {**notes_frame_scores(ref, est, frame_rate, min_midi), **note_scores(ref, est)}
    return {**scores, **note_velocity_scores(ref, est)} if velocity else scores


def roll_counts(ref_roll: np.ndarray, est_roll: np.ndarray) -> np.ndarray:
    """[tp, n_ref, n_est] of boolean rolls on the same key grid, vectorized.

    Equal to ``frame_counts`` whenever pitches are whole keys (50-cent tolerance never reaches
    a neighbour key); used where thresholds are swept and mir_eval per frame would be slow.
    """
    ref, est = np.asarray(ref_roll, dtype=bool), np.asarray(est_roll, dtype=bool)
    return np.array([(ref & est).sum(), ref.sum(), est.sum()], dtype=np.float64)


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    """Per-piece average of each score (the standard way to report transcription metrics)."""
    if not rows:
        return {}
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
