"""Notes <-> standard MIDI files (pretty_midi), the format transcriptions are delivered in.

Reading here is deliberately plain (note on/off as written, no sustain-pedal extension): it is
the inverse of ``write_midi``. Datasets whose labels need the pedal rule (MAESTRO) read their
MIDI through ``wavespace.data``.
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


def read_midi(path: str | Path, include_drums: bool = False) -> Notes:
    """All notes of all (non-drum) instruments of a MIDI file, sorted by onset then pitch."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    rows = [
        (n.start, n.end, n.pitch, n.velocity)
        for inst in pm.instruments
        if include_drums or not inst.is_drum
        for n in inst.notes
    ]
    if not rows:
        return Notes.empty()
    arr = np.array(rows, dtype=np.float64)
    arr = arr[np.lexsort((arr[:, 2], arr[:, 0]))]
    return Notes.from_arrays(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
