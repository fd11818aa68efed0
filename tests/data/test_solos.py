"""data=solos: FluidSynth renders of the eight Medley classes, in Medley-solos-DB's own format."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.data.conftest import needs_fluidsynth
from wavespace.data import MedleySolosDataset, SolosDataset
from wavespace.data.medley import COLUMNS, CSV_NAME, INSTRUMENTS
from wavespace.data.rendered import RenderError

pytestmark = needs_fluidsynth
COUNTS = {"training": 2, "validation": 1, "test": 1}
HELDOUT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


def solos(root: Path, split: str = "train", **kw) -> SolosDataset:
    return SolosDataset(root, split, clips_per_class=COUNTS, progress=False, sample_rate=22050,
                        hop_length=256, **kw)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> SolosDataset:
    return solos(tmp_path_factory.mktemp("solos"))


def test_the_set_has_medley_layout_classes_and_splits(built):
    root = built.build_dir
    with open(root / CSV_NAME, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = list(reader)
    assert len(rows) == 8 * sum(COUNTS.values())
    for subset, n in COUNTS.items():
        ids = sorted(int(r["instrument_id"]) for r in rows if r["subset"] == subset)
        assert ids == sorted(list(range(8)) * n)
    assert {(int(r["instrument_id"]), r["instrument"]) for r in rows} == set(enumerate(INSTRUMENTS))
    for r in rows:
        info = sf.info(str(root / "audio" / f"Medley-solos-DB_{r['subset']}-{r['instrument_id']}_{r['uuid4']}.wav"))
        assert (info.samplerate, info.channels, info.frames) == (22050, 1, 65536)
    # The real dataset's reader reads it as is, and the subclass gives the same items.
    plain = MedleySolosDataset(root, "test", progress=False, sample_rate=22050, hop_length=256)
    assert sorted(int(plain[i]["instrument"]) for i in range(len(plain))) == list(range(8))
    assert len(built) == 16 and not built.report.problems


def test_clips_are_monophonic_phrases_with_sound_in_them(built):
    for e in built.entries:
        audio, _ = sf.read(str(e.record.audio), dtype="float32")
        peak = float(np.abs(audio).max())
        assert 0.29 < peak < 0.91  # each clip's peak level is drawn in 0.3..0.9
        frames = audio[: len(audio) // 1024 * 1024].reshape(-1, 1024)
        sounding = np.mean(np.sqrt((frames**2).mean(1)) > 0.01 * peak)
        assert sounding > 0.3, (e.record.meta, sounding)  # a phrase, not one blip


def test_it_is_built_once_and_a_test_soundfont_changes_only_the_test_split(built, tmp_path):
    csv_path = built.build_dir / CSV_NAME
    mtime = csv_path.stat().st_mtime_ns
    again = solos(built.build_dir.parent, "validation")
    assert again.build_dir == built.build_dir and csv_path.stat().st_mtime_ns == mtime
    if not HELDOUT.is_file():
        pytest.skip("the held-out SoundFont is not installed (make heldout-soundfonts)")
    other = solos(built.build_dir.parent, "test", test_soundfont=HELDOUT)
    assert other.build_dir != built.build_dir

    def audio(ds_root: Path, subset: str) -> list[bytes]:
        return [p.read_bytes() for p in sorted((ds_root / "audio").glob(f"*_{subset}-*.wav"))]

    assert audio(other.build_dir, "training") == audio(built.build_dir, "training")
    assert audio(other.build_dir, "test") != audio(built.build_dir, "test")


def test_a_missing_soundfont_is_one_paragraph_and_leaves_nothing(tmp_path):
    with pytest.raises(RenderError, match=r"needs the SoundFont /nowhere/x.sf2.*make data-deps"):
        solos(tmp_path, soundfont="/nowhere/x.sf2")
    assert list(tmp_path.iterdir()) == []


def test_training_clips_can_be_dealt_over_several_soundfonts(built):
    """soundfont=[A, B]: the same phrases and ids as with A alone; half the training clips are
    A's renders again, the other half B's (another sound)."""
    if not HELDOUT.is_file():
        pytest.skip("the held-out SoundFont is not installed (make heldout-soundfonts)")
    from wavespace.data.rendered import DEFAULT_SOUNDFONT

    mixed = solos(built.build_dir.parent, soundfont=[DEFAULT_SOUNDFONT, HELDOUT])
    assert mixed.build_dir != built.build_dir

    def rows(root: Path) -> list[tuple[str, str]]:
        with open(root / CSV_NAME, newline="") as f:
            return sorted((r["subset"], r["uuid4"]) for r in csv.DictReader(f))

    assert rows(mixed.build_dir) == rows(built.build_dir)
    corr = {}
    for p in sorted((mixed.build_dir / "audio").glob("*_training-*.wav")):
        a, _ = sf.read(str(p))
        b, _ = sf.read(str(built.build_dir / "audio" / p.name))
        corr[p.name] = float(np.corrcoef(a, b)[0, 1])
    # 2 clips a class, one per SoundFont: A's is A's render again (up to the last bits: FluidSynth
    # keeps some state across a file), B's another sound (measured |r| <= 0.25 against A's).
    assert len(corr) == 16
    for cls in range(8):
        mine = sorted(v for k, v in corr.items() if f"_training-{cls}_" in k)
        assert mine[1] > 0.999 and mine[0] < 0.9, (cls, mine)
    one = solos(built.build_dir.parent, soundfont=str(DEFAULT_SOUNDFONT))  # a path alone: the first set
    assert one.build_dir == built.build_dir


def test_a_test_soundfont_the_training_split_also_uses_is_warned_about(built, caplog):
    """The test split is then no measure of generalisation to an unheard timbre; say so."""
    import logging

    from wavespace.data.rendered import DEFAULT_SOUNDFONT

    with caplog.at_level(logging.WARNING, logger="wavespace.data.solos"):
        solos(built.build_dir.parent, "test", test_soundfont=DEFAULT_SOUNDFONT)
    assert "also a training SoundFont" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="wavespace.data.solos"):
        solos(built.build_dir.parent, "test")  # no test_soundfont: the quick same-SoundFont set
    assert "training SoundFont" not in caplog.text
