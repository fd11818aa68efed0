"""Music-like piano MIDI for ``data=rendered`` (``generator: music``), deterministic per seed.

Why: a transcriber trained on uniformly random keys learns the generator, not piano music. Real
music is chords, octaves, thirds and fifths whose partials overlap, a bass under a melody,
runs, repeated notes and a pedal held over each harmony, with up to 10-12 notes sounding. This
module writes such pieces: a random key (major/minor) and metre (2/4, 3/4, 4/4, 6/8), phrases of
functional harmony (``music_harmony``) played as one of several accompaniments under a melody
with runs and ornaments (``music_texture``), phrase-level dynamics, rubato, and a sustain pedal
changed at the chord changes. Nothing here reads any MIDI collection: third-party pieces are
reserved for the benchmark, which would mean nothing if trained on.

Polyphony is capped (``max_voices``) on the notes as the labels see them, i.e. after the pedal
has extended them (``wavespace.data.midi.apply_sustain``, the MAESTRO rule); inner voices and
ornaments are dropped first, the melody and the bass last.
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from wavespace.data.midi import apply_sustain
from wavespace.data.music_harmony import Key, progression, random_key
from wavespace.data.music_texture import (
    ACCOMPANIMENTS,
    BASS,
    INNER,
    MELODY,
    METRES,
    ORNAMENT,
    Metre,
    Phrase,
    Score,
    Voices,
    melody,
)
from wavespace.errors import ConfigError
from wavespace.labels import Notes

# Second chord of a bar when the harmony changes twice a bar (quarters from the bar start).
HALF_BAR = {"2/4": 1.0, "3/4": 2.0, "4/4": 2.0, "6/8": 1.5}
ROLE_VELOCITY = {MELODY: 0.0, BASS: -6.0, INNER: -14.0, ORNAMENT: -10.0}  # melody_accent added to MELODY


@dataclass
class MusicParams:
    """The ``music:`` block of conf/data/rendered.yaml (each key is commented there)."""

    tempo_bpm: tuple[float, float] = (60.0, 150.0)
    minor_prob: float = 0.4
    metres: dict[str, float] = field(default_factory=lambda: {"2/4": 0.15, "3/4": 0.25, "4/4": 0.4, "6/8": 0.2})
    phrase_bars: tuple[int, ...] = (2, 4)
    chords_per_bar: dict[int, float] = field(default_factory=lambda: {1: 0.6, 2: 0.4})
    seventh_prob: float = 0.2
    inversion_prob: float = 0.3
    secondary_prob: float = 0.1
    textures: dict[str, float] = field(default_factory=lambda: {
        "block": 0.2, "alberti": 0.15, "arpeggio": 0.25, "walking": 0.1, "stride": 0.15, "repeated": 0.15})
    melody_prob: float = 0.85
    doubling: dict[str, float] = field(default_factory=lambda: {"none": 0.5, "octave": 0.25, "third": 0.15, "sixth": 0.1})
    octave_bass_prob: float = 0.4
    block_voices: tuple[int, int] = (3, 9)
    hold_prob: float = 0.4
    staccato_prob: float = 0.15
    run_prob: float = 0.12
    ornament_prob: float = 0.08
    repeat_prob: float = 0.12
    max_voices: int = 12
    velocity_range: tuple[int, int] = (25, 115)
    phrase_dynamics: float = 25.0
    melody_accent: float = 10.0
    rubato: float = 0.06
    ritardando: float = 0.3
    timing_jitter: float = 0.008
    pedal_prob: float = 0.7
    pedal_beat_prob: float = 0.25
    pedal_lift: tuple[float, float] = (0.0, 0.04)
    pedal_catch: tuple[float, float] = (0.06, 0.15)

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None) -> MusicParams:
        """Validated parameters from a config mapping: unknown keys and bad values are errors."""
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        if set(cfg) - known:
            raise ConfigError(f"data.*.music: unknown key(s) {sorted(set(cfg) - known)}; known keys: "
                              f"{sorted(known)} (see conf/data/rendered.yaml)")
        p = cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items()})
        p.chords_per_bar = {int(k): float(v) for k, v in p.chords_per_bar.items()}
        allowed = {"metres": set(METRES), "textures": set(ACCOMPANIMENTS),
                   "doubling": {"none", "octave", "third", "sixth"}, "chords_per_bar": {1, 2}}
        problems = []
        for name, keys in allowed.items():
            w = getattr(p, name)
            if set(w) - keys:
                problems.append(f"{name}: {sorted(map(str, set(w) - keys))} not among {sorted(map(str, keys))}")
            if not w or min(w.values()) < 0 or sum(w.values()) <= 0:
                problems.append(f"{name}: weights must be non-negative with a positive sum")
        problems += [f"{f.name} must lie in [0, 1]" for f in fields(cls)
                     if f.name.endswith("_prob") and not 0.0 <= float(getattr(p, f.name)) <= 1.0]
        if int(p.max_voices) < 4:
            problems.append("max_voices must be at least 4")
        if not 1 <= p.block_voices[0] <= p.block_voices[1] or not 0 < p.tempo_bpm[0] <= p.tempo_bpm[1]:
            problems.append("block_voices and tempo_bpm must be [low, high] ranges of positive numbers")
        if p.pedal_lift[1] >= p.pedal_catch[0]:
            problems.append("pedal_lift must end before pedal_catch starts (a pedal is lifted before it is caught)")
        if problems:
            raise ConfigError("data.*.music is unusable: " + "; ".join(problems) + " (see conf/data/rendered.yaml).")
        return p

    def to_dict(self) -> dict[str, Any]:
        """Plain values (hashed into the rendered set's folder name: a changed setting renders anew)."""
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else {str(a): b for a, b in v.items()} if isinstance(v, dict) else v)
                for k, v in d.items()}


