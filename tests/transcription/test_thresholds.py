"""Threshold tuning picks the grid point that scores best, on clips built so that one does."""

from __future__ import annotations

import numpy as np
import pytest

from wavespace.transcription.decoding import DecodeParams
from wavespace.transcription.thresholds import (
    THRESHOLD_GRID,
    reference_notes,
    score_clips,
    tune_thresholds,
)

FR = 22050 / 256
KEYS, FRAMES = 16, 100
NOTE, NOISE, GHOST = 5, 9, 12  # keys: a real note, frame noise, a spurious onset


def _clip(true_frame: float, noise_frame: float, true_onset: float, ghost_onset: float) -> dict:
    """One reference note (key NOTE, frames 10..29). The activations hold it at ``true_frame``
    with an onset peak ``true_onset``; frame noise without onset at ``noise_frame`` on another key
    (frames 40..59); and a ghost note (frames 70..89) with the note's frame level but a weaker
    onset ``ghost_onset``. So the best onset threshold lies in (ghost_onset, true_onset] and the
    best frame threshold in (noise_frame, true_frame]: each range holds one grid point."""
    target_frame = np.zeros((KEYS, FRAMES), bool)
    target_onset = np.zeros((KEYS, FRAMES), bool)
    target_frame[NOTE, 10:30], target_onset[NOTE, 10] = True, True
    frame = np.zeros((KEYS, FRAMES), np.float32)
    onset = np.zeros((KEYS, FRAMES), np.float32)
    frame[NOTE, 10:30], onset[NOTE, 10] = true_frame, true_onset
    frame[NOISE, 40:60] = noise_frame
    frame[GHOST, 70:90], onset[GHOST, 70] = true_frame, ghost_onset
    return {"frame": frame, "onset": onset, "target_frame": target_frame, "target_onset": target_onset}


@pytest.mark.parametrize("levels,expected", [
    ((0.55, 0.45, 0.65, 0.55), (0.5, 0.6)),
    ((0.35, 0.25, 0.25, 0.15), (0.3, 0.2)),
    ((0.75, 0.65, 0.45, 0.35), (0.7, 0.4)),
])
def test_tuning_picks_the_one_grid_point_that_separates_note_from_noise(levels, expected):
    clip = _clip(*levels)
    refs = [reference_notes(clip, FR, 21)]
    assert len(refs[0]) == 1 and refs[0].pitch[0] == 21 + NOTE
    base = DecodeParams(frame_threshold=0.1, onset_threshold=0.5)  # below every frame level
    tuned = tune_thresholds([clip, clip], refs * 2, base, FR, THRESHOLD_GRID)
    assert tuned == (*expected, base.offset_threshold)  # no offset head: its threshold is left alone
    best = score_clips([clip], refs, base.with_thresholds(*expected), FR)
    assert best["note_f1"] == 1.0 and best["note_offset_f1"] == 1.0
    assert best["frame_f1_at_threshold"] == pytest.approx(2 / 3)  # the ghost's frames remain

    # Every other grid point scores lower on the objective the tuner maximises.
    def objective(f: float, o: float) -> float:
        s = score_clips([clip], refs, base.with_thresholds(f, o), FR)
        return s["note_offset_f1"] + s["frame_f1_at_threshold"]
    others = [objective(f, expected[1]) for f in THRESHOLD_GRID if f != expected[0]]
    assert max(others) < objective(*expected)


def test_without_an_onset_head_only_the_frame_threshold_is_tuned():
    clip = _clip(0.55, 0.45, 0.65, 0.55)
    refs = [reference_notes(clip, FR, 21)]
    no_onset = {k: v for k, v in clip.items() if k != "onset"}
    base = DecodeParams(frame_threshold=0.1, onset_threshold=0.37)
    frame_t, onset_t, _ = tune_thresholds([no_onset], refs, base, FR)
    # Notes come from frame runs: 0.5 drops the noise (0.45); the ghost sits at the note's level.
    assert onset_t == 0.37 and frame_t == 0.5


def test_unknown_frame_objective_is_refused():
    clip = _clip(0.55, 0.45, 0.65, 0.55)
    with pytest.raises(ValueError, match="frame_for"):
        tune_thresholds([clip], [reference_notes(clip, FR, 21)], DecodeParams(), FR, frame_for="loss")
