"""Audio files -> MIDI: ``python -m wavespace.transcribe input=FILE_OR_DIR output=DIR [ckpt=PATH]``,
or, like basic-pitch's command line, ``wavespace-transcribe OUT_DIR IN.wav [IN2.wav ...] [--ckpt PATH]``.

Without a checkpoint the default shipped model (``piano-cpu``, wavespace.pretrained) is used;
``ckpt=`` takes a ``.ckpt`` file, a run directory or a shipped model's name.

A thin entry point over :mod:`wavespace.transcription` (inference, file handling). Arguments
holding ``=`` (``key=value`` overrides) or Hydra's own flags go to Hydra; anything else to the
basic-pitch-style parser (``--help`` describes it), which sets the same options in the same
config (``conf/transcribe.yaml``), so both forms transcribe identically.

One ``.mid`` per audio file, named like it with the audio extension replaced (``bwv93.7.wav`` ->
``bwv93.7.mid``; sub-folders of an input directory are mirrored; two inputs that would write one
output, such as ``b.wav`` and ``b.flac``, are refused before anything is written);
optionally the salience map as ``.npy`` (``save_salience=true``), a piano-roll PNG
(``save_png=true``) and the notes as CSV (``save_note_events=true``). Any rate, channel count
and format soundfile reads is accepted: channels are averaged and the rate converted with soxr
to the model's. Long files are processed in chunks
with ``context_seconds`` of audio on each side that is computed but thrown away, so chunk
borders leave no seams (the result equals whole-file processing wherever the model's receptive
field, CQT kernels included, fits in the context). Unreadable files are reported and skipped.

Decision thresholds default to the ones tuned on the validation split and stored in the
checkpoint; ``frame_threshold=``, ``onset_threshold=``, ``offset_threshold=`` (models with an
offset head) and ``min_duration=`` override them.

``ckpt=`` also takes a model written by ``python -m wavespace.export`` (``model.onnx`` or
``model.pt`` with its JSON sidecar): ONNX Runtime or TorchScript then runs the net, and the
chunking, decoding and MIDI writing are the same as for the checkpoint. Without ``ckpt=``, the
shipped model ``piano-cpu`` (``wavespace.pretrained``) is used.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf

from wavespace.config import config_dir
from wavespace.errors import reported_errors


def run(cfg: DictConfig) -> dict[str, Any]:
    """Transcribe every audio file of ``cfg.input`` into ``cfg.output``; return a summary."""
    from tqdm.auto import tqdm

    from wavespace.data.midi import write_midi
    from wavespace.loading import load_transcriber
    from wavespace.transcription.inference import TranscribeError, transcribe_audio
    from wavespace.transcription.outputs import (
        AudioFile,
        AudioReadError,
        find_inputs,
        output_paths,
        save_note_events,
        save_piano_roll_png,
    )

    if not cfg.get("input") or not cfg.get("output"):
        raise TranscribeError("Pass input=FILE_OR_DIR (audio to transcribe) and output=DIR (where the .mid files go).")
    inputs = list(cfg.input) if isinstance(cfg.input, ListConfig | list | tuple) else [cfg.input]
    output = Path(cfg.output).expanduser()
    files, roots, ignored = find_inputs([Path(str(i)).expanduser() for i in inputs])
    suffixes = [".mid"] + [".salience.npy"] * bool(cfg.get("save_salience")) + [".png"] * bool(cfg.get("save_png"))
    suffixes += [".notes.csv"] * bool(cfg.get("save_note_events"))
    plans = dict(zip(files, output_paths(files, roots, output, suffixes), strict=True))  # refuses clashes first
    model = load_transcriber(cfg.get("ckpt"), cfg.get("device", "cpu"), str(cfg.get("precision", "fp32")))
    params = model.decode_params(frame_threshold=cfg.get("frame_threshold"), onset_threshold=cfg.get("onset_threshold"),
                                 offset_threshold=cfg.get("offset_threshold"),
                                 min_duration=cfg.get("min_duration"))
    sr, fr = int(model.features.sample_rate), float(model.features.frame_rate)
    written, failed = [], []
    bar = tqdm(files, desc="transcribing", unit="file", disable=not cfg.get("progress", True), file=sys.stderr)
    audio_seconds, started = 0.0, time.perf_counter()
    for path in bar:
        bar.set_postfix_str(path.name)
        try:  # read chunk by chunk: a long recording is never in memory whole
            audio = AudioFile(path, sr)
            notes, probs = transcribe_audio(model, audio, params, chunk_seconds=float(cfg.chunk_seconds),
                                            context_seconds=float(cfg.context_seconds), batch_size=int(cfg.batch_size))
        except AudioReadError as exc:
            failed.append((str(path), str(exc)))
            bar.write(f"skipped: {exc}", file=sys.stderr)
            continue
        audio_seconds += audio.seconds
        plan = plans[path]
        midi = write_midi(notes, plan[".mid"])
        if ".salience.npy" in plan and "salience" in probs:
            np.save(plan[".salience.npy"], probs["salience"].astype(np.float16))
        if ".png" in plan:
            save_piano_roll_png(probs, notes, fr, plan[".png"], params.min_midi)
        if ".notes.csv" in plan:
            save_note_events(notes, plan[".notes.csv"])
        written.append({"audio": str(path), "midi": str(midi), "notes": len(notes), "seconds": round(audio.seconds, 3)})
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


# Hydra's own command-line flags: with any of them (or a key=value word) the Hydra form is meant.
HYDRA_FLAGS = {"--cfg", "-c", "--info", "-i", "--hydra-help", "--multirun", "-m", "--resolve",
               "--package", "-p", "--run", "-r", "--config-path", "-cp", "--config-name", "-cn",
               "--config-dir", "-cd", "--shell-completion", "-sc", "--experimental-rerun"}


def looks_like_hydra(argv: list[str]) -> bool:
    """True for ``ckpt=... input=... output=...`` (Hydra), false for ``OUT_DIR IN.wav ...``."""
    return any(a.split("=")[0] in HYDRA_FLAGS or ("=" in a and not a.startswith("-")) for a in argv)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """basic-pitch's command line (``OUT_DIR AUDIO [AUDIO ...]``), with its options that map."""
    p = argparse.ArgumentParser(
        prog=prog or ("python -m wavespace.transcribe" if sys.argv[0].endswith(".py")
                      else Path(sys.argv[0]).name),
        description="Transcribe audio files to MIDI: one OUT_DIR/<name>.mid per input (a folder "
                    "input is searched recursively and its sub-folders mirrored).",
        epilog="The Hydra form takes the same options as key=value overrides, e.g.\n"
               "  %(prog)s ckpt=RUN_OR_CKPT input=FILE_OR_DIR output=DIR save_png=true\n"
               "(any word with '=' selects it; `ckpt=X --help` or --hydra-help shows Hydra's help).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output_dir", help="folder for the .mid files (created if missing)")
    p.add_argument("audio_paths", nargs="+", help="audio files (any format soundfile reads) or folders")
    p.add_argument("--ckpt", "--model-path", "--model_path", dest="ckpt", metavar="PATH",
                   help="trained model: a .ckpt file, a run directory written by wavespace-train or a "
                        "shipped model's name (default: the shipped piano-cpu)")
    p.add_argument("--save-midi", action="store_true", default=True,
                   help="write a MIDI file per input (always on; accepted as basic-pitch does)")
    p.add_argument("--save-note-events", action="store_true",
                   help="also write the notes as CSV (<name>.notes.csv: start, end, pitch, velocity)")
    p.add_argument("--save-salience", action="store_true",
                   help="also write the salience map as <name>.salience.npy")
    p.add_argument("--save-png", action="store_true", help="also write a piano-roll figure <name>.png")
    p.add_argument("--onset-threshold", type=float, metavar="P",
                   help="onset probability a note needs to start (default: tuned, in the checkpoint)")
    p.add_argument("--frame-threshold", type=float, metavar="P",
                   help="frame probability a note needs to sustain (default: tuned, in the checkpoint)")
    p.add_argument("--offset-threshold", type=float, metavar="P",
                   help="models with an offset head: offset probability that ends a note (default: "
                        "tuned, in the checkpoint; above 1 ignores the head)")
    p.add_argument("--minimum-note-length", type=float, metavar="MS",
                   help="shortest note kept, in milliseconds (default: the model's decoding config)")
    p.add_argument("--device", default=None, help="torch device (default cpu)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None,
                   help="dtype the net runs in (default auto: bf16 where the device runs it natively)")
    p.add_argument("--batch-size", type=int, default=None, help="chunks per forward pass")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def config_from_args(args: argparse.Namespace) -> DictConfig:
    """``conf/transcribe.yaml`` with the parsed options set: what the Hydra form would compose."""
    cfg = OmegaConf.load(Path(config_dir()) / "transcribe.yaml")
    for key in ("defaults", "hydra"):
        cfg.pop(key, None)
    values = {"ckpt": args.ckpt, "input": list(args.audio_paths), "output": args.output_dir,
              "save_note_events": args.save_note_events, "save_salience": args.save_salience,
              "save_png": args.save_png, "onset_threshold": args.onset_threshold,
              "frame_threshold": args.frame_threshold, "offset_threshold": args.offset_threshold,
              "device": args.device, "precision": args.precision,
              "batch_size": args.batch_size, "progress": not args.quiet,
              "min_duration": None if args.minimum_note_length is None else args.minimum_note_length / 1000}
    for key, value in values.items():
        if value is not None:
            cfg[key] = value
    return cfg


def cli(argv: list[str]) -> int:
    """The basic-pitch-style form; returns the exit status (1 with one paragraph on bad input)."""
    args = build_parser().parse_args(argv)
    with reported_errors():
        summary = run(config_from_args(args))
    print(format_report(summary))
    return 0


def console() -> None:
    """``wavespace-transcribe`` and ``python -m wavespace.transcribe``: Hydra or basic-pitch form."""
    argv = sys.argv[1:]
    if looks_like_hydra(argv):
        main()
    else:
        sys.exit(cli(argv))


if __name__ == "__main__":
    console()
