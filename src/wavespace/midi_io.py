"""Notes <-> standard MIDI files (pretty_midi), the format transcriptions are delivered in.

Reading goes through the datasets' MIDI parser (``wavespace.data.midi``), here without the
sustain-pedal extension: it is the inverse of ``write_midi``, which writes no pedal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wavespace.labels import Notes


def write_midi(notes: Notes, path: str | Path, program: int = 0, tempo: float = 120.0) -> Path:
    """Write ``notes`` (pitch rounded to the nearest key) as one piano track."""
    import pretty_midi

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    inst = pretty_midi.Instrument(program=program, name="wavespace transcription")
    pitch = np.clip(np.round(notes.pitch), 0, 127).astype(int)
    vel = np.clip(np.round(notes.velocity), 1, 127).astype(int)
    inst.notes = [
        pretty_midi.Note(velocity=int(v), pitch=int(p), start=float(s), end=float(e))
        for s, e, p, v in zip(notes.onset, notes.offset, pitch, vel)
    ]
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def read_midi(path: str | Path, sustain: bool = False) -> Notes:
    """All non-drum notes of a MIDI file, sorted by onset; an empty transcription gives no notes."""
    from wavespace.data.midi import MidiFileError, load_notes

    try:
        return load_notes(path, sustain=sustain)
    except MidiFileError as exc:
        if "no notes" in str(exc):
            return Notes.empty()
        raise
