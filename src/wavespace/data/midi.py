"""MIDI files <-> ``wavespace.labels.Notes``, with the sustain-pedal rule of the standard evaluation.

Reading goes through pretty_midi (tempo maps, running status and overlapping notes are its job);
writing uses mido. Sustain: while CC64 >= 64, note-offs are deferred to the pedal release, and a
deferred note ends early if the same key is struck again (as in Onsets and Frames / MAESTRO
evaluation). Everything is vectorized over notes with ``searchsorted``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wavespace.labels import Notes

SUSTAIN_CC = 64


class MidiFileError(Exception):
    """A MIDI file is unreadable, not MIDI at all, or holds no notes."""


def pedal_intervals(times: np.ndarray, values: np.ndarray, end_time: float) -> np.ndarray:
    """[n, 2] (down, up) times of a pedal from its CC64 events (down when value >= 64)."""
    if len(times) == 0:
        return np.zeros((0, 2))
    order = np.argsort(times, kind="stable")
    t, down = np.asarray(times, np.float64)[order], np.asarray(values)[order] >= 64
    prev = np.concatenate([[False], down[:-1]])
    starts = t[down & ~prev]
    ups = t[~down & prev]
    # Pair each press with the first release after it; a pedal still down ends with the file.
    idx = np.searchsorted(ups, starts, side="left")
    stops = np.full(len(starts), float(end_time))
    has_up = idx < len(ups)
    stops[has_up] = ups[idx[has_up]]
    return np.stack([starts, np.maximum(stops, starts)], axis=1)


def apply_sustain(notes: Notes, intervals: np.ndarray) -> Notes:
    """Extend note offsets that fall inside a pedal-down interval to its release.

    A sustained note is cut at the next onset of the same key, never before its own key release.
    """
    if len(notes) == 0 or len(intervals) == 0:
        return notes
    starts, stops = intervals[:, 0], intervals[:, 1]
    k = np.searchsorted(starts, notes.offset, side="right") - 1
    inside = (k >= 0) & (notes.offset < stops[np.maximum(k, 0)])
    extended = np.where(inside, stops[np.maximum(k, 0)], notes.offset)
    order = np.lexsort((notes.onset, notes.pitch))
    pitch_sorted, onset_sorted = notes.pitch[order], notes.onset[order]
    same_next = np.concatenate([pitch_sorted[1:] == pitch_sorted[:-1], [False]])
    next_onset_sorted = np.where(same_next, np.concatenate([onset_sorted[1:], [np.inf]]), np.inf)
    next_onset = np.empty_like(next_onset_sorted)
    next_onset[order] = next_onset_sorted
    offset = np.maximum(notes.offset, np.minimum(extended, next_onset))
    return Notes(notes.onset, offset, notes.pitch, notes.velocity)


def load_notes(path: str | Path, sustain: bool = True, allow_empty: bool = False) -> Notes:
    """All non-drum notes of a MIDI file (seconds), sorted by onset, sustain applied per track.

    A file without notes is an error for datasets (a label file that labels nothing) but a valid
    answer when reading back a transcription of silence: ``allow_empty`` says which.
    """
    import pretty_midi  # heavy-ish import, only where MIDI is read

    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:
        raise MidiFileError(f"unreadable MIDI ({type(exc).__name__}: {exc})") from exc
    end = float(pm.get_end_time())
    parts = []
    for inst in pm.instruments:
        if inst.is_drum or not inst.notes:
            continue
        arr = np.array([(n.start, n.end, n.pitch, n.velocity) for n in inst.notes], np.float64)
        notes = Notes(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
        if sustain:
            cc = [(c.time, c.value) for c in inst.control_changes if c.number == SUSTAIN_CC]
            if cc:
                t, v = np.array(cc, np.float64).T
                notes = apply_sustain(notes, pedal_intervals(t, v, end))
        parts.append(notes)
    if not parts:
        if allow_empty:
            return Notes.empty()
        raise MidiFileError("the MIDI file holds no notes")
    cat = {k: np.concatenate([getattr(p, k) for p in parts]) for k in ("onset", "offset", "pitch", "velocity")}
    order = np.argsort(cat["onset"], kind="stable")
    return Notes(**{k: v[order] for k, v in cat.items()})


def write_midi(
    notes: Notes, path: str | Path, program: int = 0, tempo_bpm: float = 120.0,
    ticks_per_beat: int = 480, pedal: np.ndarray | None = None, tail_seconds: float = 1.0,
) -> Path:
    """Write notes (seconds, integer pitches) as a one-track MIDI file with mido.

    ``pedal`` optionally gives (down, up) intervals written as CC64 127/0. ``tail_seconds`` of
    silence after the last event lets a synthesizer finish the releases.
    """
    import mido

    tempo = mido.bpm2tempo(tempo_bpm)
    sec_to_tick = ticks_per_beat * 1e6 / tempo
    # (tick, order, type, key, value); at one tick offs and pedal-ups before ons and pedal-downs.
    # Plain tuples, one mido.Message each at the end: building then copying messages (to set
    # their delta times) validated every field twice, most of this function's time.
    on = np.round(np.asarray(notes.onset, float) * sec_to_tick).astype(np.int64)
    off = np.maximum(np.round(np.asarray(notes.offset, float) * sec_to_tick).astype(np.int64), on + 1)
    pitch = np.round(np.asarray(notes.pitch, float)).astype(np.int64).tolist()
    velocity = np.clip(np.asarray(notes.velocity, float), 1, 127).astype(np.int64).tolist()
    events = [(a, 1, "note_on", p, v) for a, p, v in zip(on.tolist(), pitch, velocity, strict=True)]
    events += [(b, 0, "note_off", p, 0) for b, p in zip(off.tolist(), pitch, strict=True)]
    for down, up in ([] if pedal is None else pedal):
        events.append((int(round(down * sec_to_tick)), 2, "control_change", SUSTAIN_CC, 127))
        events.append((int(round(up * sec_to_tick)), 0, "control_change", SUSTAIN_CC, 0))
    events.sort(key=lambda e: (e[0], e[1]))
    mid = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    track.append(mido.Message("program_change", program=int(program), time=0))
    last = 0
    for tick, _, kind, key, value in events:
        if kind == "control_change":
            track.append(mido.Message(kind, control=key, value=value, time=tick - last))
        else:
            track.append(mido.Message(kind, note=key, velocity=value, time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=int(round(tail_seconds * sec_to_tick))))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(str(path))
    return path
