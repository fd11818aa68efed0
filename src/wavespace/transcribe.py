"""Audio files -> MIDI: ``python -m wavespace.transcribe ckpt=PATH input=FILE_OR_DIR output=DIR``.

A thin Hydra entry point over :mod:`wavespace.transcription` (inference, file handling).

One ``.mid`` per audio file, named like it with the audio extension replaced (``bwv93.7.wav`` ->
``bwv93.7.mid``; sub-folders of an input directory are mirrored; two inputs that would write one
output, such as ``b.wav`` and ``b.flac``, are refused before anything is written);
optionally the salience map as ``.npy`` (``save_salience=true``) and a piano-roll PNG
(``save_png=true``). Any rate, channel count and format soundfile reads is accepted: channels are
averaged and the rate converted with soxr to the model's. Long files are processed in chunks
with ``context_seconds`` of audio on each side that is computed but thrown away, so chunk
borders leave no seams (the result equals whole-file processing wherever the model's receptive
field, CQT kernels included, fits in the context). Unreadable files are reported and skipped.

Decision thresholds default to the ones tuned on the validation split and stored in the
checkpoint; ``frame_threshold=``, ``onset_threshold=``, ``min_duration=`` override them.

``ckpt=`` also takes a model written by ``python -m wavespace.export`` (``model.onnx`` or
``model.pt`` with its JSON sidecar): ONNX Runtime or TorchScript then runs the net, and the
chunking, decoding and MIDI writing are the same as for the checkpoint.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig

from wavespace.config import config_dir
from wavespace.errors import reported_errors


def run(cfg: DictConfig) -> dict[str, Any]:
    """Transcribe every audio file of ``cfg.input`` into ``cfg.output``; return a summary."""
    from tqdm.auto import tqdm

    from wavespace.data.midi import write_midi
    from wavespace.loading import load_transcriber
    from wavespace.transcription.inference import TranscribeError, transcribe_audio
    from wavespace.transcription.outputs import (
        AudioReadError,
        find_audio,
        output_paths,
        read_audio,
        save_piano_roll_png,
    )

    if not cfg.get("input") or not cfg.get("output"):
        raise TranscribeError("Pass input=FILE_OR_DIR (audio to transcribe) and output=DIR (where the .mid files go).")
    input_path, output = Path(cfg.input).expanduser(), Path(cfg.output).expanduser()
    files, ignored = find_audio(input_path)
    root = input_path if input_path.is_dir() else input_path.parent
    suffixes = [".mid"] + [".salience.npy"] * bool(cfg.get("save_salience")) + [".png"] * bool(cfg.get("save_png"))
    plans = dict(zip(files, output_paths(files, root, output, suffixes), strict=True))  # refuses clashes first
    model = load_transcriber(cfg.get("ckpt"), cfg.get("device", "cpu"))
    params = model.decode_params(frame_threshold=cfg.get("frame_threshold"), onset_threshold=cfg.get("onset_threshold"),
                                 min_duration=cfg.get("min_duration"))
    sr, fr = int(model.features.sample_rate), float(model.features.frame_rate)
    written, failed = [], []
    bar = tqdm(files, desc="transcribing", unit="file", disable=not cfg.get("progress", True), file=sys.stderr)
    audio_seconds, started = 0.0, time.perf_counter()
    for path in bar:
        bar.set_postfix_str(path.name)
        try:
            audio = read_audio(path, sr)
        except AudioReadError as exc:
            failed.append((str(path), str(exc)))
            bar.write(f"skipped: {exc}", file=sys.stderr)
            continue
        audio_seconds += len(audio) / sr
        notes, probs = transcribe_audio(model, audio, params, chunk_seconds=float(cfg.chunk_seconds),
                                        context_seconds=float(cfg.context_seconds), batch_size=int(cfg.batch_size))
        plan = plans[path]
        midi = write_midi(notes, plan[".mid"])
        if ".salience.npy" in plan and "salience" in probs:
            np.save(plan[".salience.npy"], probs["salience"].astype(np.float16))
        if ".png" in plan:
            save_piano_roll_png(probs, notes, fr, plan[".png"], params.min_midi)
        written.append({"audio": str(path), "midi": str(midi), "notes": len(notes), "seconds": round(len(audio) / sr, 3)})
    elapsed = time.perf_counter() - started
    summary = {"written": written, "failed": failed, "ignored": [str(p) for p in ignored],
               "audio_seconds": audio_seconds, "wall_seconds": elapsed,
               "real_time_factor": elapsed / audio_seconds if audio_seconds else None,
               "decoding": params.as_dict()}
    if not written:
        raise TranscribeError(f"None of the {len(files)} input files could be read: "
                              + "; ".join(msg for _, msg in failed))
    return summary


def format_report(summary: dict[str, Any]) -> str:
    lines = [f"wrote {len(summary['written'])} MIDI file(s), {summary['audio_seconds']:.1f} s of audio in "
             f"{summary['wall_seconds']:.1f} s (real-time factor {summary['real_time_factor']:.3f})"]
    lines += [f"  {w['midi']}  ({w['notes']} notes)" for w in summary["written"]]
    if summary["failed"]:
        lines.append(f"skipped {len(summary['failed'])} unreadable file(s):")
        lines += [f"  {msg}" for _, msg in summary["failed"]]
    if summary["ignored"]:
        lines.append(f"ignored {len(summary['ignored'])} file(s) without an audio extension")
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="transcribe")
def main(cfg: DictConfig) -> None:
    with reported_errors():
        summary = run(cfg)
    print(format_report(summary))


if __name__ == "__main__":
    main()
