"""Fixture datasets written at test time in the real formats (CSV names/columns, WAV, MIDI).

Each factory writes a few seconds of audio per file, plus the broken files a real download can
hold: a truncated WAV, garbage bytes named .wav, an empty MIDI, a MIDI that is not MIDI, audio
and MIDI of different lengths, and files at odd rates / channel counts.
"""

from __future__ import annotations

import csv
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavespace.data.midi import write_midi
from wavespace.labels import Notes, midi_to_hz

SR_MEDLEY = 22050
MEDLEY_SAMPLES = 65536
#: File datasets take their geometry from the config (``${geometry.*}``); tests pass this one.
GEOMETRY = {"sample_rate": 22050, "hop_length": 256}


def tone(notes: Notes, sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonic tones with a fast attack and decay, one per note, plus a little noise."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    out = np.zeros(n, np.float32)
    k = np.arange(1, 6)[:, None]
    for on, off, p, v in zip(notes.onset, notes.offset, notes.pitch, notes.velocity, strict=True):
        a, b = int(on * sr), min(n, int((off + 0.02) * sr))
        t = np.arange(b - a) / sr
        f0 = float(midi_to_hz(p))
        partials = (np.sin(2 * np.pi * f0 * k * t) / k**1.5 * (f0 * k < sr / 2)).sum(0)
        env = np.minimum(1.0, t / 0.005) * np.exp(-2.0 * t)
        out[a:b] += (0.3 * v / 127.0 * env * partials).astype(np.float32)
    out += rng.normal(0, 1e-3, n).astype(np.float32)
    return out


def write_wav(path: Path, audio: np.ndarray, sr: int, channels: int = 1, fmt: str = "WAV") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.stack([audio * (1.0 - 0.1 * c) for c in range(channels)], 1) if channels > 1 else audio
    sf.write(str(path), data, sr, format=fmt, subtype="PCM_16")
    return path


def truncate(path: Path, keep: float = 0.3) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def resample_poly(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    import soxr

    return soxr.resample(x, sr_in, sr_out).astype(np.float32)


# -- Medley-solos-DB ---------------------------------------------------------------------------
@dataclass
class MedleyFixture:
    root: Path
    rows: list[dict] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)  # problem -> file name
    fixed: list[str] = field(default_factory=list)

    def path(self, row: dict) -> Path:
        return self.root / f"Medley-solos-DB_{row['subset']}-{row['instrument_id']}_{row['uuid4']}.wav"


INSTR = ["clarinet", "distorted electric guitar", "female singer", "flute", "piano",
         "tenor saxophone", "trumpet", "violin"]


def make_medley(root: Path, per_subset: dict[str, int] | None = None, broken: bool = True) -> MedleyFixture:
    """Medley-solos-DB layout: metadata CSV + 65,536-sample mono 22,050 Hz WAVs (+ broken ones)."""
    per_subset = per_subset or {"training": 4, "validation": 2, "test": 2}
    fx = MedleyFixture(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    i = 0
    for subset, n in per_subset.items():
        for _ in range(n):
            inst = i % 8
            row = {"subset": subset, "instrument": INSTR[inst], "instrument_id": inst,
                   "song_id": 100 + i, "uuid4": str(uuid.UUID(int=int(rng.integers(2**62))))}
            notes = Notes.from_arrays([0.1, 1.2], [1.0, 2.8], [48 + 3 * inst, 55 + 3 * inst], [90, 70])
            write_wav(fx.path(row), tone(notes, SR_MEDLEY, MEDLEY_SAMPLES / SR_MEDLEY, seed=i)[:MEDLEY_SAMPLES], SR_MEDLEY)
            fx.rows.append(row)
            i += 1
    if broken:
        def extra(subset: str, inst: int) -> dict:
            nonlocal i
            i += 1
            row = {"subset": subset, "instrument": INSTR[inst], "instrument_id": inst, "song_id": 900 + i,
                   "uuid4": str(uuid.UUID(int=int(rng.integers(2**62))))}
            fx.rows.append(row)
            return row

        r = extra("training", 1)  # truncated WAV
        write_wav(fx.path(r), tone(Notes.from_arrays([0.1], [2.0], [60]), SR_MEDLEY, 2.972), SR_MEDLEY)
        truncate(fx.path(r))
        fx.broken["truncated audio"] = fx.path(r).name
        r = extra("training", 2)  # garbage bytes named .wav
        fx.path(r).write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(rng.integers(0, 256, 4000, dtype=np.uint8)))
        fx.broken["unreadable audio"] = fx.path(r).name
        r = extra("training", 3)  # listed in the CSV, absent on disk
        fx.broken["missing file"] = fx.path(r).name
        r = extra("training", 4)  # 48 kHz stereo: fixed (mixed + resampled)
        audio = tone(Notes.from_arrays([0.2], [2.5], [64]), 48000, MEDLEY_SAMPLES / SR_MEDLEY)
        write_wav(fx.path(r), audio, 48000, channels=2)
        fx.fixed.append(fx.path(r).name)
    with open(root / "Medley-solos-DB_metadata.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["subset", "instrument", "instrument_id", "song_id", "uuid4"])
        w.writeheader()
        w.writerows(fx.rows)
    return fx


# -- MAESTRO ------------------------------------------------------------------------------------
@dataclass
class MaestroFixture:
    root: Path
    notes: dict[str, Notes] = field(default_factory=dict)  # audio_filename -> notes written
    broken: dict[str, str] = field(default_factory=dict)   # problem -> file name (audio or midi)
    fixed: list[str] = field(default_factory=list)


def piece_notes(rng: np.random.Generator, seconds: float) -> Notes:
    n = int(seconds * 3)
    on = np.sort(rng.uniform(0.1, seconds - 0.8, n))
    dur = rng.uniform(0.1, 0.6, n)
    return Notes.from_arrays(on, on + dur, rng.integers(40, 90, n).astype(float), rng.integers(40, 120, n))


def make_maestro(root: Path, seconds: float = 4.5, broken: bool = True,
                 layout: dict[str, int] | None = None) -> MaestroFixture:
    """MAESTRO v3.0.0 layout: CSV + year folders with .midi and stereo 44.1 kHz .wav (+ broken)."""
    layout = layout or {"train": 3, "validation": 1, "test": 1}
    fx = MaestroFixture(root)
    rng = np.random.default_rng(1)
    rows = []
    i = 0

    def add(split: str, year: int, sr: int = 44100, channels: int = 2, ext: str = ".wav",
            notes: Notes | None = None, audio_seconds: float | None = None, pedal=None) -> dict:
        nonlocal i
        i += 1
        stem = f"{year}/MIDI-Unprocessed_{i:02d}_R1_{year}_01-03_ORIG_MID--AUDIO_{i:02d}_R1_{year}_wav--1"
        notes = piece_notes(rng, seconds) if notes is None else notes
        write_midi(notes, root / f"{stem}.midi", pedal=pedal)
        dur = audio_seconds or seconds
        audio = tone(notes, sr, dur, seed=i)
        write_wav(root / f"{stem}{ext}", audio, sr, channels, fmt="FLAC" if ext == ".flac" else "WAV")
        row = {"canonical_composer": "Test Composer", "canonical_title": f"Piece {i}", "split": split,
               "year": year, "midi_filename": f"{stem}.midi", "audio_filename": f"{stem}.wav",
               "duration": dur}
        rows.append(row)
        fx.notes[row["audio_filename"]] = notes
        return row

    for split, n in layout.items():
        for j in range(n):
            add(split, 2004 if j % 2 == 0 else 2006)
    if broken:
        add("train", 2018, sr=48000)  # 48 kHz is part of MAESTRO: no report
        r = add("train", 2018, ext=".flac")  # a .flac next to the listed .wav name
        fx.fixed.append("flac:" + r["audio_filename"])
        r = add("train", 2008, sr=32000, channels=3)  # odd rate and channel count: fixed
        fx.fixed.append(Path(r["audio_filename"]).name)
        r = add("train", 2008)
        truncate(root / r["audio_filename"], 0.3)
        fx.broken["truncated audio"] = Path(r["audio_filename"]).name
        r = add("train", 2009)
        (root / r["audio_filename"]).write_bytes(b"\x00garbage" * 500)
        fx.broken["unreadable audio"] = Path(r["audio_filename"]).name
        r = add("train", 2009)
        write_midi(Notes.empty(), root / r["midi_filename"])
        fx.broken["empty MIDI"] = Path(r["midi_filename"]).name
        r = add("train", 2011)
        (root / r["midi_filename"]).write_bytes(b"this is not a MIDI file at all" * 10)
        fx.broken["unreadable MIDI"] = Path(r["midi_filename"]).name
        late = Notes.from_arrays([0.5, 14.0], [1.0, 15.0], [60, 62])
        r = add("train", 2011, notes=late, audio_seconds=seconds)  # MIDI runs 10 s past the audio
        fx.broken["audio/MIDI length mismatch"] = Path(r["audio_filename"]).name
    with open(root / "maestro-v3.0.0.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["canonical_composer", "canonical_title", "split", "year",
                                          "midi_filename", "audio_filename", "duration"])
        w.writeheader()
        w.writerows(rows)
    return fx


# -- pytest fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def medley_src(tmp_path_factory) -> MedleyFixture:
    return make_medley(tmp_path_factory.mktemp("medley") / "medley-solos-db")


@pytest.fixture(scope="session")
def maestro_src(tmp_path_factory) -> MaestroFixture:
    return make_maestro(tmp_path_factory.mktemp("maestro") / "maestro-v3.0.0")


@pytest.fixture
def maestro_copy(maestro_src, tmp_path) -> MaestroFixture:
    """A private copy for tests that modify files."""
    dst = tmp_path / "data" / "maestro-v3.0.0"
    shutil.copytree(maestro_src.root, dst)
    return MaestroFixture(dst, maestro_src.notes, maestro_src.broken, maestro_src.fixed)


@pytest.fixture(scope="session")
def cqt_cfg() -> dict:
    """The features config of conf/features/cqt.yaml on the default geometry (resolved)."""
    return {"_target_": "wavespace.features.CQT", "sample_rate": 22050, "hop_length": 256,
            "fmin": 27.5, "bins_per_octave": 36, "n_bins": 264, "compression": "log",
            "algorithm": "auto", "pad_mode": "constant"}


def has_fluidsynth() -> bool:
    from wavespace.data.rendered import DEFAULT_SOUNDFONT, find_fluidsynth

    return find_fluidsynth() is not None and Path(DEFAULT_SOUNDFONT).is_file()


needs_fluidsynth = pytest.mark.skipif(
    not has_fluidsynth(),
    reason="fluidsynth or /usr/share/sounds/sf2/FluidR3_GM.sf2 not installed (run `make data-deps`)",
)
