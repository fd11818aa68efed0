"""Medley-solos-DB without the download (``data=solos``): the same eight classes rendered with
FluidSynth from General-MIDI programs, written in Medley-solos-DB's own format.

Each clip is a random monophonic phrase (a random walk in the instrument's range, durations on a
tempo grid, rests, one dynamic level per phrase with jitter; peak level drawn in 0.3..0.9),
65,536 samples at 22,050 Hz, listed
in ``Medley-solos-DB_metadata.csv`` with the same columns and subsets (training / validation /
test). Reading goes through :class:`~wavespace.data.medley.MedleySolosDataset` unchanged, so
everything that runs on the real dataset runs on this one.

Rendering is done once, into ``<root>/solos-<hash>/`` (the hash covers every generation and
rendering setting, SoundFont contents included, so a changed setting builds a new set): the
phrases of one (split, class, program) are laid one per 4-second slot in one MIDI file, rendered
by one FluidSynth process (``data.rendered.render_file``), and cut into clips. The test split can
use another SoundFont (``test_soundfont``), so a probe or an autoencoder is scored on timbres the
training split never heard; ``soundfont`` may list several, over which the other clips are dealt
(each class then has as many timbres in training as there are SoundFonts). The set is built in a temporary folder and moved into place whole:
an interrupted build leaves nothing that looks finished.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from wavespace.data.base import canonical_split
from wavespace.data.medley import (
    CLIP_RATE,
    CLIP_SAMPLES,
    COLUMNS,
    CSV_NAME,
    INSTRUMENTS,
    SUBSETS,
    MedleySolosDataset,
    audio_name,
)
from wavespace.data.midi import write_midi
from wavespace.data.rendered import DEFAULT_SOUNDFONT, RenderError, find_fluidsynth, render_file
from wavespace.errors import ConfigError
from wavespace.files import digest, fingerprint, to_plain
from wavespace.labels import Notes

log = logging.getLogger("wavespace.data.solos")

# class -> (General MIDI programs, 0-based; lowest and highest MIDI pitch it plays)
VOICES: dict[str, tuple[list[int], tuple[int, int]]] = {
    "clarinet": ([71], (50, 89)),
    "distorted electric guitar": ([30, 29], (40, 81)),   # distortion, overdriven guitar
    "female singer": ([52, 53], (57, 79)),               # choir aahs, voice oohs
    "flute": ([73], (60, 93)),
    "piano": ([0, 1], (36, 96)),                         # acoustic, bright grand
    "tenor saxophone": ([66], (44, 75)),
    "trumpet": ([56], (55, 82)),
    "violin": ([40], (55, 96)),
}
SLOT_SECONDS = 4.0        # one phrase per slot; the second after a clip lets its release die out
CLIP_SECONDS = CLIP_SAMPLES / CLIP_RATE
SPLIT_SEED = {"training": 0, "validation": 1, "test": 2}


def random_phrase(rng: np.random.Generator, pitch_range: tuple[int, int], seconds: float = CLIP_SECONDS) -> Notes:
    """A monophonic phrase: a random walk of small intervals on a tempo grid, with rests."""
    lo, hi = pitch_range
    beat = 60.0 / float(rng.uniform(70, 150))
    level = int(rng.integers(55, 110))
    t = float(rng.uniform(0.0, 0.3))
    pitch = int(rng.integers(lo, hi + 1))
    onsets, offsets, pitches, velocities = [], [], [], []
    while True:
        dur = beat * float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0, 3.0]))
        end = min(t + dur * float(rng.uniform(0.75, 1.0)), seconds - 0.15)
        if end - t < 0.08:
            break
        onsets.append(t)
        offsets.append(end)
        pitches.append(pitch)
        velocities.append(int(np.clip(level + rng.integers(-12, 13), 1, 127)))
        t += dur + (beat * float(rng.choice([0.5, 1.0])) if rng.random() < 0.15 else 0.0)
        step = int(rng.choice([-7, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 7],
                              p=[.03, .06, .08, .12, .15, .06, .06, .15, .12, .08, .06, .03]))
        pitch = pitch - step if not lo <= pitch + step <= hi else pitch + step
    return Notes.from_arrays(onsets, offsets, pitches, velocities)


class SolosDataset(MedleySolosDataset):
    """Rendered Medley-solos-DB look-alike (see module docstring); items as MedleySolosDataset."""

    name = "solos"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        clips_per_class: Any = None,
        soundfont: str | Path | list[str | Path] = DEFAULT_SOUNDFONT,
        test_soundfont: str | Path | None = None,
        seed: int = 0,
        gain: float = 0.4,
        render_jobs: int = 2,
        **kwargs: Any,
    ) -> None:
        counts = dict(to_plain(clips_per_class) or {"training": 64, "validation": 16, "test": 32})
        counts = {SUBSETS[canonical_split(k)]: int(v) for k, v in counts.items()}
        if sorted(counts) != sorted(SUBSETS.values()) or min(counts.values()) < 1:
            raise ConfigError(
                f"data=solos: clips_per_class needs a positive count for each of training, "
                f"validation and test (got {counts})")
        self.counts = counts
        fonts = to_plain(soundfont)
        fonts = [Path(f).expanduser() for f in (fonts if isinstance(fonts, list | tuple) else [fonts])]
        if not fonts:
            raise ConfigError("data=solos: soundfont needs a path (or a list of paths)")
        # subset -> the SoundFonts its clips are spread over (one per clip)
        self.soundfonts = {s: list(fonts) for s in SUBSETS.values()}
        if test_soundfont:
            self.soundfonts["test"] = [Path(test_soundfont).expanduser()]
            if any(f.resolve() == self.soundfonts["test"][0].resolve() for f in fonts):
                log.warning("data=solos: test_soundfont %s is also a training SoundFont, so the test split "
                            "does not measure generalisation to an unheard timbre", test_soundfont)
        self.seed, self.gain, self.render_jobs = int(seed), float(gain), max(1, int(render_jobs))
        self._progress = bool(kwargs.get("progress", True))
        base = Path(root).expanduser()
        self.build_dir = base / f"solos-{digest(self._settings(), 12)}"
        if not (self.build_dir / CSV_NAME).is_file():
            self.build()
        super().__init__(self.build_dir, split, **kwargs)

    def _settings(self) -> dict[str, Any]:
        def mark(p: Path) -> str:
            return fingerprint(p) if p.is_file() else str(p)

        # One SoundFont per subset hashes as before lists existed, so existing sets are reused.
        fonts = {s: mark(ps[0]) if len(ps) == 1 else [mark(p) for p in ps] for s, ps in self.soundfonts.items()}
        return {"counts": self.counts, "soundfonts": fonts, "seed": self.seed, "gain": self.gain,
                "voices": VOICES, "slot": SLOT_SECONDS, "rate": CLIP_RATE, "samples": CLIP_SAMPLES,
                "version": 2}

    # -- building ----------------------------------------------------------------------------
    def _check_tools(self) -> None:
        fonts = {p for ps in self.soundfonts.values() for p in ps}
        missing = [f"the SoundFont {p}" for p in sorted(fonts) if not p.is_file()]
        if find_fluidsynth() is None:
            missing.insert(0, "the fluidsynth program")
        if missing:
            raise RenderError(
                f"data=solos renders its clips with FluidSynth once, and needs {' and '.join(missing)}. "
                f"Install FluidSynth and the General MIDI SoundFont with `make data-deps` (Debian/"
                f"Ubuntu: apt-get install -y fluidsynth fluid-soundfont-gm; the solos_* presets also "
                f"train on csound's GM bank and the OPL3 SoundFont, `make solos-soundfonts`, and test "
                f"on TimGM6mb, `make heldout-soundfonts`), or point data.train.soundfont / "
                f"data.train.test_soundfont at .sf2/.sf3 files you have.")

    def _plan(self) -> list[dict[str, Any]]:
        """One job per (subset, class, program, SoundFont): its phrases and metadata rows.

        With several SoundFonts, a subset's clips of each class are dealt over them evenly (a
        random permutation from its own generator), so the phrases, levels and ids are the very
        ones a one-SoundFont set has: only the timbre changes.
        """
        jobs: list[dict[str, Any]] = []
        song = 0
        for subset, count in self.counts.items():
            fonts = self.soundfonts[subset]
            for cls, name in enumerate(INSTRUMENTS):
                programs, pitch_range = VOICES[name]
                rng = np.random.default_rng([self.seed, SPLIT_SEED[subset], cls])
                chosen = rng.choice(programs, size=count)
                font_of = np.random.default_rng([self.seed, SPLIT_SEED[subset], cls, 1]).permutation(count) % len(fonts)
                for program in programs:
                    idx = np.flatnonzero(chosen == program)
                    if not len(idx):
                        continue
                    rows = [{"subset": subset, "instrument": name, "instrument_id": cls, "song_id": song,
                             "uuid4": str(uuid.UUID(bytes=rng.bytes(16), version=4))} for _ in idx]
                    phrases = [random_phrase(rng, pitch_range) for _ in idx]
                    levels = rng.uniform(0.3, 0.9, len(idx))  # peak level: recordings differ too
                    for k, font in enumerate(fonts):
                        mine = np.flatnonzero(font_of[idx] == k)
                        if len(mine):
                            jobs.append({"subset": subset, "program": int(program), "font": font,
                                         "rows": [rows[i] for i in mine], "phrases": [phrases[i] for i in mine],
                                         "levels": levels[mine], "slots": mine.tolist(),
                                         "stem": f"{subset}-{cls}-{program}-{k}"})
                    song += 1
        return jobs

    def _render_job(self, job: dict[str, Any], tmp: Path) -> None:
        import soundfile as sf

        # Each phrase keeps its slot in the (subset, class, program) file even when the clips
        # around it go to another SoundFont: FluidSynth renders on a grid of 64-sample blocks,
        # so a phrase moved to another slot would render a few samples off, not the same clip.
        slots = job["slots"]
        slot = [
            Notes(p.onset + i * SLOT_SECONDS, p.offset + i * SLOT_SECONDS, p.pitch, p.velocity)
            for i, p in zip(slots, job["phrases"], strict=True)
        ]
        notes = Notes(*(np.concatenate([getattr(n, k) for n in slot]) for k in ("onset", "offset", "pitch", "velocity")))
        midi = write_midi(notes, tmp / "midi" / f"{job['stem']}.mid", program=job["program"], tail_seconds=1.0)
        wav = tmp / "render" / f"{job['stem']}.wav"
        render_file(midi, wav, job["font"], CLIP_RATE, self.gain)
        audio, sr = sf.read(str(wav), dtype="float32", always_2d=True)
        if sr != CLIP_RATE:
            raise RenderError(f"FluidSynth rendered {wav.name} at {sr} Hz instead of {CLIP_RATE} Hz")
        audio = audio.mean(axis=1)
        step = int(round(SLOT_SECONDS * CLIP_RATE))
        audio = np.pad(audio, (0, max(0, step * max(slots) + CLIP_SAMPLES - len(audio))))
        for i, (at, row) in enumerate(zip(slots, job["rows"], strict=True)):
            clip = audio[at * step: at * step + CLIP_SAMPLES]
            peak = float(np.abs(clip).max())
            if peak < 1e-4:
                raise RenderError(f"FluidSynth rendered silence for program {job['program']} with "
                                  f"{job['font']}: does the SoundFont have it?")
            clip = clip * (float(job["levels"][i]) / peak)
            name = audio_name(row["subset"], row["instrument_id"], row["uuid4"])
            sf.write(str(tmp / "audio" / name), clip, CLIP_RATE, subtype="PCM_16")
        wav.unlink()

    def build(self) -> Path:
        """Render every split into ``build_dir`` (atomically: temp folder, then one rename)."""
        from tqdm.auto import tqdm

        self._check_tools()
        self.build_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.build_dir.name}.", dir=self.build_dir.parent))
        try:
            (tmp / "audio").mkdir()
            jobs = self._plan()
            log.info("data=solos: rendering %d clips with FluidSynth into %s (once)",
                     sum(len(j["rows"]) for j in jobs), self.build_dir)
            with ThreadPoolExecutor(max_workers=self.render_jobs) as pool:
                list(tqdm(pool.map(lambda j: self._render_job(j, tmp), jobs), total=len(jobs),
                          desc="rendering solos", unit="file", mininterval=1.0,
                          disable=not self._progress))
            shutil.rmtree(tmp / "render", ignore_errors=True)
            with open(tmp / CSV_NAME, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
                writer.writeheader()
                writer.writerows(row for job in jobs for row in job["rows"])
            try:
                os.replace(tmp, self.build_dir)
            except OSError:  # built meanwhile by another process: keep theirs
                if not (self.build_dir / CSV_NAME).is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self.build_dir