@dataclass
class Piece:
    """A generated piece: notes as written (keys held), pedal (down, up) intervals in seconds,
    and what it was built on (key, metre, tempo, chord-change and beat times in seconds)."""

    notes: Notes
    pedal: np.ndarray
    key: Key
    metre: str
    tempo_bpm: float
    chord_times: np.ndarray
    beat_times: np.ndarray
    textures: list[tuple[float, str]] = field(default_factory=list)  # (phrase start s, texture)


def _draw(rng: np.random.Generator, weights: dict) -> Any:
    keys = list(weights)
    w = np.array([float(weights[k]) for k in keys])
    return keys[int(rng.choice(len(keys), p=w / w.sum()))]


def _phrase(rng: np.random.Generator, p: MusicParams, m: Metre) -> Phrase:
    subs = [0.5, 0.25] if m.beat == 1.5 else [0.5, 0.25, 1 / 3]
    return Phrase(texture=_draw(rng, p.textures), sub=float(rng.choice(subs)),
                  block_size=int(rng.integers(p.block_voices[0], p.block_voices[1] + 1)),
                  hold=bool(rng.random() < p.hold_prob), double=_draw(rng, p.doubling),
                  melody=bool(rng.random() < p.melody_prob), staccato=bool(rng.random() < p.staccato_prob))


def _tempo_map(rng: np.random.Generator, p: MusicParams, tempo: float, n_q: int, m: Metre,
               phrases: list[tuple[float, float]]) -> np.ndarray:
    """Seconds at each quarter 0..n_q: a drifting tempo (rubato) that broadens at phrase ends."""
    n_bars = int(np.ceil(n_q / m.bar)) + 2
    drift = np.interp(np.arange(n_q) / m.bar, np.arange(n_bars), rng.normal(0.0, 1.0, n_bars))
    factor = 1.0 + p.rubato * np.clip(drift, -2.5, 2.5)
    q = np.arange(n_q) + 0.5
    for start, end in phrases:
        amount = p.ritardando * rng.random()
        x = np.clip((q - (end - m.bar)) / m.bar, 0.0, 1.0) * ((q >= start) & (q < end))
        factor *= 1.0 + amount * x**2
    spq = 60.0 / tempo * np.maximum(factor, 0.3)
    return np.concatenate([[0.0], np.cumsum(spq)])


def _unique_keys(onset: np.ndarray, offset: np.ndarray, pitch: np.ndarray, role: np.ndarray) -> np.ndarray:
    """Keep-mask after resolving one key struck twice at once: a doubled strike is dropped (the
    lower-priority one), a held note ends where the same key is struck again."""
    keep = np.ones(len(onset), bool)
    last: dict[int, int] = {}
    for i in np.lexsort((role, onset, pitch)):
        j = last.get(int(pitch[i]))
        if j is not None and onset[i] - onset[j] < 0.03:
            keep[i] = False
            continue
        if j is not None and offset[j] > onset[i]:
            offset[j] = onset[i]
        last[int(pitch[i])] = i
    return keep


