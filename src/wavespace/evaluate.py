"""Per-piece transcription metrics of a checkpoint on a dataset split.

``python -m wavespace.evaluate ckpt=PATH data=synth|rendered|maestro split=test``
(``data_from_checkpoint=true``: the data settings the checkpoint was trained with, e.g. the same
rendered-MIDI generator, and its held-out test split)

Every piece (a whole recording, or one synthetic clip) is transcribed exactly as
``wavespace.transcribe`` does it (chunked, thresholds from the checkpoint) and scored with
mir_eval against its reference notes: frame precision / recall / F1 / accuracy (both note lists
rendered to rolls at ``eval_frame_rate``), note-onset precision / recall / F1 (50 ms) and
note-with-offset F1. Scores are averaged per piece, the standard way. A table is printed and
everything is written as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from wavespace.config import config_dir
from wavespace.errors import WavespaceError, reported_errors
from wavespace.labels import Notes

REPORTED = ("frame_precision", "frame_recall", "frame_f1", "frame_accuracy",
            "note_precision", "note_recall", "note_f1", "note_offset_f1")


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

    from wavespace.metrics import mean_scores, transcription_scores
    from wavespace.transcribe import transcribe_audio

    params = params or model.decode_params()
    sr = int(model.features.sample_rate)
    rows, audio_s, wall = [], 0.0, 0.0
    for piece in tqdm(pieces, desc="evaluating", unit="piece", disable=not progress, file=sys.stderr):
        audio = piece.audio if piece.sample_rate == sr else soxr.resample(piece.audio, piece.sample_rate, sr, "HQ")
        started = time.perf_counter()
        est, _ = transcribe_audio(model, np.asarray(audio, np.float32), params, **chunking)
        wall += time.perf_counter() - started
        audio_s += len(audio) / sr
        scores = transcription_scores(piece.notes, est, eval_frame_rate, params.min_midi)
        rows.append({"piece": piece.name, "n_ref": len(piece.notes), "n_est": len(est), **scores})
    if not rows:
        raise EvaluateError("The split has no pieces to evaluate.")
    mean = mean_scores([{k: r[k] for k in REPORTED} for r in rows])
    return {"pieces": rows, "mean": mean, "audio_seconds": audio_s, "wall_seconds": wall,
            "real_time_factor": wall / audio_s if audio_s else None, "decoding": params.as_dict()}


def format_table(result: dict[str, Any], max_rows: int = 40) -> str:
    cols = ("frame_f1", "frame_accuracy", "note_precision", "note_recall", "note_f1", "note_offset_f1")
    heads = ("frame F1", "frame acc", "note P", "note R", "note F1", "note+off F1")
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
    out.append(f"real-time factor {rtf:.4f} ({result['wall_seconds']:.1f} s for {result['audio_seconds']:.1f} s of audio)")
    return "\n".join(out)


def run(cfg: DictConfig) -> dict[str, Any]:
    from hydra.utils import instantiate

    from wavespace.transcribe import load_model

    model = load_model(cfg.get("ckpt"), cfg.get("device", "cpu"))
    # Data must be cut on the checkpoint's own time-frequency grid (and file datasets key their
    # feature cache on its front-end); their bad-file reports go next to the results.
    out = Path(cfg.output)
    with open_dict(cfg):
        cfg.geometry = OmegaConf.create(model.wavespace_config["geometry"])
        cfg.features = OmegaConf.create(model.wavespace_config["features"])
        cfg.run_dir = str(out.parent)
        if cfg.get("data_from_checkpoint"):  # the exact data settings the model was trained with
            cfg.data = OmegaConf.create(model.wavespace_config["data"])
            cfg.data_name = f"{cfg.data_name} (from checkpoint)"
            for node in cfg.data.values():
                if isinstance(node, DictConfig) and "report_dir" in node:
                    node.report_dir = str(out.parent)
    split = {"validation": "val", "valid": "val"}.get(str(cfg.split), str(cfg.split))
    node = cfg.data.get(split)
    if split not in ("train", "val", "test") or node is None or "_target_" not in node:
        raise EvaluateError(f"data={cfg.data_name} has no '{cfg.split}' split (choose train, val or test).")
    dataset = instantiate(node)  # only this split: nothing else is scanned, rendered or cached
    params = model.decode_params(frame_threshold=cfg.get("frame_threshold"),
                                 onset_threshold=cfg.get("onset_threshold"), min_duration=cfg.get("min_duration"))
    result = evaluate_model(model, iter_pieces(dataset, cfg.get("limit")), params, float(cfg.eval_frame_rate),
                            bool(cfg.get("progress", True)), chunk_seconds=float(cfg.chunk_seconds),
                            context_seconds=float(cfg.context_seconds), batch_size=int(cfg.batch_size))
    result.update(checkpoint=model.wavespace_checkpoint, data=str(cfg.data_name), split=split)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    result["output"] = str(out)
    return result


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with reported_errors():
        result = run(cfg)
    print(format_table(result))
    print(f"written to {result['output']}")


if __name__ == "__main__":
    main()
