"""Real compositions for the transcription benchmark: public-domain scores from music21's corpus.

Part (b) of bench/transcription_quality.py. The generated pieces of part (a) come from the same
generator family the model trains on; these do not: piano solo pieces (a rag, a sonata
exposition, a mazurka, polonaises, character pieces), songs with piano (voice folded in, as a
pianist playing the reduction would), string-quartet movements and four-part chorales reduced to
one piano track. music21's corpus ships with music21 (no download at run time); it is parsed in
basic-pitch's venv, which already has music21, so the torch venv does not need it.

Nothing here is ever used for training or for choosing hyperparameters or thresholds: the
training presets render generated MIDI only (issue 15 forbids third-party MIDI collections in
training material, because this is what measures generalisation).

Each score becomes one piano track (all parts merged, drums dropped), then a ``seconds`` excerpt
starting at its first note, so every piece contributes the same duration.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

# (category, corpus path as music21's corpus.parse takes it). Fixed list: results stay comparable.
PIECES: list[tuple[str, str]] = [
    ("piano", "joplin/maple_leaf_rag"),
    ("piano", "mozart/k545/movement1_exposition"),
    ("piano", "chopin/mazurka06-2"),
    ("piano", "cpebach/h186"),
    ("piano", "schumann_clara/polonaise_op1n1"),
    ("piano", "schumann_clara/polonaise_op1n2"),
    ("piano", "schumann_clara/polonaise_op1n3"),
    ("piano", "schumann_clara/polonaise_op1n4"),
    ("piano", "beach/prayer_of_a_tired_child"),
    ("song", "schubert/Lindenbaum"),
    ("song", "schumann_robert/dichterliebe_no2"),
    ("song", "schumann_robert/opus48no2"),
    ("song", "liliuokalani/aloha_oe"),
    ("song", "johnson_j_r/lift_every_voice"),
    ("song", "verdi/laDonnaEMobile"),
    ("quartet", "beethoven/opus18no1/movement1"),
    ("quartet", "beethoven/opus18no1/movement3"),
    ("quartet", "beethoven/opus59no1/movement1"),
    ("quartet", "haydn/opus74no1/movement1"),
    ("quartet", "haydn/opus1no1/movement1"),
    ("quartet", "mozart/k458/movement1"),
    ("quartet", "mozart/k156/movement1"),
    ("quartet", "mozart/k80/movement1"),
    ("chorale", "bach/bwv66.6"),
    ("chorale", "bach/bwv269"),
    ("chorale", "bach/bwv347"),
    ("chorale", "bach/bwv153.1"),
]

CONVERT_RUNNER = r'''
import json, sys
from pathlib import Path
from music21 import bar, corpus, instrument, repeat
out, pieces = Path(sys.argv[1]), json.loads(sys.argv[2])
done, failed = {}, {}
for category, name in pieces:
    target = out / f"{category}-{name.replace('/', '-')}.mid"
    if target.is_file():
        done[name] = str(target); continue
    try:
        score = corpus.parse(name).measures(1, 32)  # the excerpt needs ~30 s; long files stay small
        for part in score.parts:  # one piano: every part played on it
            for inst in part.recurse().getElementsByClass(instrument.Instrument):
                part.remove(inst, recurse=True)
            part.insert(0, instrument.Piano())
        try:
            score.write("midi", fp=str(target))
        except repeat.ExpanderException:  # badly formed repeats: play it straight through
            for mark in list(score.recurse().getElementsByClass((bar.Repeat, repeat.RepeatMark))):
                mark.activeSite.remove(mark)
            score.write("midi", fp=str(target))
        done[name] = str(target)
    except Exception as err:  # reported, not fatal: the table says how many pieces were used
        failed[name] = f"{type(err).__name__}: {err}"[:200]
print(json.dumps({"done": done, "failed": failed}))
'''


def convert(music21_python: str, out: Path) -> tuple[list[Path], dict[str, str]]:
    """Write one MIDI per piece of PIECES with music21 (run by ``music21_python``)."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([music21_python, "-c", CONVERT_RUNNER, str(out), json.dumps(PIECES)],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode:
        raise RuntimeError(f"music21 conversion failed (is music21 installed for {music21_python}?):\n"
                           f"{proc.stderr[-1500:]}")
    result = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    return [Path(p) for p in result["done"].values()], result["failed"]


def excerpts(midis: list[Path], out: Path, seconds: float) -> list[Path]:
    """A ``seconds`` excerpt of each MIDI from its first onset, as one piano track."""
    from wavespace.data.midi import load_notes, write_midi
    from wavespace.labels import Notes

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for midi in sorted(midis):
        notes = load_notes(midi, sustain=False)
        start = float(notes.onset.min())
        keep = (notes.onset >= start) & (notes.onset < start + seconds)
        excerpt = Notes(notes.onset[keep] - start, np.minimum(notes.offset[keep] - start, seconds),
                        notes.pitch[keep], notes.velocity[keep])
        paths.append(write_midi(excerpt, out / f"real-{midi.stem}.mid", tail_seconds=0.5))
    return paths


def category(path: Path) -> str:
    """``real-piano-joplin-maple_leaf_rag.wav`` -> ``piano``; generated pieces -> ``generated``."""
    parts = path.stem.split("-")
    return parts[1] if parts[0] == "real" and len(parts) > 2 else "generated"
