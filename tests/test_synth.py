import numpy as np
import pytest

from wavespace.data.synth import SynthDataset
from wavespace.labels import hz_to_midi


def test_items_are_deterministic_per_index_and_seed():
    a, b = SynthDataset(length=10, seed=3), SynthDataset(length=10, seed=3)
    assert np.array_equal(a[7]["audio"], b[7]["audio"])
    assert np.array_equal(a[7]["salience"], b[7]["salience"])
    assert not np.array_equal(a[7]["audio"], a[6]["audio"])
    assert not np.array_equal(a[7]["audio"], SynthDataset(length=10, seed=4)[7]["audio"])


def test_shapes_follow_the_geometry():
    item = SynthDataset(length=1, hop_length=512, clip_seconds=1.0, n_bins=252)[0]
    assert item["audio"].shape == (22050,)
    assert item["salience"].shape == (252, 22050 // 512 + 1)
    for key in ("frame", "onset", "offset", "velocity"):
        assert item[key].shape == (88, 44)
    assert np.isfinite(item["audio"]).all() and np.abs(item["audio"]).max() <= 1.0


@pytest.mark.parametrize("index", range(6))
def test_labelled_f0_is_where_the_spectral_peak_is(index):
    ds = SynthDataset(length=10, seed=11, max_polyphony=1, notes_per_voice=(1, 1), vibrato_prob=0.0,
                      noise_prob=0.0, duration_range=(0.6, 0.8), pitch_range=(40.0, 90.0))
    audio, notes, _ = ds.generate(index)
    sr = ds.sample_rate
    start, end = int((notes.onset[0] + 0.1) * sr), int((notes.offset[0] - 0.05) * sr)
    seg = audio[start:end] * np.hanning(end - start)
    spectrum = np.abs(np.fft.rfft(seg, n=1 << 17))
    freqs = np.fft.rfftfreq(1 << 17, 1 / sr)
    peak = freqs[spectrum.argmax()]
    assert abs(hz_to_midi(peak) - notes.pitch[0]) < 0.15  # within 15 cents
    # ... and the salience target peaks at the same pitch.
    item = ds[index]
    frame = int((notes.onset[0] + notes.offset[0]) / 2 * ds.frame_rate)
    peak_bin = item["salience"][:, frame].argmax()
    assert abs(hz_to_midi(27.5) + peak_bin / 3 - notes.pitch[0]) <= 1 / 6 + 1e-9


def test_polyphony_and_continuous_pitches():
    ds = SynthDataset(length=64, seed=0, max_polyphony=4)
    pitches = np.concatenate([ds.generate(i)[1].pitch for i in range(16)])
    assert np.abs(pitches - np.round(pitches)).mean() > 0.1  # not snapped to MIDI notes
    max_active = max(ds[i]["frame"].sum(axis=0).max() for i in range(16))
    assert max_active >= 3


def test_pitch_range_beyond_grid_is_rejected():
    with pytest.raises(ValueError, match="salience grid"):
        SynthDataset(length=1, pitch_range=(30.0, 115.0))
