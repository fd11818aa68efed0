"""Decision thresholds tuned on validation clips: the rule that turns activations into notes.

Precision far above recall (or the reverse) at a fixed 0.5 is the commonest way a transcriber
under-reports itself, so the frame, onset and offset thresholds are chosen on the validation
split and stored in the checkpoint. Tuning is a grid search over :data:`THRESHOLD_GRID` on clips
kept as numpy arrays ({"frame", "onset"?, "offset"?, "velocity"?, "target_frame",
"target_onset"?}, each [keys, T]).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from wavespace.labels import Notes, notes_to_roll
from wavespace.transcription.decoding import DecodeParams, decode_notes
from wavespace.transcription.metrics import (
    mean_scores,
    note_scores,
    roll_counts,
    scores_from_counts,
)

THRESHOLD_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
# An offset threshold no probability reaches: notes end by the frame rule alone. Tuning tries it
# first, so an offset head that does not help on validation leaves decoding as it was.
OFFSETS_OFF = 1.01
FRAME_OBJECTIVES = ("activations", "notes")

Clip = Mapping[str, np.ndarray]


def _f32(x: np.ndarray | None) -> np.ndarray | None:
    return None if x is None else x.astype(np.float32)


def reference_notes(clip: Clip, frame_rate: float, min_midi: int) -> Notes:
    """Notes of a target roll: onsets where the onset target says, held while the frame is on."""
    params = DecodeParams(0.5, 0.5, min_duration=0.0, onset_mode="edge", min_midi=min_midi)
    return decode_notes(clip["target_frame"].astype(np.float32), _f32(clip.get("target_onset")), frame_rate, params)


def score_clips(clips: Sequence[Clip], refs: Sequence[Notes], params: DecodeParams,
                frame_rate: float) -> dict[str, float]:
    """Mean mir_eval note scores, plus two pooled frame F1s: of the activations at the frame
    threshold (``frame_f1_at_threshold``) and of the decoded notes' frames (``frame_f1_notes``:
    what transcribe writes and evaluate scores)."""
    rows, counts = [], np.zeros((2, 3))  # [activations >= threshold, decoded notes] x [tp, ref, est]
    for clip, ref in zip(clips, refs):
        est = decode_notes(clip["frame"].astype(np.float32), _f32(clip.get("onset")), frame_rate, params,
                           _f32(clip.get("velocity")), _f32(clip.get("offset")))
        rows.append(note_scores(ref, est))
        target = clip["target_frame"]
        counts[0] += roll_counts(target, clip["frame"] >= params.frame_threshold)
        roll = notes_to_roll(est, target.shape[1], frame_rate, params.min_midi, target.shape[0])["frame"]
        counts[1] += roll_counts(target, roll >= 0.5)
    scores = mean_scores(rows)
    scores["frame_f1_at_threshold"] = scores_from_counts(*counts[0])["f1"]
    scores["frame_f1_notes"] = scores_from_counts(*counts[1])["f1"]
    return scores


def tune_thresholds(clips: Sequence[Clip], refs: Sequence[Notes], base: DecodeParams, frame_rate: float,
                    grid: Sequence[float] = THRESHOLD_GRID,
                    frame_for: str = "activations") -> tuple[float, float, float]:
    """(frame, onset, offset) thresholds: the onset threshold that maximises note-onset F1, then
    the frame threshold that maximises note-with-offset F1 plus the frame F1 that ``frame_for``
    names (``activations``: the thresholded activations; ``notes``: the decoded notes' frames),
    then, for clips with an offset head, the offset threshold (or :data:`OFFSETS_OFF`) that
    maximises the same sum. Thresholds a model has no head for stay at ``base``'s."""
    if frame_for not in FRAME_OBJECTIVES:
        raise ValueError(f"frame_for must be one of {FRAME_OBJECTIVES}, not {frame_for!r}")
    rule = base.with_thresholds(offset=OFFSETS_OFF)  # offsets wait for their turn
    onset_t = base.onset_threshold
    if "onset" in clips[0]:
        onset_t = max(grid, key=lambda t: score_clips(clips, refs, rule.with_thresholds(onset=t), frame_rate)["note_f1"])
    frame_key = "frame_f1_notes" if frame_for == "notes" else "frame_f1_at_threshold"

    def objective(params: DecodeParams) -> float:
        s = score_clips(clips, refs, params, frame_rate)
        return s["note_offset_f1"] + s[frame_key]

    rule = rule.with_thresholds(onset=onset_t)
    frame_t = max(grid, key=lambda t: objective(rule.with_thresholds(frame=t)))
    offset_t = base.offset_threshold
    if "offset" in clips[0]:
        offset_t = max((OFFSETS_OFF, *grid), key=lambda t: objective(rule.with_thresholds(frame=frame_t, offset=t)))
    return float(frame_t), float(onset_t), float(offset_t)
