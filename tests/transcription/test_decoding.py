"""Decoding: known rolls decode to known notes and back; MIDI round trips; note metrics."""

from __future__ import annotations

import numpy as np
import pytest

from wavespace.data.midi import load_notes, write_midi
from wavespace.labels import Notes, notes_to_roll
from wavespace.transcription.decoding import DecodeParams, decode_notes, onset_peaks
from wavespace.transcription.metrics import note_scores, notes_frame_scores, transcription_scores

FR = 22050 / 256


def _known_notes() -> Notes:
    # Includes a re-struck key (60 at 0.5 and again at 1.0, legato), a chord, a short note.
    return Notes.from_arrays(
        onset=[0.10, 0.50, 0.50, 1.00, 1.20, 1.60],
        offset=[0.45, 1.00, 0.90, 1.40, 1.26, 1.95],
        pitch=[48, 60, 64, 60, 72, 100],
        velocity=[30, 64, 90, 100, 127, 50],
    )


def _quantized(notes: Notes) -> Notes:
    on = np.round(notes.onset * FR) / FR
    off = np.maximum(np.round(notes.offset * FR), np.round(notes.onset * FR) + 1) / FR
    return Notes.from_arrays(on, off, notes.pitch, notes.velocity)


def _sorted(n: Notes) -> np.ndarray:
    arr = np.stack([n.onset, n.pitch, n.offset, n.velocity], 1)
    return arr[np.lexsort((arr[:, 1], arr[:, 0]))]


def test_known_roll_decodes_to_known_notes_and_back():
    notes = _known_notes()
    n_frames = int(2.2 * FR)
    roll = notes_to_roll(notes, n_frames, FR)
    est = decode_notes(roll["frame"], roll["onset"], FR, DecodeParams(min_duration=0.0), roll["velocity"])
    np.testing.assert_allclose(_sorted(est)[:, :3], _sorted(_quantized(notes))[:, :3], atol=1e-9)
    np.testing.assert_allclose(_sorted(est)[:, 3], _sorted(notes)[:, 3], atol=1)
    again = notes_to_roll(est, n_frames, FR)
    for key in ("frame", "onset"):
        np.testing.assert_array_equal(again[key], roll[key])
    assert note_scores(notes, est)["note_offset_f1"] == 1.0


def test_soft_activations_thresholds_and_min_duration():
    notes = _known_notes()
    roll = notes_to_roll(notes, int(2.2 * FR), FR)
    rng = np.random.default_rng(0)
    frame = np.clip(0.8 * roll["frame"] + 0.3 * rng.random(roll["frame"].shape), 0, 1)
    onset = np.clip(0.9 * roll["onset"] + 0.2 * rng.random(roll["onset"].shape), 0, 1)
    est = decode_notes(frame, onset, FR, DecodeParams(frame_threshold=0.5, onset_threshold=0.6))
    assert note_scores(notes, est)["note_f1"] == 1.0
    # The 60 ms note (key 72) disappears with a 100 ms minimum duration, nothing else does.
    est_long = decode_notes(frame, onset, FR, DecodeParams(0.5, 0.6, min_duration=0.1))
    assert len(est_long) == len(notes) - 1 and 72 not in est_long.pitch
    # An onset threshold above every peak yields no notes; without onsets, frame runs do.
    assert len(decode_notes(frame, onset, FR, DecodeParams(0.5, 1.01))) == 0
    frame_only = decode_notes(roll["frame"], None, FR, DecodeParams(min_duration=0.0))
    assert set(frame_only.pitch) == set(notes.pitch)


def test_onset_peaks_take_one_frame_per_peak():
    onset = np.array([[0.0, 0.6, 0.9, 0.7, 0.2, 0.8, 0.8, 0.1]])
    assert np.nonzero(onset_peaks(onset, 0.5, "peak")[0])[0].tolist() == [2, 5]
    assert np.nonzero(onset_peaks(onset, 0.5, "edge")[0])[0].tolist() == [1, 5]
    with pytest.raises(ValueError, match="onset_mode"):
        onset_peaks(onset, 0.5, "nope")


def test_midi_written_and_read_back_gives_the_same_notes(tmp_path):
    notes = _known_notes()
    path = write_midi(notes, tmp_path / "out" / "song.mid")
    back = load_notes(path, sustain=False, allow_empty=True)
    np.testing.assert_allclose(_sorted(back), _sorted(notes), atol=2e-3)  # MIDI tick resolution
    import mido

    assert sum(m.type == "note_on" and m.velocity > 0 for m in mido.MidiFile(path)) == len(notes)


def test_note_metrics_follow_mir_eval_tolerances():
    ref = Notes.from_arrays([1.0], [2.0], [60])
    assert note_scores(ref, Notes.from_arrays([1.04], [2.0], [60]))["note_f1"] == 1.0
    assert note_scores(ref, Notes.from_arrays([1.06], [2.0], [60]))["note_f1"] == 0.0
    assert note_scores(ref, Notes.from_arrays([1.0], [2.0], [61]))["note_f1"] == 0.0
    # Offset tolerance max(50 ms, 0.2 x 1 s) = 200 ms.
    assert note_scores(ref, Notes.from_arrays([1.0], [2.19], [60]))["note_offset_f1"] == 1.0
    assert note_scores(ref, Notes.from_arrays([1.0], [2.25], [60]))["note_offset_f1"] == 0.0
    half = note_scores(ref, Notes.from_arrays([1.0, 1.5], [2.0, 1.7], [60, 70]))
    assert half["note_precision"] == 0.5 and half["note_recall"] == 1.0
    assert note_scores(Notes.empty(), Notes.empty())["note_f1"] == 1.0
    assert note_scores(ref, Notes.empty())["note_f1"] == 0.0
    frame = notes_frame_scores(ref, Notes.from_arrays([1.5], [2.0], [60]))
    assert frame["frame_precision"] == 1.0 and 0.45 < frame["frame_recall"] < 0.55
    assert set(transcription_scores(ref, ref)) >= {"frame_f1", "note_f1", "note_offset_f1"}


def test_note_with_velocity_scores_follow_mir_eval():
    """Velocity counts after mir_eval's least-squares rescaling: an estimate whose velocities are
    any increasing linear map of the reference's scores 1; one with the loudness order scrambled
    loses the notes whose rescaled velocity misses by 0.1 or more; onsets still rule first."""
    from wavespace.transcription.metrics import note_velocity_scores

    ref = Notes.from_arrays([0.0, 1.0, 2.0, 3.0], [0.5, 1.5, 2.5, 3.5], [60, 62, 64, 65], [30, 60, 90, 120])
    scaled = Notes(ref.onset, ref.offset, ref.pitch, ref.velocity / 2 + 10)
    assert note_velocity_scores(ref, scaled) == dict.fromkeys(
        ("note_velocity_precision", "note_velocity_recall", "note_velocity_f1", "note_offset_velocity_f1"), 1.0)
    scrambled = Notes(ref.onset, ref.offset, ref.pitch, np.array([120.0, 30, 90, 60]))
    worse = note_velocity_scores(ref, scrambled)
    assert worse["note_velocity_f1"] < 1.0 and note_scores(ref, scrambled)["note_f1"] == 1.0
    late = Notes(ref.onset + 0.1, ref.offset, ref.pitch, ref.velocity)
    assert note_velocity_scores(ref, late)["note_velocity_f1"] == 0.0
    assert note_velocity_scores(Notes.empty(), Notes.empty())["note_velocity_f1"] == 1.0
    assert "note_velocity_f1" in transcription_scores(ref, ref, velocity=True)
    assert "note_velocity_f1" not in transcription_scores(ref, ref)
