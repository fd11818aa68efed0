"""data=rendered with generator=music: pieces that look like piano music, labelled like MAESTRO."""

from __future__ import annotations

import numpy as np
import pytest

from tests.data.conftest import needs_fluidsynth
from wavespace.data.midi import SUSTAIN_CC, apply_sustain, load_notes, write_midi
from wavespace.data.music_gen import MusicParams, generate_piece
from wavespace.data.music_texture import ACCOMPANIMENTS, METRES
from wavespace.errors import ConfigError
from wavespace.labels import Notes

SEEDS = range(12)


def piece(seed: int, seconds: float = 20.0, params: MusicParams | None = None, pitch_range=(21, 108)):
    return generate_piece(np.random.default_rng([seed, 0, 0]), seconds, params, pitch_range)


def sounding(notes: Notes) -> np.ndarray:
    """How many notes sound at each note's onset (the maximum is reached at an onset)."""
    on, off = np.sort(notes.onset), np.sort(notes.offset)
    return np.searchsorted(on, notes.onset, "right") - np.searchsorted(off, notes.onset, "right")


def test_a_seed_gives_one_piece_and_another_seed_another():
    a, b, c = piece(3), piece(3), piece(4)
    for field in ("onset", "offset", "pitch", "velocity"):
        np.testing.assert_array_equal(getattr(a.notes, field), getattr(b.notes, field))
    np.testing.assert_array_equal(a.pedal, b.pedal)
    assert (a.key, a.metre, a.tempo_bpm) == (b.key, b.metre, b.tempo_bpm)
    assert len(a.notes) != len(c.notes) or not np.array_equal(a.notes.pitch, c.notes.pitch)


def test_voices_reach_eight_often_and_never_pass_the_cap_pedal_included():
    """The cap holds on the notes as labelled (pedal-extended); dense textures reach 8+ voices."""
    peaks = [sounding(apply_sustain(p.notes, p.pedal)).max() for p in map(piece, SEEDS)]
    assert max(peaks) <= 12 and sum(k >= 8 for k in peaks) >= len(peaks) // 2
    thin = MusicParams.from_config({"max_voices": 5, "textures": {"block": 1.0}, "block_voices": [6, 9]})
    for seed in SEEDS:
        p = piece(seed, 10.0, thin)
        assert sounding(apply_sustain(p.notes, p.pedal)).max() <= 5


def test_a_written_piece_keeps_the_cap_after_tick_rounding(tmp_path):
    p = piece(5)
    write_midi(p.notes, tmp_path / "p.mid", tempo_bpm=p.tempo_bpm, pedal=p.pedal, tail_seconds=0.5)
    assert sounding(load_notes(tmp_path / "p.mid", sustain=True)).max() <= 12


def test_pitches_stay_on_the_piano_and_mostly_in_the_key():
    for seed in SEEDS:
        p = piece(seed)
        assert p.notes.pitch.min() >= 21 and p.notes.pitch.max() <= 108
        assert np.all(p.notes.offset > p.notes.onset) and p.notes.offset.max() <= 19.75
        assert p.notes.velocity.min() >= 25 and p.notes.velocity.max() <= 115
        in_key = np.isin(p.notes.pitch.astype(int) % 12, sorted(p.key.pitch_classes())).mean()
        assert in_key >= 0.8, (seed, p.key, in_key)  # chromatic ornaments and V/V allowed
    narrow = piece(1, 10.0, pitch_range=(40, 84))
    assert narrow.notes.pitch.min() >= 40 and narrow.notes.pitch.max() <= 84


def test_every_texture_in_every_metre_generates_within_its_limits():
    for texture in ACCOMPANIMENTS:
        for metre in METRES:
            params = MusicParams.from_config({"textures": {texture: 1}, "metres": {metre: 1},
                                              "run_prob": 0.3, "ornament_prob": 0.5, "max_voices": 8})
            p = piece(7, 6.0, params, (36, 96))
            assert p.metre == metre and {name.split(",")[0] for _, name in p.textures} == {texture}
            assert len(p.notes) > 0 and p.notes.pitch.min() >= 36 and p.notes.pitch.max() <= 96
            assert sounding(apply_sustain(p.notes, p.pedal)).max() <= 8


