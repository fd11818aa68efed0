"""Realistic piano data without downloads: MIDI rendered to audio with FluidSynth + a SoundFont.

MIDI comes from ``midi_dir`` (your files; split by a stable hash of their path) or is generated:
``generator: random`` draws keys at random with controllable density, polyphony, tempo, velocity
and sustain pedal; ``generator: music`` writes music-like pieces (``wavespace.data.music_gen``:
harmony, textures, melody, dynamics, rubato, pedal at the chord changes). Rendering is done
once, when the dataset is first built (or by ``python -m wavespace.prepare``), into
``<root>/<gen|midi>-<hash>/``; the hash covers every generation and rendering setting, so a
changed setting renders a new set instead of mixing old and new audio. Labels are exact: they
come from the MIDI that was rendered, through the same path as MAESTRO.

Why the ``fluidsynth`` command line rather than pyfluidsynth: the CLI is what Debian's
``fluidsynth`` package installs (``make data-deps``) with no Python binding to match against the
library version, it renders faster than real time in a separate process (a synth crash cannot
take the trainer down, and several files render in parallel), and a user can rerun the exact
command that is logged.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from wavespace.data.base import FileRecord
from wavespace.data.midi import write_midi
from wavespace.data.music_gen import MusicParams, generate_piece
from wavespace.data.paired import PairedMidiDataset
from wavespace.errors import ConfigError, WavespaceError
from wavespace.files import atomic_path, digest, digest_bytes, fingerprint, to_plain
from wavespace.labels import Notes

log = logging.getLogger("wavespace.data.rendered")

DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SPLIT_SEED = {"train": 0, "validation": 1, "test": 2}
GENERATORS = ("random", "music")


class RenderError(WavespaceError):
    """FluidSynth or the SoundFont is missing, so MIDI cannot be rendered."""


def find_fluidsynth() -> str | None:
    return shutil.which("fluidsynth")


def fluidsynth_command(midi: Path, wav: Path, soundfont: Path, sample_rate: int, gain: float,
                       reverb: bool) -> list[str]:
    """The exact command that renders one file (logged, so a user can rerun it)."""
    return [find_fluidsynth() or "fluidsynth", "-ni", "-q", "-g", str(gain), "-r", str(sample_rate),
            "-o", f"synth.reverb.active={int(reverb)}", "-o", "synth.chorus.active=0",
            "-T", "wav", "-F", str(wav), str(soundfont), str(midi)]


def render_file(midi: Path, wav: Path, soundfont: Path, sample_rate: int, gain: float = 0.5,
                reverb: bool = False, timeout: float = 600) -> None:
    """Render ``midi`` to ``wav`` atomically (a killed render leaves no half file)."""
    with atomic_path(wav) as tmp:
        cmd = fluidsynth_command(midi, tmp, soundfont, sample_rate, gain, reverb)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size <= 44:
            raise RuntimeError(f"fluidsynth exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}")


def _programs(program: Any) -> int | list[int]:
    """One GM program, or a list to draw one from per generated file (timbre variety from one
    SoundFont: e.g. [0, 1, 2] = acoustic, bright and electric grand)."""
    program = to_plain(program)
    if isinstance(program, (list, tuple)):
        if not program:
            raise ValueError("rendered: program must be a GM program number or a non-empty list")
        return [int(p) for p in program]
    return int(program)


def random_notes(
    rng: np.random.Generator, seconds: float, notes_per_second: float = 4.0, max_polyphony: int = 4,
    tempo_bpm: float = 120.0, velocity_range: tuple[int, int] = (30, 120),
    pitch_range: tuple[int, int] = (21, 108), durations_16th: tuple[int, ...] = (1, 2, 3, 4, 6, 8),
) -> Notes:
    """Random notes on a 16th-note grid: Poisson onsets per step (``notes_per_second`` on
    average), at most ``max_polyphony`` sounding at once, never the same key twice at a time."""
    step = 60.0 / tempo_bpm / 4.0
    n_steps = max(1, int((seconds - 0.5) / step))
    counts = rng.poisson(notes_per_second * step, n_steps)
    onsets, offsets, pitches = [], [], []
    sounding: list[tuple[float, int]] = []  # (offset, pitch); generation runs once, in prepare
    for i in np.flatnonzero(counts):
        t = i * step
        sounding = [(off, p) for off, p in sounding if off > t]
        for _ in range(int(counts[i])):
            if len(sounding) >= max_polyphony:
                break
            busy = {p for _, p in sounding}
            free = [p for p in range(pitch_range[0], pitch_range[1] + 1) if p not in busy]
            pitch = int(rng.choice(free))
            off = min(t + step * float(rng.choice(durations_16th)), seconds - 0.25)
            if off <= t:
                continue
            onsets.append(t)
            offsets.append(off)
            pitches.append(pitch)
            sounding.append((off, pitch))
    velocity = rng.integers(velocity_range[0], velocity_range[1] + 1, len(onsets))
    return Notes.from_arrays(onsets, offsets, pitches, velocity)


def random_pedal(rng: np.random.Generator, seconds: float, tempo_bpm: float, prob: float) -> np.ndarray:
    """Sustain held over whole bars (4 beats) with probability ``prob`` each, released just before the next."""
    bar = 4 * 60.0 / tempo_bpm
    starts = np.arange(0.0, max(seconds - bar, 0.0), bar)
    keep = rng.random(len(starts)) < prob
    return np.stack([starts[keep] + 0.01, starts[keep] + bar - 0.05], 1) if keep.any() else np.zeros((0, 2))


class RenderedPianoDataset(PairedMidiDataset):
    """MIDI (given or generated) rendered with FluidSynth; piano-roll and salience targets."""

    name = "rendered"
    expected_channels = (1, 2)

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        midi_dir: str | Path | None = None,
        generator: str = "random",
        music: dict[str, Any] | None = None,
        n_files: int = 8,
        seconds: float = 20.0,
        notes_per_second: float = 4.0,
        max_polyphony: int = 4,
        tempo_bpm: Any = (90, 140),
        velocity_range: Any = (30, 120),
        pitch_range: Any = (21, 108),
        pedal_prob: float = 0.3,
        program: int | list[int] = 0,
        seed: int = 0,
        soundfont: str | Path = DEFAULT_SOUNDFONT,
        gain: float = 0.5,
        reverb: bool = False,
        render_jobs: int = 2,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        **kwargs: Any,
    ) -> None:
        self.midi_dir = Path(midi_dir).expanduser() if midi_dir else None
        self.gen = {
            "n_files": int(n_files), "seconds": float(seconds), "notes_per_second": float(notes_per_second),
            "max_polyphony": int(max_polyphony), "tempo_bpm": list(to_plain(tempo_bpm)),
            "velocity_range": list(to_plain(velocity_range)), "pitch_range": list(to_plain(pitch_range)),
            "pedal_prob": float(pedal_prob), "program": _programs(program), "seed": int(seed),
        }
        if generator not in GENERATORS:
            raise ConfigError(f"rendered: generator={generator!r} is not one of {list(GENERATORS)} "
                              f"(random: uniform random keys; music: music-like pieces, see the music: "
                              f"block of conf/data/rendered.yaml)")
        self.music = MusicParams.from_config(to_plain(music)) if generator == "music" else None
        if self.music is not None:  # the random generator's hash (and folder) stays as it was
            self.gen.update(generator="music", music=self.music.to_dict())
        self.soundfont = Path(soundfont).expanduser()
        self.gain, self.reverb, self.render_jobs = float(gain), bool(reverb), max(1, int(render_jobs))
        self.fractions = (float(val_fraction), float(test_fraction))
        super().__init__(root, split, **kwargs)

    # -- what to render ----------------------------------------------------------------------
    def _render_settings(self) -> dict[str, Any]:
        sf2 = fingerprint(self.soundfont) if self.soundfont.is_file() else str(self.soundfont)
        return {"sample_rate": self.sample_rate, "soundfont": sf2, "gain": self.gain, "reverb": self.reverb}

    def _split_of(self, rel: str) -> str:
        u = int(digest_bytes(rel.encode(), 8), 16) / 2**32
        val, test = self.fractions
        return "test" if u < test else "validation" if u < test + val else "train"

    def _given_pairs(self) -> list[tuple[str, Path, Path]]:
        assert self.midi_dir is not None
        if not self.midi_dir.is_dir():
            raise RenderError(f"rendered: midi_dir {self.midi_dir} does not exist; give a folder of "
                              f".mid/.midi files, or leave midi_dir empty to generate random MIDI")
        files = sorted(p for p in self.midi_dir.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
        listing = [(str(p.relative_to(self.midi_dir)), fingerprint(p)) for p in files]
        out_dir = self.root / f"midi-{digest([listing, self._render_settings()], 12)}"
        pairs = []
        for p in files:
            rel = str(p.relative_to(self.midi_dir))
            if self._split_of(rel) == self.split:
                pairs.append((str(Path(rel).with_suffix("")), p, (out_dir / rel).with_suffix(".wav")))
        return pairs

    def _generated_pairs(self) -> list[tuple[str, Path, Path]]:
        g = self.gen
        out_dir = self.root / f"gen-{digest([g, self._render_settings()], 12)}" / self.split
        pairs = []
        for i in range(g["n_files"]):
            mid = out_dir / f"{i:04d}.mid"
            if not mid.is_file():
                rng = np.random.default_rng([g["seed"], SPLIT_SEED[self.split], i])
                if self.music is not None:
                    piece = generate_piece(rng, g["seconds"], self.music, tuple(g["pitch_range"]))
                    notes, pedal, tempo = piece.notes, piece.pedal, piece.tempo_bpm
                else:
                    tempo = float(rng.uniform(*g["tempo_bpm"]))
                    notes = random_notes(rng, g["seconds"], g["notes_per_second"], g["max_polyphony"], tempo,
                                         tuple(g["velocity_range"]), tuple(g["pitch_range"]))
                    pedal = random_pedal(rng, g["seconds"], tempo, g["pedal_prob"])
                program = g["program"] if isinstance(g["program"], int) else int(rng.choice(g["program"]))
                with atomic_path(mid) as tmp:
                    write_midi(notes, tmp, program=program, tempo_bpm=tempo, pedal=pedal, tail_seconds=0.5)
            pairs.append((f"{self.split}/{i:04d}", mid, mid.with_suffix(".wav")))
        return pairs

    def render_missing(self, pairs: list[tuple[str, Path, Path]]) -> None:
        """Render every pair whose WAV is missing (in parallel processes), reporting failures."""
        from tqdm.auto import tqdm

        todo = [(mid, wav) for _, mid, wav in pairs if not wav.is_file()]
        if not todo:
            return
        if find_fluidsynth() is None or not self.soundfont.is_file():
            missing = "the fluidsynth program" if find_fluidsynth() is None else f"the SoundFont {self.soundfont}"
            raise RenderError(
                f"data=rendered needs {missing} to render {len(todo)} MIDI file(s) to audio. Install "
                f"FluidSynth and the General MIDI SoundFont with `make data-deps` (Debian/Ubuntu: "
                f"apt-get install -y fluidsynth fluid-soundfont-gm), or set data.*.soundfont to "
                f"another .sf2 file.")
        log.info("rendering %d MIDI file(s) with FluidSynth, e.g.: %s", len(todo),
                 " ".join(fluidsynth_command(*todo[0], self.soundfont, self.sample_rate, self.gain, self.reverb)))

        def one(job: tuple[Path, Path]) -> tuple[Path, str | None]:
            try:
                render_file(job[0], job[1], self.soundfont, self.sample_rate, self.gain, self.reverb)
                return job[0], None
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                return job[0], str(exc)

        with ThreadPoolExecutor(max_workers=self.render_jobs) as pool:
            for mid, err in tqdm(pool.map(one, todo), total=len(todo), desc=f"rendering {self.split}",
                                 unit="file", disable=not self.progress, mininterval=1.0):
                if err:
                    self.report.skip(mid, "render failed", err)

    def scan(self) -> list[FileRecord]:
        self.root.mkdir(parents=True, exist_ok=True)
        pairs = self._given_pairs() if self.midi_dir else self._generated_pairs()
        self.render_missing(pairs)
        failed = self.report.skipped_paths()
        return [FileRecord(file_id=fid, audio=wav, midi=mid) for fid, mid, wav in pairs
                if str(mid) not in failed]