def cap_polyphony(notes: Notes, pedal: np.ndarray, cap: int, priority: np.ndarray,
                  margin: float = 0.005) -> np.ndarray:
    """Keep-mask so that at most ``cap`` notes sound at once after the pedal extends them.

    Greedy in time order (lower ``priority`` number first at one instant); repeated because a
    dropped note no longer cuts an earlier pedalled note on its key, which may then ring longer.
    A note ending within ``margin`` seconds after an onset still counts at that onset, so tick
    rounding in the MIDI file cannot push the written file past the cap.
    """
    keep = np.ones(len(notes), bool)
    for _ in range(100):
        idx = np.flatnonzero(keep)
        sub = Notes(notes.onset[idx], notes.offset[idx], notes.pitch[idx], notes.velocity[idx])
        ext = apply_sustain(sub, pedal).offset
        heap: list[float] = []
        dropped = []
        for k in np.lexsort((priority[idx], sub.onset)):
            while heap and heap[0] <= sub.onset[k] - margin:
                heapq.heappop(heap)
            if len(heap) >= cap:
                dropped.append(idx[k])
            else:
                heapq.heappush(heap, float(ext[k]))
        if not dropped:
            return keep
        keep[dropped] = False
    return keep


def change_pedal_for_cap(notes: Notes, pedal: np.ndarray, cap: int, catch: float = 0.08,
                         margin: float = 0.005) -> np.ndarray:
    """Pedal intervals with extra changes wherever more than ``cap`` notes would ring at once:
    lifted just before the onset where the pile-up happens, caught again after it, as a
    pianist clears a blurred harmony (notes are dropped only where this cannot help)."""
    pedal = pedal.copy()
    for _ in range(200):
        ext = apply_sustain(notes, pedal).offset
        on_sorted, off_sorted = np.sort(notes.onset), np.sort(ext)
        count = np.searchsorted(on_sorted, notes.onset, "right") - np.searchsorted(off_sorted, notes.onset - margin, "right")
        over = np.flatnonzero(count > cap)
        for i in over[np.argsort(notes.onset[over], kind="stable")]:
            t = float(notes.onset[i])
            k = int(np.searchsorted(pedal[:, 0], t, "right")) - 1 if len(pedal) else -1
            if k >= 0 and t - 0.01 - pedal[k, 0] > 0.05 and pedal[k, 1] - (t + catch) > 0.05:
                pedal = np.concatenate([pedal[:k], [[pedal[k, 0], t - 0.01], [t + catch, pedal[k, 1]]], pedal[k + 1:]])
                break
        else:
            return pedal
    return pedal


def generate_piece(rng: np.random.Generator, seconds: float, params: MusicParams | None = None,
                   pitch_range: tuple[int, int] = (21, 108)) -> Piece:
    """One piece of about ``seconds`` (notes start before ``seconds - 0.5``, end by ``seconds - 0.25``)."""
    p = params or MusicParams()
    key, m = random_key(rng, p.minor_prob), METRES[_draw(rng, p.metres)]
    tempo = float(rng.uniform(*p.tempo_bpm))
    q_per_s = tempo / 60.0
    lo, hi = int(pitch_range[0]), int(pitch_range[1])
    score = Score(lo, hi)
    mel_lo = int(rng.integers(58, 70))
    v = Voices(bass=int(rng.integers(36, 50)), melody=mel_lo + 10, mel_lo=mel_lo, mel_hi=mel_lo + int(rng.integers(22, 31)))
    need_q = seconds * q_per_s * (1.0 + p.rubato) + m.bar
    phrases, spans_all, pedal_q, dyn = [], [], [], []
    start, degree = 0.0, None
    while start < need_q:
        bars = int(rng.choice(p.phrase_bars))
        per_bar = int(_draw(rng, p.chords_per_bar))
        cuts = [0.0] if per_bar == 1 else [0.0, HALF_BAR[m.name]]
        chords = progression(rng, key, bars * per_bar, degree, p.seventh_prob, p.inversion_prob, p.secondary_prob)
        degree = max(chords[-1].degree, 0)
        bounds = [start + b * m.bar + c for b in range(bars) for c in cuts] + [start + bars * m.bar]
        spans = [(bounds[i], bounds[i + 1], c) for i, c in enumerate(chords)]
        ph = _phrase(rng, p, m)
        v.octave_bass = bool(rng.random() < p.octave_bass_prob)
        for i, (s, e, c) in enumerate(spans):
            ACCOMPANIMENTS[ph.texture](score, rng, s, e, c, spans[min(i + 1, len(spans) - 1)][2], m, ph, v)
        runs = melody(score, rng, key, spans, m, ph, v, p.run_prob, p.ornament_prob, p.repeat_prob,
                      q_per_s) if ph.melody else []
        if rng.random() < p.pedal_prob:
            for s, e, _ in spans:
                if any(a < e and s < b for a, b in runs):
                    continue  # runs are played without pedal, as they are not blurred
                cuts_q = list(np.arange(s, e - 1e-6, m.beat)) if rng.random() < p.pedal_beat_prob else [s]
                pedal_q += [(a, b) for a, b in zip(cuts_q, cuts_q[1:] + [e], strict=True)]
        shape = str(rng.choice(["arch", "cresc", "dim", "flat"]))
        lo_v, hi_v = p.velocity_range
        dyn.append((start, bounds[-1], float(rng.uniform(lo_v + 15, max(lo_v + 16, hi_v - 20))), shape))
        phrases.append((start, bounds[-1], ph.texture if ph.melody else f"{ph.texture}, no melody"))
        spans_all += spans
        start = bounds[-1]
    times = _tempo_map(rng, p, tempo, int(np.ceil(start)) + 1, m, [(a, b) for a, b, _ in phrases])
    to_s = lambda q: np.interp(q, np.arange(len(times)), times)  # noqa: E731
    piece = _finish(rng, p, score, to_s, seconds, key, m, tempo, spans_all, pedal_q, dyn)
    piece.textures = [(float(to_s(a)), name) for a, _, name in phrases if float(to_s(a)) < seconds - 0.5]
    return piece


