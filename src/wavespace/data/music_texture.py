"""Piano textures for the music-like MIDI generator: accompaniments under a melody.

Written in quarter notes (``Score``); ``wavespace.data.music_gen`` turns quarters into seconds
(rubato), adds dynamics and pedal. Each accompaniment is one function over a chord span, so a
phrase can switch between Alberti bass, arpeggios, block chords, walking bass, stride and
repeated notes, the textures whose overlapping partials a transcriber has to untangle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wavespace.data.music_harmony import Chord, Key, chord_above, chord_below, nearest_pitch

MELODY, BASS, INNER, ORNAMENT = 0, 1, 2, 3  # note roles; the cap drops higher numbers first


@dataclass(frozen=True)
class Metre:
    """A time signature in quarter notes: bar length and beat length (6/8: dotted quarters)."""

    name: str
    bar: float
    beat: float


METRES = {"2/4": Metre("2/4", 2.0, 1.0), "3/4": Metre("3/4", 3.0, 1.0),
          "4/4": Metre("4/4", 4.0, 1.0), "6/8": Metre("6/8", 3.0, 1.5)}


@dataclass
class Score:
    """Notes in quarter notes, with a role (melody, bass, inner, ornament) and an accent."""

    lo: int = 21
    hi: int = 108
    onset: list[float] = field(default_factory=list)
    dur: list[float] = field(default_factory=list)
    pitch: list[int] = field(default_factory=list)
    role: list[int] = field(default_factory=list)

    def add(self, onset: float, dur: float, pitch: int, role: int) -> None:
        """Add a note, moved by octaves into the piano range (never dropped for range)."""
        while pitch < self.lo:
            pitch += 12
        while pitch > self.hi:
            pitch -= 12
        if dur > 0 and self.lo <= pitch <= self.hi:
            self.onset.append(float(onset))
            self.dur.append(float(dur))
            self.pitch.append(int(pitch))
            self.role.append(role)


@dataclass
class Phrase:
    """What one phrase plays: drawn once per phrase so a texture lasts long enough to hear."""

    texture: str
    sub: float                 # accompaniment subdivision in quarters (0.5, 0.25, 1/3)
    block_size: int            # accompaniment notes in a block chord (bass and octave included)
    hold: bool                 # arpeggio notes held to the chord's end ("finger pedal")
    double: str                # melody doubling: none, octave, third, sixth
    melody: bool
    staccato: bool


@dataclass
class Voices:
    """Registers and the voice-leading state carried from chord to chord."""

    bass: int = 43
    melody: int = 74
    mel_lo: int = 62
    mel_hi: int = 92
    octave_bass: bool = False


def scale_pitches(key: Key, chord: Chord, lo: int, hi: int) -> list[int]:
    scale = set(key.scale(leading_tone=chord.is_dominant)) | set(chord.pcs)
    return [p for p in range(lo, hi + 1) if p % 12 in scale]


def _bass(v: Voices, chord: Chord) -> int:
    v.bass = nearest_pitch(chord.bass_pc, v.bass, 31, 55)
    return v.bass


def _strike(score: Score, t: float, dur: float, pitches: list[int], bass: int | None) -> None:
    for p in pitches:
        score.add(t, dur, p, BASS if p == bass else INNER)


def block(score: Score, rng: np.random.Generator, s: float, e: float, chord: Chord, nxt: Chord,
          m: Metre, ph: Phrase, v: Voices) -> None:
    """Block chords: bass (with octave) plus chord tones in both hands, struck per beat or held."""
    bass = _bass(v, chord)
    lh = [bass] + ([bass - 12] if v.octave_bass else [])
    lh += chord_above(chord, bass + 3, max(0, min(2, ph.block_size - len(lh) - 2)), bass + 16)
    rh = chord_below(chord, v.mel_lo if ph.melody else v.mel_lo + 7, max(0, ph.block_size - len(lh)), bass + 12)
    strikes = [s] if rng.random() < 0.4 else list(np.arange(s, e - 1e-6, m.beat))
    for i, t in enumerate(strikes):
        end = strikes[i + 1] if i + 1 < len(strikes) else e
        _strike(score, t, (end - t) * (0.45 if ph.staccato else 0.95), lh + rh, bass)


def alberti(score: Score, rng: np.random.Generator, s: float, e: float, chord: Chord, nxt: Chord,
            m: Metre, ph: Phrase, v: Voices) -> None:
    """Alberti bass: low-high-middle-high on a close triad in the tenor register."""
    low = nearest_pitch(chord.bass_pc, 50, 40, 60)
    mid, high = (chord_above(chord, low + 1, 2, low + 14) + [low + 7, low + 12])[:2]
    pattern = (low, high, mid, high)
    for i, t in enumerate(np.arange(s, e - 1e-6, ph.sub)):
        score.add(t, ph.sub * 0.9, pattern[i % 4], BASS if i % 4 == 0 else INNER)
    if v.octave_bass:
        bass = _bass(v, chord)
        score.add(s, e - s, bass, BASS)


def arpeggio(score: Score, rng: np.random.Generator, s: float, e: float, chord: Chord, nxt: Chord,
             m: Metre, ph: Phrase, v: Voices) -> None:
    """Broken chords over one or two octaves from the bass, up or up-and-down."""
    bass = _bass(v, chord)
    span = 12 * int(rng.integers(1, 3))
    tones = [bass] + chord_above(chord, bass + 1, 8, bass + span)
    seq = tones + tones[-2:0:-1] if rng.random() < 0.5 else tones
    for i, t in enumerate(np.arange(s, e - 1e-6, ph.sub)):
        dur = (e - t) if ph.hold else ph.sub * 0.95
        score.add(t, dur, seq[i % len(seq)], BASS if i == 0 else INNER)


def walking(score: Score, rng: np.random.Generator, s: float, e: float, chord: Chord, nxt: Chord,
            m: Metre, ph: Phrase, v: Voices) -> None:
    """Walking bass: a note a beat, chord tones and passing notes leading by step to the next root,
    with chords comped above it."""
    beats = list(np.arange(s, e - 1e-6, m.beat))
    p = _bass(v, chord)
    target = nearest_pitch(nxt.bass_pc, p, 31, 57)
    for i, t in enumerate(beats):
        if i == len(beats) - 1 and i > 0:  # approach the next chord by a step (often chromatic)
            p = target + (1 if target <= p else -1) * int(rng.choice([1, 2]))
        elif i > 0:
            cands = [q for q in range(p - 5, p + 6) if q % 12 in chord.pcs and q != p] or [p + 2]
            p = int(rng.choice(cands))
        score.add(t, m.beat * 0.9, p, BASS)
    v.bass = int(np.clip(p, 31, 57))
    comp = chord_below(chord, v.mel_lo if ph.melody else v.mel_lo + 5, max(2, ph.block_size - 2), 50)
    for t in ([s] if rng.random() < 0.5 else beats[1::2] or [s]):
        _strike(score, t + (m.beat / 2 if rng.random() < 0.3 else 0.0), m.beat * 0.8, comp, None)


def stride(score: Score, rng: np.random.Generator, s: float, e: float, chord: Chord, nxt: Chord,
           m: Metre, ph: Phrase, v: Voices) -> None:
    """Oom-pah: bass (often in octaves) on strong beats, a chord on the others (waltz, march)."""
    bass = _bass(v, chord)
    chord_notes = chord_above(chord, 52, max(2, min(4, ph.block_size - 1)), 70, skip_bass=True)
    for t in np.arange(s, e - 1e-6, m.beat):  # a chord arriving off the strong beat gets its "pah"
        pos = t % m.bar
        if pos < 1e-6 or m.bar - pos < 1e-6 or (m.bar == 4.0 and abs(pos - 2.0) < 1e-6):
            _strike(score, t, m.beat * 0.9, [bass] + ([bass - 12] if v.octave_bass else []), bass)
        else:
            _strike(score, t, m.beat * (0.45 if ph.staccato else 0.85), chord_notes, None)


def repeated(score: Score, rng: np.random.Generator, s: float, e: float, chord: Chord, nxt: Chord,
             m: Metre, ph: Phrase, v: Voices) -> None:
    """Repeated notes: a drum bass in octaves or a repeated chord, in even subdivisions."""
    bass = _bass(v, chord)
    notes = [bass, bass + 12] if rng.random() < 0.5 else chord_above(chord, 55, 3, 72)
    for t in np.arange(s, e - 1e-6, ph.sub):
        _strike(score, t, ph.sub * 0.8, notes, bass)


ACCOMPANIMENTS = {"block": block, "alberti": alberti, "arpeggio": arpeggio, "walking": walking,
                  "stride": stride, "repeated": repeated}


def _rhythm(rng: np.random.Generator, beat: float) -> list[float]:
    """Durations of the melody notes in one beat (quarters)."""
    if beat == 1.5:
        cells = [[1.5], [1.0, 0.5], [0.5, 0.5, 0.5], [0.75, 0.25, 0.5], [0.5, 1.0]]
        w = [0.25, 0.3, 0.25, 0.1, 0.1]
    else:
        cells = [[1.0], [0.5, 0.5], [0.75, 0.25], [0.25] * 4, [1 / 3] * 3, [0.5, 0.25, 0.25]]
        w = [0.3, 0.3, 0.12, 0.12, 0.08, 0.08]
    return cells[int(rng.choice(len(cells), p=w))]


def _next_pitch(rng: np.random.Generator, p: int, scale: list[int], chord: Chord, strong: bool,
                repeat_prob: float, v: Voices) -> int:
    """Mostly steps, chord tones on strong beats, some repeats and leaps, pulled to the centre."""
    if rng.random() < repeat_prob:
        return p
    i = int(np.searchsorted(scale, p))
    up = rng.random() < float(np.clip(0.5 - (p - (v.mel_lo + v.mel_hi) / 2) / 30, 0.15, 0.85))
    if strong and rng.random() < 0.7:
        cands = [q for q in scale if q % 12 in chord.pcs and 0 < abs(q - p) <= 7] or [p]
        w = np.array([1.0 / abs(q - p) if q != p else 1.0 for q in cands])
        return int(cands[int(rng.choice(len(cands), p=w / w.sum()))])
    step = 1 if rng.random() < 0.7 else int(rng.integers(2, 5))
    j = int(np.clip(i + (step if up else -step), 0, len(scale) - 1))
    return int(scale[j])


def ornament(score: Score, rng: np.random.Generator, t: float, dur: float, p: int, scale: list[int],
             q_per_s: float) -> bool:
    """A trill, mordent, turn or grace note on the melody note (p, t, dur); False when none fits."""
    fast = 0.07 * q_per_s  # ~70 ms a note in quarters
    i = int(np.searchsorted(scale, p))
    upper = scale[min(i + 1, len(scale) - 1)]
    lower = scale[max(i - 1, 0)] if i > 0 else p - 1
    kind = str(rng.choice(["trill", "mordent", "turn", "grace"]))
    if kind == "trill" and dur >= 4 * fast:
        n = int(dur / fast)
        for k in range(n):
            score.add(t + k * fast, fast * 0.95, p if k % 2 == 0 else upper, MELODY if k == 0 else ORNAMENT)
        return True
    if kind == "mordent" and dur >= 3 * fast:
        score.add(t, fast * 0.9, p, MELODY)
        score.add(t + fast, fast * 0.9, upper, ORNAMENT)
        score.add(t + 2 * fast, dur - 2 * fast, p, ORNAMENT)
        return True
    if kind == "turn" and dur >= 5 * fast:
        for k, q in enumerate((upper, p, lower)):
            score.add(t + k * fast, fast * 0.9, q, MELODY if k == 0 else ORNAMENT)
        score.add(t + 3 * fast, dur - 3 * fast, p, ORNAMENT)
        return True
    if kind == "grace" and t >= fast:  # acciaccatura just before the beat: often chromatic below
        score.add(t - fast * 0.8, fast * 0.7, p - 1 if rng.random() < 0.5 else upper, ORNAMENT)
    return False


def _double(score: Score, key: Key, chord: Chord, t: float, dur: float, p: int, how: str) -> None:
    if how == "octave":
        score.add(t, dur, p - 12, INNER)
    elif how in ("third", "sixth"):
        scale = scale_pitches(key, chord, p - 12, p - 1)
        steps = 2 if how == "third" else 5
        if len(scale) >= steps:
            score.add(t, dur, scale[-steps], INNER)


def melody(score: Score, rng: np.random.Generator, key: Key, spans: list[tuple[float, float, Chord]],
           m: Metre, ph: Phrase, v: Voices, run_prob: float, ornament_prob: float, repeat_prob: float,
           q_per_s: float) -> list[tuple[float, float]]:
    """A melody over the phrase's chord spans, bar by bar; returns the (start, end) of scale runs."""
    runs = []
    start, end = spans[0][0], spans[-1][1]
    chord_at = lambda t: next(c for s, e, c in spans if s <= t + 1e-9 < e)  # noqa: E731
    for bar in np.arange(start, end - 1e-6, m.bar):
        last = bar + m.bar >= end - 1e-6
        if not last and rng.random() < run_prob:
            runs.append(_run(score, rng, key, chord_at(bar), chord_at(bar + m.bar), bar, m, v, q_per_s))
            continue
        for b in np.arange(bar, bar + m.bar - 1e-6, m.beat):
            cells = [m.beat] if last and b + m.beat >= end - 1e-6 else _rhythm(rng, m.beat)
            t = b
            for k, d in enumerate(cells):
                chord = chord_at(t)
                scale = scale_pitches(key, chord, v.mel_lo, v.mel_hi)
                v.melody = _next_pitch(rng, v.melody, scale, chord, k == 0, repeat_prob, v)
                legato = 0.5 if ph.staccato and d <= 0.5 else 0.95
                if not (d >= 0.5 and rng.random() < ornament_prob
                        and ornament(score, rng, t, d * legato, v.melody, scale, q_per_s)):
                    score.add(t, d * legato, v.melody, MELODY)
                if ph.double != "none":
                    _double(score, key, chord, t, d * legato, v.melody, ph.double)
                t += d
    return runs


def _run(score: Score, rng: np.random.Generator, key: Key, chord: Chord, nxt: Chord, bar: float,
         m: Metre, v: Voices, q_per_s: float) -> tuple[float, float]:
    """A scale run filling the bar (16ths, or 32nds when the tempo is slow) towards a chord tone
    of the next bar's chord."""
    sub = 0.25 if q_per_s >= 1.5 else 0.125
    n = int(round(m.bar / sub))
    scale = scale_pitches(key, chord, max(v.mel_lo - 12, 48), min(v.mel_hi + 7, 100))
    i = int(np.searchsorted(scale, v.melody))
    up = (v.melody < (v.mel_lo + v.mel_hi) / 2) if rng.random() < 0.8 else rng.random() < 0.5
    for k in range(n):
        j = int(np.clip(i + (k if up else -k), 0, len(scale) - 1))
        score.add(bar + k * sub, sub * 0.9, scale[j], MELODY)
        v.melody = int(scale[j])
    v.melody = int(np.clip(v.melody, v.mel_lo, v.mel_hi))
    return bar, bar + m.bar
