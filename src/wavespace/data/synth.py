"""Synthetic polyphonic dataset: continuous (non-MIDI) pitches with exact frame-level labels.

Each item is generated on the fly from ``(seed, index)`` alone, so the dataset is deterministic,
infinite in principle, needs no disk, and is identical in every DataLoader worker and DDP rank.
Notes get ADSR-like envelopes and random harmonic timbres (spectral slope, odd/even balance,
slight inharmonicity, vibrato). Synthesis is vectorized per note over partials and samples in
float32, which keeps generation far cheaper than a training step (see bench/train_throughput.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset

import wavespace.geometry as geometry
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


def _adsr(n_on: int, n_total: int, sr: int, rng: np.random.Generator, p: SynthParams) -> np.ndarray:
    """Envelope for a note held ``n_on`` samples, with a release tail up to ``n_total``."""
    a = max(1, int(_uniform(rng, p.attack_range) * sr))
    d = max(1, int(_uniform(rng, p.decay_range) * sr))
    s = _uniform(rng, p.sustain_range)
    t = np.arange(n_total, dtype=np.float32)
    env = np.interp(t, [0, a, a + d], [0.0, 1.0, s]).astype(np.float32)
    level_at_off = env[min(n_on, n_total) - 1] if n_on > 0 else 0.0
    rel = max(1, n_total - n_on)
    tail = level_at_off * np.exp(-5.0 * np.arange(rel, dtype=np.float32) / rel)
    env[n_on:] = tail[: n_total - n_on]
    return env


def render(
    notes: Notes, rng: np.random.Generator, n_samples: int, sr: int, p: SynthParams
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Render notes to audio; return (audio, per-note f0 curve in fractional MIDI per sample-block).

    The f0 curve is returned at full sample rate only implicitly: callers get a function of time
    through ``vibrato`` parameters, so we return per-note (depth_cents, rate_hz, phase) instead.
    """
    audio = np.zeros(n_samples, np.float32)
    vib_params: list[np.ndarray] = []
    nyquist = 0.5 * sr
    for i in range(len(notes)):  # per note, vectorized over partials x samples inside
        start = int(notes.onset[i] * sr)
        n_on = max(1, int((notes.offset[i] - notes.onset[i]) * sr))
        release = int(_uniform(rng, p.release_range) * sr)
        n_total = min(n_on + release, n_samples - start)
        if n_total <= 0:
            vib_params.append(np.zeros(3))
            continue
        f0 = float(midi_to_hz(notes.pitch[i]))
        depth = _uniform(rng, p.vibrato_cents_range) if rng.random() < p.vibrato_prob else 0.0
        rate, phase = _uniform(rng, p.vibrato_rate_range), float(rng.uniform(0, 2 * np.pi))
        vib_params.append(np.array([depth, rate, phase]))
        t = np.arange(n_total, dtype=np.float32) / sr
        f0_t = f0 * np.exp2(depth / 1200.0 * np.sin(2 * np.pi * rate * t + phase)).astype(np.float32)
        base_phase = (2 * np.pi / sr) * np.cumsum(f0_t, dtype=np.float64)
        b = _uniform(rng, p.inharmonicity_range)
        k = np.arange(1, p.max_harmonics + 1, dtype=np.float64)
        stretch = k * np.sqrt(1.0 + b * k**2)
        keep = stretch * f0 * 2.0 ** (depth / 1200.0) < 0.95 * nyquist
        stretch = stretch[keep]
        amp = k[keep] ** -_uniform(rng, p.slope_range)
        amp[1::2] *= _uniform(rng, p.even_gain_range)  # k = 2, 4, 6, ...
        amp *= np.exp(rng.normal(0.0, 0.25, size=amp.shape))  # per-partial timbre jitter
        amp[0] = max(amp[0], amp[1:].max(initial=0.0) * 1.05)  # f0 stays the strongest partial
        if p.weak_fundamental > 0 and len(amp) > 1 and rng.random() < p.weak_fundamental:
            amp[0] = _uniform(rng, p.weak_fundamental_gain) * amp[1:].max()
        phases = rng.uniform(0, 2 * np.pi, size=(len(stretch), 1))
        partials = np.sin((stretch[:, None] * base_phase[None, :] + phases).astype(np.float32))
        tone = (amp.astype(np.float32) @ partials) / np.float32(amp.sum())
        env = _adsr(n_on, n_total, sr, rng, p)
        audio[start : start + n_total] += (notes.velocity[i] / 127.0) * env * tone
    return audio, vib_params


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

    def generate(self, index: int) -> tuple[np.ndarray, Notes, list[np.ndarray]]:
        """Audio, notes and vibrato parameters of item ``index`` (deterministic)."""
        rng = np.random.default_rng([self.seed, int(index)])
        clip_seconds = self.n_samples / self.sample_rate
        notes = draw_notes(rng, clip_seconds, self.params)
        audio, vib = render(notes, rng, self.n_samples, self.sample_rate, self.params)
        if rng.random() < self.params.noise_prob:
            power = float(np.mean(audio**2)) + 1e-12
            snr = _uniform(rng, self.params.snr_db_range)
            audio += rng.normal(0, np.sqrt(power / 10 ** (snr / 10)), self.n_samples).astype(np.float32)
        peak = float(np.abs(audio).max()) + 1e-9
        audio *= np.float32(rng.uniform(0.3, 0.95) / peak)
        return audio, notes, vib

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
