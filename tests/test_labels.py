import numpy as np

from wavespace.labels import (
    Notes,
    bin_frequencies,
    hz_to_midi,
    midi_to_hz,
    notes_to_roll,
    notes_to_salience,
)


def test_roll_known_answer():
    # A4 from 0.5 s to 1.0 s and C4 from 0.1 s to 0.2 s at 100 frames/s.
    notes = Notes.from_arrays([0.5, 0.1], [1.0, 0.2], [69, 60], [127, 64])
    roll = notes_to_roll(notes, n_frames=120, frame_rate=100.0)
    a4, c4 = 69 - 21, 60 - 21
    assert np.flatnonzero(roll["frame"][a4]).tolist() == list(range(50, 100))
    assert np.flatnonzero(roll["frame"][c4]).tolist() == list(range(10, 20))
    assert np.flatnonzero(roll["onset"][a4]).tolist() == [50]
    assert np.flatnonzero(roll["offset"][a4]).tolist() == [100]
    assert roll["velocity"][a4, 60] == 1.0 and abs(roll["velocity"][c4, 15] - 64 / 127) < 1e-6
    assert roll["frame"].sum() == 60


def test_roll_clips_notes_at_clip_edges_and_drops_out_of_range_keys():
    notes = Notes.from_arrays([-0.2, 0.9, 0.0], [0.1, 2.0, 0.5], [60, 61, 10])
    roll = notes_to_roll(notes, n_frames=100, frame_rate=100.0)
    assert roll["onset"][60 - 21].sum() == 0  # started before the clip: no onset label
    assert roll["frame"][60 - 21, :10].all()
    assert roll["frame"][61 - 21, 90:].all() and roll["offset"][61 - 21].sum() == 0
    assert roll["frame"].sum() == 10 + 10  # MIDI 10 is below the keyboard


def test_very_short_note_still_labels_one_frame():
    roll = notes_to_roll(Notes.from_arrays([0.501], [0.502], [69]), 100, 100.0)
    assert roll["frame"].sum() == 1 and roll["onset"].sum() == 1


def test_salience_peaks_on_the_bin_of_the_pitch():
    fmin, bpo, n_bins = 27.5, 36, 264
    sal = notes_to_salience(Notes.from_arrays([0.0], [1.0], [69.0]), 100, 100.0, fmin, bpo, n_bins)
    freqs = bin_frequencies(fmin, bpo, n_bins)
    peak = sal[:, 50].argmax()
    assert abs(freqs[peak] - 440.0) < 1e-6 and sal[peak, 50] == 1.0
    # A Gaussian of sigma 1 bin, cut at 3 sigma: exp(-d^2 / 2) at d bins, on both sides.
    expected = np.exp(-0.5 * np.arange(4) ** 2)
    np.testing.assert_allclose(sal[peak : peak + 4, 50], expected, rtol=1e-6)
    np.testing.assert_allclose(sal[peak - 3 : peak + 1, 50], expected[::-1], rtol=1e-6)
    assert sal[peak + 4, 50] == 0 and sal[peak - 4, 50] == 0


def test_midi_hz_roundtrip():
    midi = np.array([21.0, 60.5, 108.0])
    assert np.allclose(hz_to_midi(midi_to_hz(midi)), midi)
