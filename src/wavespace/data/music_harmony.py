"""Keys, chords and progressions for the music-like MIDI generator (``wavespace.data.music_gen``).

Harmony is a first-order Markov chain over the seven scale degrees, the way functional harmony
moves (ii goes to V, V goes home to I...), with a cadence forced at each phrase end, so a
transcriber hears what real tonal music is made of: triads and sevenths whose partials overlap,
roots in the bass, inversions, and keys in which most notes stay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAJOR = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR = (0, 2, 3, 5, 7, 8, 10)
# Chord quality per degree (I..vii): intervals above the root in semitones.
MAJ, MIN, DIM, AUG = (0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8)
QUALITIES = {
    "major": (MAJ, MIN, MIN, MAJ, MAJ, MIN, DIM),
    # Minor uses the harmonic minor's leading tone for V and vii (the raised 7th), natural III/VI.
    "minor": (MIN, DIM, MAJ, MIN, MAJ, MAJ, DIM),
}
ROOTS = {"major": MAJOR, "minor": (0, 2, 3, 5, 7, 8, 11)}
# Transition weights between degrees (row: from, column: to), functional-harmony style.
TRANSITIONS = np.array([
    # I    ii   iii  IV   V    vi   vii
    [0.0, 0.15, 0.05, 0.25, 0.25, 0.22, 0.08],  # I
    [0.05, 0.0, 0.0, 0.1, 0.7, 0.0, 0.15],      # ii
    [0.0, 0.1, 0.0, 0.4, 0.0, 0.5, 0.0],        # iii
    [0.25, 0.2, 0.0, 0.0, 0.45, 0.0, 0.1],      # IV
    [0.65, 0.0, 0.0, 0.1, 0.0, 0.25, 0.0],      # V
    [0.0, 0.35, 0.05, 0.35, 0.25, 0.0, 0.0],    # vi
    [0.85, 0.0, 0.0, 0.0, 0.0, 0.15, 0.0],      # vii
])
TRANSITIONS = TRANSITIONS / TRANSITIONS.sum(1, keepdims=True)
# Phrase endings: (second-to-last degree or None, last degree), with weights.
CADENCES = (((4, 0), 0.5), ((None, 4), 0.25), ((3, 0), 0.1), ((4, 5), 0.15))


@dataclass(frozen=True)
class Key:
    """A key: tonic pitch class (0 = C) and mode (``major`` or ``minor``)."""

    tonic: int
    mode: str

    def scale(self, leading_tone: bool = False) -> tuple[int, ...]:
        """Pitch classes of the scale; in minor, ``leading_tone`` raises the 7th (over V, vii)."""
        steps = MAJOR if self.mode == "major" else NATURAL_MINOR
        if self.mode == "minor" and leading_tone:
            steps = steps[:6] + (11,)
        return tuple((self.tonic + s) % 12 for s in steps)

    def pitch_classes(self) -> frozenset[int]:
        """The key's own pitch classes (minor: natural minor plus the leading tone)."""
        return frozenset(self.scale()) | frozenset(self.scale(leading_tone=True))


@dataclass(frozen=True)
class Chord:
    """A chord: root pitch class, intervals above it, the scale degree it stands on (0..6;
    -1 for a secondary dominant), and which chord tone is in the bass (0 root, 1 third...)."""

    root: int
    intervals: tuple[int, ...]
    degree: int
    inversion: int = 0

    @property
    def pcs(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in self.intervals)

    @property
    def bass_pc(self) -> int:
        return self.pcs[min(self.inversion, len(self.intervals) - 1)]

    @property
    def is_dominant(self) -> bool:
        """V, vii and secondary dominants: in minor these carry the raised leading tone."""
        return self.degree in (4, 6, -1)


def degree_chord(key: Key, degree: int, seventh: bool = False, inversion: int = 0) -> Chord:
    """The diatonic chord on ``degree`` (0 = tonic), with its diatonic 7th when ``seventh``."""
    root = (key.tonic + ROOTS[key.mode][degree]) % 12
    intervals = QUALITIES[key.mode][degree]
    if seventh:
        scale = key.scale(leading_tone=degree in (4, 6))
        seventh_pc = scale[(degree + 6) % 7]
        intervals = intervals + (((seventh_pc - root) % 12),)
    return Chord(root, intervals, degree, inversion)


def secondary_dominant(key: Key, target_degree: int) -> Chord:
    """V7 of a degree (e.g. V/V before V): a chromatic chord, as in most tonal music."""
    target_root = (key.tonic + ROOTS[key.mode][target_degree]) % 12
    return Chord((target_root + 7) % 12, (0, 4, 7, 10), -1)


def random_key(rng: np.random.Generator, minor_prob: float) -> Key:
    return Key(int(rng.integers(12)), "minor" if rng.random() < minor_prob else "major")


def progression(rng: np.random.Generator, key: Key, n: int, start: int | None, seventh_prob: float,
                inversion_prob: float, secondary_prob: float) -> list[Chord]:
    """``n`` chords of one phrase: a Markov walk from ``start`` (tonic when None) ending on a cadence."""
    (pre, last), _ = CADENCES[rng.choice(len(CADENCES), p=[w for _, w in CADENCES])]
    degrees = [0 if start is None else int(rng.choice(7, p=TRANSITIONS[start]))]
    while len(degrees) < n:
        degrees.append(int(rng.choice(7, p=TRANSITIONS[degrees[-1]])))
    if n >= 2 and pre is not None:
        degrees[-2] = pre
    if n >= 1 and (n >= 2 or start is not None):
        degrees[-1] = last
    chords = []
    for i, d in enumerate(degrees):
        final = i == n - 1
        seventh = (not final or d != 0) and rng.random() < seventh_prob * (2.0 if d == 4 else 1.0)
        inv = 0 if final or rng.random() >= inversion_prob else int(rng.integers(1, 3))
        if 0 < i < n - 1 and degrees[i + 1] in (1, 4, 5) and d != 4 and rng.random() < secondary_prob:
            chords.append(secondary_dominant(key, degrees[i + 1]))  # e.g. V/V leading into V
        else:
            chords.append(degree_chord(key, d, seventh, inv))
    return chords


def nearest_pitch(pc: int, target: float, lo: int, hi: int) -> int:
    """The pitch of class ``pc`` closest to ``target`` inside [lo, hi] (clamped to the range)."""
    base = int(round(target)) - ((int(round(target)) - pc) % 12)
    cands = [p for p in (base - 12, base, base + 12, base + 24) if lo <= p <= hi]
    if not cands:
        p = lo + ((pc - lo) % 12)
        return p if p <= hi else lo
    return min(cands, key=lambda p: abs(p - target))


def chord_below(chord: Chord, top: int, n: int, lo: int) -> list[int]:
    """``n`` chord tones in close position under ``top`` (exclusive), each a new pitch."""
    out: list[int] = []
    p = top - 1
    pcs = set(chord.pcs)
    while len(out) < n and p >= lo:
        if p % 12 in pcs:
            out.append(p)
        p -= 1
    return out


def chord_above(chord: Chord, bottom: int, n: int, hi: int, skip_bass: bool = False) -> list[int]:
    """``n`` chord tones in close position from ``bottom`` (inclusive) upwards."""
    out: list[int] = []
    p = bottom
    pcs = set(chord.pcs) - ({chord.bass_pc} if skip_bass and len(chord.pcs) > 3 else set())
    while len(out) < n and p <= hi:
        if p % 12 in pcs:
            out.append(p)
        p += 1
    return out
