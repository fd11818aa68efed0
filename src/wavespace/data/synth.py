"""Synthetic polyphonic dataset: continuous (non-MIDI) pitches with exact frame-level labels.

Each item is generated on the fly from ``(seed, index)`` alone, so the dataset is deterministic,
infinite in principle, needs no disk, and is identical in every DataLoader worker and DDP rank.
Notes get ADSR-like envelopes and random harmonic timbres (spectral slope, odd/even balance,
slight inharmonicity, vibrato). An item's random numbers are drawn first (:func:`draw_item`,
in the order the generator has always drawn them), then rendered: here by the numpy reference
(:func:`render`, one note at a time, vectorized over partials and samples, in a DataLoader worker),
or with ``data.generate_on=device`` for a whole batch on the training device
(``wavespace.data.synth_batched``). Both are far cheaper than a training step on a CPU
(``bench/synth_generator.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset

import wavespace.geometry as geometry
from wavespace.data.synth_batched import PlanLayout, pad_draw
from wavespace.errors import ConfigError
from wavespace.labels import (
    Notes,
    expand_spans,
    hz_to_midi,
    midi_to_hz,
    note_frame_spans,
    notes_to_roll,
    salience_map,
)


@dataclass(frozen=True)
class SynthParams:
    """What the generator draws from. Ranges are inclusive (low, high)."""

    max_polyphony: int = 4
    notes_per_voice: tuple[int, int] = (1, 4)
    pitch_range: tuple[float, float] = (28.0, 96.0)   # fractional MIDI: E1 .. C7
    duration_range: tuple[float, float] = (0.08, 1.2)  # seconds
    gap_range: tuple[float, float] = (0.0, 0.4)
    max_harmonics: int = 24
    slope_range: tuple[float, float] = (0.6, 2.2)     # partial k has amplitude k**-slope
    even_gain_range: tuple[float, float] = (0.15, 1.0)
    inharmonicity_range: tuple[float, float] = (0.0, 4e-4)
    vibrato_prob: float = 0.4
    vibrato_cents_range: tuple[float, float] = (5.0, 40.0)
    vibrato_rate_range: tuple[float, float] = (4.0, 7.0)
    attack_range: tuple[float, float] = (0.003, 0.06)
    decay_range: tuple[float, float] = (0.05, 0.4)
    sustain_range: tuple[float, float] = (0.2, 0.9)
    release_range: tuple[float, float] = (0.02, 0.15)
    noise_prob: float = 0.5
    snr_db_range: tuple[float, float] = (15.0, 40.0)
    # Probability that a note is a weak-fundamental tone: its f0 partial gets a gain drawn from
    # weak_fundamental_gain times the strongest other partial (a raw-spectrum peak picker then
    # lands on a harmonic). 0 keeps the default, where f0 is the strongest partial, and draws
    # nothing extra from the generator, so existing items are unchanged.
    weak_fundamental: float = 0.0
    weak_fundamental_gain: tuple[float, float] = (0.0, 0.3)


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def draw_notes(rng: np.random.Generator, clip_seconds: float, p: SynthParams) -> Notes:
    """Draw 1..max_polyphony independent voices, each a sequence of notes with gaps."""
    onsets, offsets, pitches = [], [], []
    for _ in range(int(rng.integers(1, p.max_polyphony + 1))):
        t = float(rng.uniform(0.0, 0.5 * clip_seconds))
        for _ in range(int(rng.integers(p.notes_per_voice[0], p.notes_per_voice[1] + 1))):
            if t >= clip_seconds - 0.05:
                break
            dur = _uniform(rng, p.duration_range)
            onsets.append(t)
            offsets.append(min(t + dur, clip_seconds))
            pitches.append(_uniform(rng, p.pitch_range))
            t += dur + _uniform(rng, p.gap_range)
    velocity = rng.uniform(40, 127, size=len(onsets))
    return Notes.from_arrays(onsets, offsets, pitches, velocity)


@dataclass
class ToneDraw:
    """What the generator drew for one sounding note: everything rendering needs, nothing rendered.

    ``stretch``/``amp``/``phases`` list the partials kept below 0.95 x Nyquist (``amp`` is not
    normalised); ``attack``/``decay`` are in samples. The numpy reference (:func:`render`) and the
    batched torch renderer (``wavespace.data.synth_batched``) both render from this.
    """

    start: int
    n_on: int
    n_total: int
    f0: float
    depth: float  # vibrato depth in cents (0: a steady tone)
    rate: float
    phase: float
    stretch: np.ndarray
    amp: np.ndarray
    phases: np.ndarray  # [n_partials, 1]
    attack: int
    decay: int
    sustain: float


@dataclass
class ItemDraw:
    """Every random number of one item: its notes, one ToneDraw per note (None: starts too late to
    sound), the noise (standard normal, scaled by the rendered power) and the output peak."""

    notes: Notes
    tones: list[ToneDraw | None]
    snr_db: float | None
    noise: np.ndarray | None
    peak: float

    @property
    def vib(self) -> list[np.ndarray]:
        """Per-note vibrato (depth_cents, rate_hz, phase); zeros for notes that do not sound."""
        return [np.zeros(3) if t is None else np.array([t.depth, t.rate, t.phase]) for t in self.tones]


def draw_tone(rng: np.random.Generator, notes: Notes, i: int, n_samples: int, sr: int,
              p: SynthParams) -> ToneDraw | None:
    """Draw note ``i``'s timbre, vibrato and envelope (the order of draws is part of the data)."""
    start = int(notes.onset[i] * sr)
    n_on = max(1, int((notes.offset[i] - notes.onset[i]) * sr))
    release = int(_uniform(rng, p.release_range) * sr)
    n_total = min(n_on + release, n_samples - start)
    if n_total <= 0:
        return None
    f0 = float(midi_to_hz(notes.pitch[i]))
    depth = _uniform(rng, p.vibrato_cents_range) if rng.random() < p.vibrato_prob else 0.0
    rate, phase = _uniform(rng, p.vibrato_rate_range), float(rng.uniform(0, 2 * np.pi))
    b = _uniform(rng, p.inharmonicity_range)
    k = np.arange(1, p.max_harmonics + 1, dtype=np.float64)
    stretch = k * np.sqrt(1.0 + b * k**2)
    keep = stretch * f0 * 2.0 ** (depth / 1200.0) < 0.95 * (0.5 * sr)
    stretch = stretch[keep]
    amp = k[keep] ** -_uniform(rng, p.slope_range)
    amp[1::2] *= _uniform(rng, p.even_gain_range)  # k = 2, 4, 6, ...
    amp *= np.exp(rng.normal(0.0, 0.25, size=amp.shape))  # per-partial timbre jitter
    amp[0] = max(amp[0], amp[1:].max(initial=0.0) * 1.05)  # f0 stays the strongest partial
    if p.weak_fundamental > 0 and len(amp) > 1 and rng.random() < p.weak_fundamental:
        amp[0] = _uniform(rng, p.weak_fundamental_gain) * amp[1:].max()
    phases = rng.uniform(0, 2 * np.pi, size=(len(stretch), 1))
    attack = max(1, int(_uniform(rng, p.attack_range) * sr))
    decay = max(1, int(_uniform(rng, p.decay_range) * sr))
    return ToneDraw(start, n_on, n_total, f0, depth, rate, phase, stretch, amp, phases, attack, decay,
                    _uniform(rng, p.sustain_range))


