"""Audio decoding (segments vs whole files) and MIDI parsing (sustain pedal, broken files)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.data.conftest import tone, write_wav
from wavespace.data.audio_io import AudioFileError, load_audio, load_segment, probe
from wavespace.data.midi import MidiFileError, load_notes, write_midi
from wavespace.labels import Notes


@pytest.mark.parametrize("sr_in,channels", [(44100, 2), (48000, 2), (22050, 1), (32000, 3)])
def test_segment_equals_slice_of_whole_file_conversion(tmp_path, sr_in, channels):
    notes = Notes.from_arrays([0.1, 0.9], [0.8, 1.9], [57, 64])
    path = write_wav(tmp_path / "a.wav", tone(notes, sr_in, 2.0), sr_in, channels)
    whole = load_audio(path, 22050)
    info = probe(path)
    assert info.frames_at(22050) == len(whole)
    for start in (0, 3 * 256, 10_000):
        seg = load_segment(path, start, 11025, 22050, info)
        np.testing.assert_allclose(seg, whole[start : start + 11025], atol=2e-3)
    tail = load_segment(path, len(whole) - 100, 1000, 22050, info)  # zero-padded past the end
    assert np.all(tail[150:] == 0) and np.abs(tail[:100]).max() > 0


def test_unreadable_audio_raises_the_skippable_error(tmp_path):
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"not audio" * 100)
    with pytest.raises(AudioFileError, match="unreadable audio"):
        probe(bad)
    with pytest.raises(AudioFileError):
        load_audio(bad, 22050)


def test_sustain_pedal_extends_offsets_until_release_or_restrike(tmp_path):
    notes = Notes.from_arrays(
        onset=[0.2, 0.6, 1.5, 2.5], offset=[0.8, 0.9, 1.7, 3.0], pitch=[48, 60, 60, 72],
        velocity=[80, 80, 80, 80],
    )
    path = write_midi(notes, tmp_path / "p.mid", pedal=np.array([[0.5, 2.0]]))
    plain = load_notes(path, sustain=False)
    np.testing.assert_allclose(plain.offset, [0.8, 0.9, 1.7, 3.0], atol=2e-3)
    held = load_notes(path, sustain=True)
    # 48: released under the pedal -> lasts to the pedal release; 60: cut by its own re-strike;
    # second 60: released under the pedal -> 2.0; 72: after the pedal, untouched.
    np.testing.assert_allclose(held.offset, [2.0, 1.5, 2.0, 3.0], atol=2e-3)
    np.testing.assert_allclose(held.onset, plain.onset)


def test_empty_and_non_midi_files_raise(tmp_path):
    empty = write_midi(Notes.empty(), tmp_path / "empty.mid")
    with pytest.raises(MidiFileError, match="no notes"):
        load_notes(empty)
    junk = tmp_path / "junk.midi"
    junk.write_bytes(b"RIFF and other things" * 20)
    with pytest.raises(MidiFileError, match="unreadable MIDI"):
        load_notes(junk)
