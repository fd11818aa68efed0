"""Per-piece transcription scores of a model on a dataset split (what ``evaluate`` prints).

Every piece (a whole recording, or one synthetic clip) is transcribed exactly as
``transcribe`` does it (:func:`wavespace.transcription.inference.transcribe_audio`: chunked,
thresholds from the checkpoint) and scored with mir_eval against its reference notes: frame
precision / recall / F1 / accuracy (both note lists rendered to rolls at ``eval_frame_rate``),
note-onset precision / recall / F1 (50 ms) and note-with-offset F1, averaged per piece, the
standard way. For a model with a velocity head, also note-with-velocity precision / recall / F1
and note-with-offset-and-velocity F1 (``mir_eval.transcription_velocity``); without one the
estimated velocities are onset probabilities, so those scores are left out and the result says
why (``velocity``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from wavespace.errors import WavespaceError
from wavespace.labels import Notes

REPORTED = ("frame_precision", "frame_recall", "frame_f1", "frame_accuracy",
            "note_precision", "note_recall", "note_f1", "note_offset_f1")
VELOCITY_REPORTED = ("note_velocity_precision", "note_velocity_recall", "note_velocity_f1",
                     "note_offset_velocity_f1")
NO_VELOCITY_HEAD = "absent: the model has no velocity head (its note velocities are onset probabilities)"


class EvaluateError(WavespaceError):
    """The requested evaluation cannot run (no such split, dataset without whole pieces)."""


@dataclass
class Piece:
    name: str
    audio: np.ndarray      # mono float32
    sample_rate: int
    notes: Notes


def iter_pieces(dataset: Any, limit: int | None = None) -> Iterator[Piece]:
    """Whole pieces of a dataset with their reference notes.

    Audio + MIDI file datasets (MAESTRO, rendered) give whole recordings with their MIDI read as
    for training (sustain pedal applied when the dataset applies it); any dataset may instead
    provide ``pieces()`` (Piece objects or (name, audio, sr, notes) tuples); the synthetic
    dataset's clips are pieces (pitches rounded to keys, as its labels are).
    """
    if hasattr(dataset, "pieces"):
        source = dataset.pieces()
    elif hasattr(dataset, "entries") and hasattr(dataset, "spec"):
        source = _paired_pieces(dataset)
    elif hasattr(dataset, "generate"):
        source = _synth_pieces(dataset)
    else:
        raise EvaluateError(f"{type(dataset).__name__} cannot list whole pieces (it has no pieces() method), "
                            "so per-piece evaluation is impossible on it.")
    for i, item in enumerate(source):
        if limit is not None and i >= limit:
            return
        yield item if isinstance(item, Piece) else Piece(*item)


def _paired_pieces(dataset: Any) -> Iterator[Piece]:
    from wavespace.data.audio_io import load_audio
    from wavespace.data.midi import load_notes

    for entry in dataset.entries:
        rec = entry.record
        audio = load_audio(rec.audio, dataset.sample_rate)
        yield Piece(rec.file_id, audio, dataset.sample_rate, load_notes(rec.midi, sustain=dataset.spec.sustain))


def _synth_pieces(dataset: Any) -> Iterator[Piece]:
    for i in range(len(dataset)):
        audio, notes, _ = dataset.generate(i)
        keys = Notes(notes.onset, notes.offset, np.round(notes.pitch), notes.velocity)
        yield Piece(f"synth-{dataset.seed}-{i:05d}", audio, dataset.sample_rate, keys)


def evaluate_model(model: Any, pieces: Iterator[Piece], params: Any = None, eval_frame_rate: float = 100.0,
                   progress: bool = True, **chunking: Any) -> dict[str, Any]:
    """Score ``model`` on ``pieces``; returns per-piece rows, their mean and the real-time factor."""
    import soxr
    from tqdm.auto import tqdm

    from wavespace.transcription.inference import transcribe_audio
    from wavespace.transcription.metrics import mean_scores, transcription_scores

    params = params or model.decode_params()
    sr = int(model.features.sample_rate)
    rows, audio_s, wall, with_velocity = [], 0.0, 0.0, False
    for piece in tqdm(pieces, desc="evaluating", unit="piece", disable=not progress, file=sys.stderr):
        audio = piece.audio if piece.sample_rate == sr else soxr.resample(piece.audio, piece.sample_rate, sr, "HQ")
        started = time.perf_counter()
        est, probs = transcribe_audio(model, np.asarray(audio, np.float32), params, **chunking)
        wall += time.perf_counter() - started
        audio_s += len(audio) / sr
        with_velocity = "velocity" in probs  # the model has a velocity head
        scores = transcription_scores(piece.notes, est, eval_frame_rate, params.min_midi, velocity=with_velocity)
        rows.append({"piece": piece.name, "n_ref": len(piece.notes), "n_est": len(est), **scores})
    if not rows:
        raise EvaluateError("The split has no pieces to evaluate.")
    reported = REPORTED + VELOCITY_REPORTED * with_velocity
    mean = mean_scores([{k: r[k] for k in reported} for r in rows])
    return {"pieces": rows, "mean": mean, "audio_seconds": audio_s, "wall_seconds": wall,
            "real_time_factor": wall / audio_s if audio_s else None, "decoding": params.as_dict(),
            "velocity": "note_velocity_* scored from the velocity head" if with_velocity else NO_VELOCITY_HEAD}


def format_table(result: dict[str, Any], max_rows: int = 40) -> str:
    cols = ("frame_f1", "frame_accuracy", "note_precision", "note_recall", "note_f1", "note_offset_f1")
    heads = ("frame F1", "frame acc", "note P", "note R", "note F1", "note+off F1")
    if "note_velocity_f1" in result["mean"]:
        cols, heads = (*cols, "note_velocity_f1"), (*heads, "note+vel F1")
    rows = result["pieces"]
    width = max(12, *(len(r["piece"]) for r in rows[:max_rows]))
    line = "piece".ljust(width) + "".join(h.rjust(12) for h in heads)
    out = [line, "-" * len(line)]
    out += [r["piece"].ljust(width) + "".join(f"{r[c]:12.4f}" for c in cols) for r in rows[:max_rows]]
    if len(rows) > max_rows:
        out.append(f"... {len(rows) - max_rows} more pieces in the JSON")
    out.append("-" * len(line))
    out.append(f"mean ({len(rows)})".ljust(width) + "".join(f"{result['mean'][c]:12.4f}" for c in cols))
    rtf = result["real_time_factor"]
    if "note_velocity_f1" not in result["mean"]:
        out.append(f"note-with-velocity F1 {result.get('velocity', NO_VELOCITY_HEAD)}")
    out.append(f"real-time factor {rtf:.4f} ({result['wall_seconds']:.1f} s for {result['audio_seconds']:.1f} s of audio)")
    return "\n".join(out)