def draw_item(rng: np.random.Generator, n_samples: int, sr: int, p: SynthParams) -> ItemDraw:
    """All of an item's random numbers, in the order the generator has always drawn them."""
    notes = draw_notes(rng, n_samples / sr, p)
    tones = [draw_tone(rng, notes, i, n_samples, sr, p) for i in range(len(notes))]
    snr = noise = None
    if rng.random() < p.noise_prob:
        snr = _uniform(rng, p.snr_db_range)
        noise = rng.standard_normal(n_samples)  # = rng.normal(0, 1): the same draws, scaled later
    return ItemDraw(notes, tones, snr, noise, float(rng.uniform(0.3, 0.95)))


def _adsr(tone: ToneDraw) -> np.ndarray:
    """Envelope of a note held ``n_on`` samples, with a release tail up to ``n_total``."""
    n_on, n_total, a, d = tone.n_on, tone.n_total, tone.attack, tone.decay
    t = np.arange(n_total, dtype=np.float32)
    env = np.interp(t, [0, a, a + d], [0.0, 1.0, tone.sustain]).astype(np.float32)
    level_at_off = env[min(n_on, n_total) - 1] if n_on > 0 else 0.0
    rel = max(1, n_total - n_on)
    tail = level_at_off * np.exp(-5.0 * np.arange(rel, dtype=np.float32) / rel)
    env[n_on:] = tail[: n_total - n_on]
    return env


