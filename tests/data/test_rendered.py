"""data=rendered: MIDI rendered with FluidSynth; labels line up with the rendered audio."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.data.conftest import GEOMETRY, needs_fluidsynth
from wavespace.data import RenderedPianoDataset
from wavespace.data.midi import write_midi
from wavespace.data.rendered import RenderError, random_notes
from wavespace.features import CQT
from wavespace.labels import Notes


def rendered(tmp_path, **kw) -> RenderedPianoDataset:
    kw.setdefault("clip_seconds", 2.0)
    return RenderedPianoDataset(tmp_path / "data" / "rendered", cache="off", cache_dir=tmp_path / "cache",
                                progress=False, **{**GEOMETRY, **kw})


@needs_fluidsynth
@pytest.mark.parametrize("sample_rate,hop", [(22050, 256), (24000, 320)])
def test_a_rendered_note_lines_up_with_its_label(tmp_path, sample_rate, hop):
    midi_dir = tmp_path / "midi"
    write_midi(Notes.from_arrays([1.0], [1.8], [60], [110]), midi_dir / "c4.mid", tail_seconds=1.0)
    ds = rendered(tmp_path, midi_dir=midi_dir, val_fraction=0, test_fraction=0, clip_seconds=3.0,
                  sample_rate=sample_rate, hop_length=hop, random_crop=False)
    assert len(ds.entries) == 1 and ds.entries[0].info.sample_rate == sample_rate
    item = ds[0]
    fr = sample_rate / hop
    on, key = round(1.0 * fr), 60 - 21
    assert item["onset"][key, on] == 1 and item["onset"].sum() == 1
    assert item["frame"][key, on : round(1.8 * fr)].all() and item["frame"][key, : on].sum() == 0
    spec = CQT(sample_rate, hop, 27.5, 36, 264, algorithm="1992")(torch.from_numpy(item["audio"])[None])[0, 0]
    mag = np.exp(spec.numpy())
    w = int(0.15 * fr)
    energy = mag[(60 - 21) * 3 - 3 :].sum(0)  # from C4 up: kernels short enough (< 0.2 s) to localize
    assert energy[on + w] > 10 * energy[on - w]  # the piano starts at the labelled onset
    half = np.flatnonzero(energy[on - w : on + w] >= 0.5 * energy[on : on + w].max())[0] + on - w
    assert abs(half - on) <= 2
    semitone = (int(np.argmax(spec[:, on + w])) + 1) // 3 + 21  # strongest bin -> MIDI key
    assert semitone in (60, 72)  # the fundamental or its octave (piano timbre)


@needs_fluidsynth
def test_random_midi_is_generated_rendered_once_and_labelled(tmp_path):
    kw = dict(n_files=2, seconds=3.0, notes_per_second=6.0, max_polyphony=3, pedal_prob=0.0, seed=3)
    ds = rendered(tmp_path, **kw)
    assert len(ds.entries) == 2 and not ds.report.problems
    wavs = sorted(e.record.audio for e in ds.entries)
    mtimes = [w.stat().st_mtime_ns for w in wavs]
    again = rendered(tmp_path, **kw)  # cached on disk: nothing re-rendered
    assert [w.stat().st_mtime_ns for w in sorted(e.record.audio for e in again.entries)] == mtimes
    targets = ds.file_targets(ds.entries[0])
    roll = np.asarray(targets.roll)[:, 0, :]  # frame roll [frames, keys]
    assert roll.sum() > 0 and roll.sum(1).max() <= 3
    other = rendered(tmp_path, **dict(kw, seed=4))  # another setting renders another set
    assert {e.record.audio for e in other.entries}.isdisjoint(wavs)


def test_a_program_list_gives_each_generated_file_one_of_its_programs(tmp_path):
    """Timbre variety from one SoundFont. The MIDI is written before FluidSynth runs, so a
    missing SoundFont still leaves the generated files to inspect (no FluidSynth needed)."""
    import pretty_midi

    kw = dict(n_files=12, seconds=3.0, max_polyphony=2, pedal_prob=0.0, soundfont=tmp_path / "none.sf2")
    programs = {}
    for program in ([0, 1, 2], 4):
        with pytest.raises(RenderError):
            rendered(tmp_path / str(program), program=program, **kw)
        mids = sorted((tmp_path / str(program)).rglob("*.mid"))
        assert len(mids) == 12
        programs[str(program)] = [pretty_midi.PrettyMIDI(str(m)).instruments[0].program for m in mids]
    assert set(programs["[0, 1, 2]"]) == {0, 1, 2}
    assert set(programs["4"]) == {4}


def test_random_notes_respect_polyphony_and_ranges():
    rng = np.random.default_rng(0)
    notes = random_notes(rng, 10.0, notes_per_second=8.0, max_polyphony=2, tempo_bpm=120,
                         velocity_range=(40, 50), pitch_range=(60, 72))
    dense = random_notes(np.random.default_rng(0), 10.0, notes_per_second=8.0, max_polyphony=16)
    assert 55 <= len(dense) <= 100  # ~8 notes/s over the 9.5 s that notes may start in
    assert len(notes) < len(dense)  # the polyphony cap drops notes
    assert notes.pitch.min() >= 60 and notes.pitch.max() <= 72
    assert notes.velocity.min() >= 40 and notes.velocity.max() <= 50
    t = np.linspace(0, 10, 2001)
    active = ((notes.onset[:, None] <= t) & (notes.offset[:, None] > t)).sum(0)
    assert active.max() <= 2
    grid = 60 / 120 / 4
    np.testing.assert_allclose(notes.onset / grid, np.round(notes.onset / grid), atol=1e-9)


def test_missing_soundfont_says_how_to_install(tmp_path):
    with pytest.raises(RenderError, match="make data-deps"):
        rendered(tmp_path, n_files=1, seconds=3.0, soundfont=tmp_path / "none.sf2")