def _velocities(rng: np.random.Generator, p: MusicParams, onset_q: np.ndarray, role: np.ndarray, m: Metre,
                dyn: list[tuple[float, float, float, str]]) -> np.ndarray:
    """Phrase-level dynamics (arch, crescendo, diminuendo, flat), melody over accompaniment,
    downbeat accents and a little jitter."""
    vel = np.zeros(len(onset_q))
    for s, e, base, shape in dyn:
        inside = (onset_q >= s) & (onset_q < e)
        x = (onset_q[inside] - s) / (e - s)
        curve = {"arch": np.sin(np.pi * x), "cresc": x, "dim": 1.0 - x, "flat": 0.5 + 0.0 * x}[shape]
        vel[inside] = base + p.phrase_dynamics * (curve - 0.5)
    vel += np.vectorize(ROLE_VELOCITY.get)(role) + p.melody_accent * (role == MELODY)
    vel += 6.0 * (np.abs(np.remainder(onset_q + 1e-6, m.bar)) < 1e-3)
    vel += rng.normal(0.0, 4.0, len(vel))
    return np.clip(np.round(vel), p.velocity_range[0], p.velocity_range[1])


def _finish(rng: np.random.Generator, p: MusicParams, score: Score, to_s: Any, seconds: float, key: Key,
            m: Metre, tempo: float, spans: list, pedal_q: list, dyn: list) -> Piece:
    """Quarters -> seconds with humanized timing, the piece's end, one key at a time, the pedal,
    the polyphony cap and velocities."""
    onset_q, dur_q = np.array(score.onset), np.array(score.dur)
    pitch, role = np.array(score.pitch, np.int64), np.array(score.role, np.int64)
    jitter = np.clip(rng.normal(0.0, p.timing_jitter, (2, len(onset_q))), -2 * p.timing_jitter, 2 * p.timing_jitter)
    onset = np.maximum(to_s(onset_q) + jitter[0], 0.0)
    offset = np.maximum(to_s(onset_q + dur_q) + jitter[1], onset + 0.03)
    end = seconds - 0.25
    ok = onset < seconds - 0.5
    onset, offset, pitch, role, onset_q = onset[ok], np.minimum(offset[ok], end), pitch[ok], role[ok], onset_q[ok]
    keep = _unique_keys(onset, offset, pitch, role) & (offset > onset + 0.02)
    onset, offset, pitch, role, onset_q = onset[keep], offset[keep], pitch[keep], role[keep], onset_q[keep]
    pedal = []
    for a, b in pedal_q:
        down, up = float(to_s(a)) + rng.uniform(*p.pedal_catch), min(float(to_s(b)) + rng.uniform(*p.pedal_lift), end)
        if up - down > 0.05:
            pedal.append((down, up))
    pedal_arr = np.array(pedal, np.float64).reshape(-1, 2)
    order = np.argsort(onset, kind="stable")
    notes = Notes(onset[order], offset[order], pitch[order].astype(np.float64), np.zeros(len(order)))
    role, onset_q = role[order], onset_q[order]
    pedal_arr = change_pedal_for_cap(notes, pedal_arr, int(p.max_voices), float(np.mean(p.pedal_catch)))
    keep = cap_polyphony(notes, pedal_arr, int(p.max_voices), role)
    vel = _velocities(rng, p, onset_q[keep], role[keep], m, dyn)
    notes = Notes(notes.onset[keep], notes.offset[keep], notes.pitch[keep], vel)
    chord_times = np.array([float(to_s(s)) for s, _, _ in spans[1:] if float(to_s(s)) < end])
    n_beats = int(np.ceil(spans[-1][1] / m.beat)) if spans else 0
    beats = to_s(np.arange(n_beats) * m.beat)
    return Piece(notes, pedal_arr, key, m.name, tempo, chord_times, beats[beats < end])