def render(item: ItemDraw, n_samples: int, sr: int) -> np.ndarray:
    """The reference renderer: one note at a time, vectorized over partials x samples (float32
    oscillators on float64 phases), then noise at the drawn SNR and the drawn peak."""
    audio = np.zeros(n_samples, np.float32)
    for i, tone in enumerate(item.tones):
        if tone is None:
            continue
        t = np.arange(tone.n_total, dtype=np.float32) / sr
        vibrato = np.sin(2 * np.pi * tone.rate * t + tone.phase)
        f0_t = tone.f0 * np.exp2(tone.depth / 1200.0 * vibrato).astype(np.float32)
        base_phase = (2 * np.pi / sr) * np.cumsum(f0_t, dtype=np.float64)
        # [partials, samples] is the big array: built once and updated in place (a fresh array
        # per operation costs more in allocation and page faults than the arithmetic).
        phase = np.multiply.outer(tone.stretch, base_phase)
        phase += tone.phases
        partials = phase.astype(np.float32)
        np.sin(partials, out=partials)
        wave = (tone.amp.astype(np.float32) @ partials) / np.float32(tone.amp.sum())
        audio[tone.start : tone.start + tone.n_total] += (item.notes.velocity[i] / 127.0) * _adsr(tone) * wave
    if item.noise is not None:
        power = float(np.mean(audio**2)) + 1e-12
        audio += (np.sqrt(power / 10 ** (item.snr_db / 10)) * item.noise).astype(np.float32)
    peak = float(np.abs(audio).max()) + 1e-9
    audio *= np.float32(item.peak / peak)
    return audio