def test_the_pedal_is_written_as_cc64_and_changes_at_the_chord_changes(tmp_path):
    import pretty_midi

    pedalled = near = ups = 0
    for seed in SEEDS:
        p = piece(seed)
        write_midi(p.notes, tmp_path / f"{seed}.mid", tempo_bpm=p.tempo_bpm, pedal=p.pedal)
        [inst] = pretty_midi.PrettyMIDI(str(tmp_path / f"{seed}.mid")).instruments
        assert len([c for c in inst.control_changes if c.number == SUSTAIN_CC]) == 2 * len(p.pedal)
        pedalled += len(p.pedal) > 0
        assert np.all(p.pedal[1:, 0] > p.pedal[:-1, 1]) and np.all(p.pedal[:, 1] > p.pedal[:, 0])
        for c in p.chord_times:  # a pedal down through a chord change is released at it
            if np.any((p.pedal[:, 0] < c - 0.02) & (p.pedal[:, 1] >= c)):
                assert np.any((p.pedal[:, 1] >= c) & (p.pedal[:, 1] <= c + 0.045)), (seed, c)
        d = p.pedal[:, 1, None] - p.chord_times[None, :]
        near += int(((d >= 0) & (d <= 0.045)).any(1).sum())
        ups += len(p.pedal)
    assert pedalled >= len(SEEDS) * 2 // 3
    assert near >= 0.5 * ups  # the rest: changes on beats, and where too many notes would ring


def test_labels_of_a_generated_file_extend_notes_under_the_pedal(tmp_path):
    """The MAESTRO rule (``load_notes``, which the targets use) applies to generated files."""
    p = piece(2)
    path = write_midi(p.notes, tmp_path / "p.mid", tempo_bpm=p.tempo_bpm, pedal=p.pedal, tail_seconds=0.5)
    held, labelled = load_notes(path, sustain=False), load_notes(path, sustain=True)
    assert len(held) == len(labelled) == len(p.notes)
    assert np.all(labelled.offset >= held.offset - 1e-9)
    assert np.sum(labelled.offset > held.offset + 0.1) >= 10
    expect = apply_sustain(p.notes, p.pedal)
    order = np.lexsort((expect.pitch, expect.onset))
    got = np.lexsort((labelled.pitch, labelled.onset))
    np.testing.assert_allclose(labelled.offset[got], expect.offset[order], atol=0.01)


def test_a_bad_music_setting_is_one_clear_error():
    with pytest.raises(ConfigError, match="unknown key.*'tempo'"):
        MusicParams.from_config({"tempo": [60, 90]})
    with pytest.raises(ConfigError, match="metres.*5/4"):
        MusicParams.from_config({"metres": {"5/4": 1.0}})
    with pytest.raises(ConfigError, match="minor_prob must lie in"):
        MusicParams.from_config({"minor_prob": 1.5})
    with pytest.raises(ConfigError, match="pedal_lift"):
        MusicParams.from_config({"pedal_lift": [0.0, 0.2]})


def _dataset(root, **kw):
    from tests.data.conftest import GEOMETRY
    from wavespace.data import RenderedPianoDataset

    kw = {"clip_seconds": 2.0, **GEOMETRY, **kw}
    return RenderedPianoDataset(root / "rendered", cache="off", cache_dir=root / "cache", progress=False, **kw)


def test_the_dataset_writes_music_like_midi_in_its_own_set(tmp_path):
    """MIDI is written before FluidSynth runs, so no FluidSynth is needed to check it; the same
    seed writes the same files, and the music set never mixes with the random one."""
    from wavespace.data.rendered import RenderError

    kw = dict(n_files=3, seconds=6.0, soundfont=tmp_path / "none.sf2")
    for root in ("a", "b"):
        with pytest.raises(RenderError):
            _dataset(tmp_path / root, generator="music", music={"max_voices": 10}, **kw)
    with pytest.raises(RenderError):
        _dataset(tmp_path / "a", **kw)  # generator: random (the default)
    a, b = (sorted((tmp_path / r / "rendered").rglob("*.mid")) for r in ("a", "b"))
    assert len(a) == 6 and len(b) == 3 and len({m.parent.parent.name for m in a}) == 2
    music = [m for m in a if m.parent.parent.name == b[0].parent.parent.name]
    assert [m.read_bytes() for m in music] == [m.read_bytes() for m in b]
    for m in music:
        assert sounding(load_notes(m, sustain=True)).max() <= 10
    with pytest.raises(ConfigError, match="generator='tonal'"):
        _dataset(tmp_path / "c", generator="tonal", **kw)


@needs_fluidsynth
def test_rendered_music_has_dense_pedalled_labels(tmp_path):
    ds = _dataset(tmp_path, generator="music", n_files=1, seconds=8.0, seed=1, clip_seconds=4.0)
    assert len(ds.entries) == 1 and not ds.report.problems
    roll = np.asarray(ds.file_targets(ds.entries[0]).roll)[:, 0, :]  # frame roll [frames, keys]
    notes = load_notes(ds.entries[0].record.midi, sustain=True)
    assert sounding(notes).max() >= 6 and 6 <= roll.sum(1).max() <= 12  # random MIDI: <= 4
