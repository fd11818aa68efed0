"""Notes <-> frame-aligned targets: the one place where MIDI-like notes become training labels.

Frames are *centered*: frame ``i`` describes time ``i / frame_rate`` (the convention of nnAudio
and librosa with ``center=True``; frame counts come from ``wavespace.geometry``).
Everything is vectorized over notes and active frames; no Python loop per note or frame, so a
whole MAESTRO piece is labelled in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def hz_to_midi(hz: np.ndarray | float) -> np.ndarray:
    return 69.0 + 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / 440.0)


@dataclass(frozen=True)
class Notes:
    """A set of notes as parallel arrays (seconds, fractional MIDI pitch, velocity 0..127)."""

    onset: np.ndarray
    offset: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.onset)
        if not (len(self.offset) == len(self.pitch) == len(self.velocity) == n):
            raise ValueError("Notes arrays must have equal length")

    def __len__(self) -> int:
        return len(self.onset)

    @classmethod
    def empty(cls) -> Notes:
        z = np.zeros(0)
        return cls(z, z.copy(), z.copy(), z.copy())

    @classmethod
    def from_arrays(cls, onset, offset, pitch, velocity=None) -> Notes:
        onset = np.asarray(onset, dtype=np.float64)
        vel = np.full(len(onset), 100.0) if velocity is None else np.asarray(velocity, np.float64)
        return cls(onset, np.asarray(offset, np.float64), np.asarray(pitch, np.float64), vel)



def note_frame_spans(
    notes: Notes, n_frames: int, frame_rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First frame, end frame (exclusive) and a 'starts inside' flag for each note.

    A note covers frames ``round(onset*fr) .. max(round(offset*fr), start+1)``: every note,
    however short, covers at least one frame, so no label silently disappears.
    """
    start = np.round(notes.onset * frame_rate).astype(np.int64)
    end = np.maximum(np.round(notes.offset * frame_rate).astype(np.int64), start + 1)
    starts_inside = (start >= 0) & (start < n_frames)
    return np.clip(start, 0, n_frames), np.clip(end, 0, n_frames), starts_inside


def expand_spans(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(note index, frame index) for every frame each note covers, without a Python loop."""
    lengths = np.maximum(end - start, 0)
    total = int(lengths.sum())
    note_idx = np.repeat(np.arange(len(start)), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    frame_idx = np.repeat(start, lengths) + (np.arange(total) - first)
    return note_idx, frame_idx


def notes_to_roll(
    notes: Notes, n_frames: int, frame_rate: float, min_midi: int = 21, n_keys: int = 88
) -> dict[str, np.ndarray]:
    """Piano-roll targets ``frame``, ``onset``, ``offset`` and ``velocity`` (all [n_keys, n_frames]).

    Pitches are rounded to the nearest key; notes outside the keyboard are dropped.
    """
    out = {k: np.zeros((n_keys, n_frames), np.float32) for k in ("frame", "onset", "offset", "velocity")}
    if len(notes) == 0 or n_frames == 0:
        return out
    key = np.round(notes.pitch).astype(np.int64) - int(min_midi)
    ok = (key >= 0) & (key < n_keys)
    start, end, starts_inside = note_frame_spans(notes, n_frames, frame_rate)
    key, start, end, starts_inside = key[ok], start[ok], end[ok], starts_inside[ok]
    vel = (notes.velocity[ok] / 127.0).astype(np.float32)
    note_idx, frame_idx = expand_spans(start, end)
    out["frame"][key[note_idx], frame_idx] = 1.0
    np.maximum.at(out["velocity"], (key[note_idx], frame_idx), vel[note_idx])
    out["onset"][key[starts_inside], start[starts_inside]] = 1.0
    ends_inside = (end < n_frames) & (end > start)
    end_frame = np.round(notes.offset[ok] * frame_rate).astype(np.int64)
    ends_inside &= (end_frame >= 0) & (end_frame < n_frames)
    out["offset"][key[ends_inside], end_frame[ends_inside]] = 1.0
    return out


def salience_map(
    frame_idx: np.ndarray,
    pitch: np.ndarray,
    n_frames: int,
    fmin: float,
    bins_per_octave: int,
    n_bins: int,
    sigma_bins: float = 1.0,
) -> np.ndarray:
    """Gaussian-blurred f0 salience [n_bins, n_frames] on a log-frequency grid (as in deep salience).

    ``frame_idx``/``pitch`` list every (frame, fractional MIDI pitch) pair that sounds; pitches may
    vary per frame (vibrato). Overlapping notes take the maximum, so peaks stay at 1.
    """
    out = np.zeros((n_bins, n_frames), np.float32)
    if len(frame_idx) == 0:
        return out
    center = (np.asarray(pitch, np.float64) - float(hz_to_midi(fmin))) * bins_per_octave / 12.0
    radius = int(np.ceil(3 * sigma_bins))
    offsets = np.arange(-radius, radius + 1)
    bins = np.round(center)[:, None].astype(np.int64) + offsets[None, :]
    weight = np.exp(-0.5 * ((bins - center[:, None]) / sigma_bins) ** 2).astype(np.float32)
    frames = np.broadcast_to(np.asarray(frame_idx)[:, None], bins.shape)
    ok = (bins >= 0) & (bins < n_bins) & (frames >= 0) & (frames < n_frames)
    np.maximum.at(out, (bins[ok], frames[ok]), weight[ok])
    return out


def notes_to_salience(
    notes: Notes,
    n_frames: int,
    frame_rate: float,
    fmin: float,
    bins_per_octave: int,
    n_bins: int,
    sigma_bins: float = 1.0,
) -> np.ndarray:
    """Salience map for notes of constant pitch (MIDI data)."""
    start, end, _ = note_frame_spans(notes, n_frames, frame_rate)
    note_idx, frame_idx = expand_spans(start, end)
    return salience_map(
        frame_idx, notes.pitch[note_idx], n_frames, fmin, bins_per_octave, n_bins, sigma_bins
    )


def bin_frequencies(fmin: float, bins_per_octave: int, n_bins: int) -> np.ndarray:
    """Center frequency (Hz) of every bin of the log-frequency grid."""
    return fmin * 2.0 ** (np.arange(n_bins) / bins_per_octave)