class SynthDataset(Dataset):
    """Deterministic synthetic polyphonic clips with salience and piano-roll targets.

    Items: ``audio`` [n_samples] float32; ``salience`` [n_bins, n_frames]; ``frame``,
    ``onset``, ``offset``, ``velocity`` [n_keys, n_frames]. Pitch labels follow vibrato frame by
    frame on the salience grid; the roll uses the nearest key of each note's center pitch.
    """

    def __init__(
        self,
        length: int,
        seed: int = 0,
        sample_rate: int = 22050,
        hop_length: int = 256,
        clip_seconds: float = 2.0,
        fmin: float = 27.5,
        bins_per_octave: int = 36,
        n_bins: int = 264,
        min_midi: int = 21,
        n_keys: int = 88,
        salience_sigma_bins: float = 1.0,
        **params: object,
    ) -> None:
        self.length, self.seed = int(length), int(seed)
        self.sample_rate, self.hop_length = int(sample_rate), int(hop_length)
        self.n_samples = int(round(clip_seconds * sample_rate))
        self.n_frames = geometry.n_frames(self.n_samples, hop_length)
        self.frame_rate = geometry.frame_rate(sample_rate, hop_length)
        self.grid = dict(fmin=float(fmin), bins_per_octave=int(bins_per_octave), n_bins=int(n_bins))
        self.min_midi, self.n_keys, self.sigma = int(min_midi), int(n_keys), float(salience_sigma_bins)
        tuples = {k: tuple(v) if isinstance(v, (list, tuple)) or hasattr(v, "__len__") else v
                  for k, v in params.items()}
        self.params = SynthParams(**tuples)  # type: ignore[arg-type]
        lo, hi = self.params.weak_fundamental_gain
        if not 0.0 <= self.params.weak_fundamental <= 1.0 or not 0.0 <= lo <= hi:
            raise ConfigError(
                f"synth weak_fundamental is a probability in [0, 1] and weak_fundamental_gain a "
                f"range 0 <= low <= high (got {self.params.weak_fundamental} and "
                f"{self.params.weak_fundamental_gain})")
        top = float(hz_to_midi(self.grid["fmin"])) + 12.0 * n_bins / bins_per_octave
        if self.params.pitch_range[1] >= top or midi_to_hz(self.params.pitch_range[1]) >= sample_rate / 2:
            raise ValueError(
                f"synth pitch_range {self.params.pitch_range} exceeds the salience grid "
                f"(top bin at MIDI {top:.1f}) or the Nyquist frequency at {sample_rate} Hz"
            )

    def __len__(self) -> int:
        return self.length

    def draw(self, index: int) -> ItemDraw:
        """Every random number of item ``index`` (deterministic per (seed, index))."""
        return draw_item(np.random.default_rng([self.seed, int(index)]), self.n_samples, self.sample_rate,
                         self.params)

    @property
    def max_notes(self) -> int:
        return self.params.max_polyphony * self.params.notes_per_voice[1]

    def layout(self) -> PlanLayout:
        """The geometry the batched renderer needs (``wavespace.data.synth_batched``)."""
        return PlanLayout(self.sample_rate, self.n_samples, self.n_frames, self.frame_rate,
                          float(hz_to_midi(self.grid["fmin"])), self.grid["bins_per_octave"],
                          self.grid["n_bins"], self.min_midi, self.n_keys, self.sigma)

    def plan(self, index: int) -> dict[str, np.ndarray]:
        """Item ``index``'s draws as fixed-shape arrays, to be rendered in a batch on the device."""
        return pad_draw(self.draw(index), self.max_notes, self.params.max_harmonics, self.n_samples)

    def generate(self, index: int) -> tuple[np.ndarray, Notes, list[np.ndarray]]:
        """Audio, notes and vibrato parameters of item ``index`` (deterministic)."""
        item = self.draw(index)
        return render(item, self.n_samples, self.sample_rate), item.notes, item.vib

    def frame_pitches(self, notes: Notes, vib: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(frame index, fractional MIDI pitch) for every sounding frame, vibrato included."""
        start, end, _ = note_frame_spans(notes, self.n_frames, self.frame_rate)
        note_idx, frame_idx = expand_spans(start, end)
        if len(note_idx) == 0:
            return frame_idx, np.zeros(0)
        vp = np.stack(vib) if vib else np.zeros((0, 3))
        t = frame_idx / self.frame_rate - notes.onset[note_idx]
        depth, rate, phase = vp[note_idx, 0], vp[note_idx, 1], vp[note_idx, 2]
        pitch = notes.pitch[note_idx] + depth / 100.0 * np.sin(2 * np.pi * rate * t + phase)
        return frame_idx, pitch

    def reference_frequencies(self, notes: Notes, vib: list[np.ndarray]) -> list[np.ndarray]:
        """Exact sounding pitches (Hz, vibrato included) of each frame, as mir_eval.multipitch
        takes them: a list of ``n_frames`` arrays (empty where nothing sounds)."""
        frame_idx, pitch = self.frame_pitches(notes, vib)
        order = np.argsort(frame_idx, kind="stable")
        split = np.searchsorted(frame_idx[order], np.arange(1, self.n_frames))
        return np.split(midi_to_hz(pitch[order]), split)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        audio, notes, vib = self.generate(index)
        frame_idx, pitch = self.frame_pitches(notes, vib)
        item = notes_to_roll(notes, self.n_frames, self.frame_rate, self.min_midi, self.n_keys)
        item["salience"] = salience_map(frame_idx, pitch, self.n_frames, sigma_bins=self.sigma, **self.grid)
        item["audio"] = audio
        return item
