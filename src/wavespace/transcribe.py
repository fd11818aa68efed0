"""Audio files -> MIDI: ``python -m wavespace.transcribe ckpt=PATH input=FILE_OR_DIR output=DIR``.

One ``.mid`` per audio file, with the same stem (sub-folders of an input directory are mirrored);
optionally the salience map as ``.npy`` (``save_salience=true``) and a piano-roll PNG
(``save_png=true``). Any rate, channel count and format soundfile reads is accepted: channels are
averaged and the rate converted with soxr to the model's. Long files are processed in chunks
with ``context_seconds`` of audio on each side that is computed but thrown away, so chunk
borders leave no seams (the result equals whole-file processing wherever the model's receptive
field, CQT kernels included, fits in the context). Unreadable files are reported and skipped.

Decision thresholds default to the ones tuned on the validation split and stored in the
checkpoint; ``frame_threshold=``, ``onset_threshold=``, ``min_duration=`` override them.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig

from wavespace.config import config_dir
from wavespace.errors import WavespaceError, reported_errors


class TranscribeError(WavespaceError):
    """Bad transcription request (missing checkpoint/input, no audio, unusable model)."""


class AudioReadError(WavespaceError):
    """One input file could not be decoded as audio."""


def audio_extensions() -> set[str]:
    """File extensions of every format this soundfile/libsndfile build can read."""
    import soundfile as sf

    exts = {f".{k.lower()}" for k in sf.available_formats()}
    return exts | {".aif", ".oga", ".opus"} if ".aiff" in exts else exts


def read_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Mono float32 at ``sample_rate`` (channel mean, soxr high quality); AudioReadError if unreadable."""
    import soundfile as sf
    import soxr

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises several types for broken or foreign files
        raise AudioReadError(f"{path}: cannot be read as audio ({type(exc).__name__}: {exc})") from exc
    if data.shape[0] == 0:
        raise AudioReadError(f"{path}: contains no audio samples")
    mono = data.mean(axis=1)
    if sr != sample_rate:
        mono = soxr.resample(mono, sr, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


@dataclass(frozen=True)
class Chunk:
    first_frame: int     # global index of the chunk's first frame
    keep_from: int       # first frame (global) this chunk is trusted for
    keep_to: int         # end (exclusive)
    start: int           # sample range fed to the model
    stop: int


def plan_chunks(n_samples: int, hop: int, chunk_frames: int, context_frames: int) -> list[Chunk]:
    """Chunks whose kept frames tile [0, n_frames) exactly, each with context on both sides.

    A chunk starts on a frame boundary (a multiple of the hop), so its frame j is global frame
    ``first_frame + j``; at the ends of the file it takes the file's own edge, as whole-file
    processing does.
    """
    n_frames = n_samples // hop + 1
    out = []
    for keep_from in range(0, n_frames, chunk_frames):
        keep_to = min(keep_from + chunk_frames, n_frames)
        first = max(keep_from - context_frames, 0)
        last = min(keep_to + context_frames, n_frames)  # exclusive
        stop = n_samples if last == n_frames else (last - 1) * hop + 1
        out.append(Chunk(first, keep_from, keep_to, first * hop, stop))
    return out


def predict_activations(
    model: Any,
    audio: np.ndarray,
    chunk_seconds: float = 20.0,
    context_seconds: float = 2.0,
    batch_size: int = 4,
    progress: Any = None,
) -> dict[str, np.ndarray]:
    """Probabilities of every head over a whole signal: {name: [rows, n_frames]} (float32)."""
    import torch

    feats = model.features
    hop, fr = int(feats.hop_length), float(feats.frame_rate)
    chunk_frames = max(1, int(round(chunk_seconds * fr)))
    context_frames = int(np.ceil(context_seconds * fr))
    chunks = plan_chunks(len(audio), hop, chunk_frames, context_frames)
    n_frames = len(audio) // hop + 1
    out: dict[str, np.ndarray] = {}
    groups: dict[int, list[Chunk]] = {}
    for c in chunks:  # equal lengths batch together (all but the first and last chunk)
        groups.setdefault(c.stop - c.start, []).append(c)
    for length, group in groups.items():
        for i in range(0, len(group), max(1, int(batch_size))):
            part = group[i : i + max(1, int(batch_size))]
            x = torch.from_numpy(np.stack([audio[c.start : c.stop] for c in part]))
            probs = model.predict_audio(x)
            for name, value in probs.items():
                value = value.float().cpu().numpy()
                if name not in out:
                    out[name] = np.zeros((value.shape[1], n_frames), np.float32)
                for j, c in enumerate(part):
                    a, b = c.keep_from - c.first_frame, c.keep_to - c.first_frame
                    got = value[j, :, a:b]
                    out[name][:, c.keep_from : c.keep_from + got.shape[1]] = got
            if progress is not None:
                progress.update(len(part))
        del length
    return out


def transcribe_audio(model: Any, audio: np.ndarray, params: Any = None, **chunking: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """(Notes, activations) of a mono signal at the model's sample rate."""
    from wavespace.decoding import decode_notes

    probs = predict_activations(model, audio, **chunking)
    params = params or model.decode_params()
    notes = decode_notes(probs["frame"], probs.get("onset"), float(model.features.frame_rate), params,
                         probs.get("velocity"))
    return notes, probs


def check_model(model: Any, ckpt: str) -> None:
    if not hasattr(model, "decode_params") or not hasattr(model, "predict_audio"):
        raise TranscribeError(f"{ckpt} holds a {type(model).__name__}, not a transcription model "
                              f"(wavespace.tasks.SupervisedSalience with a 'frame' head).")


def load_model(ckpt: str | None, device: str = "cpu") -> Any:
    """``wavespace.load`` with errors a user can act on, ready for inference only."""
    import wavespace
    from wavespace.models.inference import fold_batchnorm

    if not ckpt:
        raise TranscribeError("No checkpoint given. Pass ckpt=PATH, a .ckpt file or a run directory "
                              "written by `python -m wavespace.train`.")
    try:
        model = wavespace.load(ckpt, map_location=device)
    except (FileNotFoundError, ValueError) as exc:
        raise TranscribeError(f"Cannot load checkpoint {ckpt}: {exc}.") from exc
    check_model(model, ckpt)
    # Transcription never trains: fold BatchNorms into their convolutions (same outputs, faster).
    model.eval()
    model.net = fold_batchnorm(model.net, inplace=True)
    return model


def find_audio(input_path: Path) -> tuple[list[Path], list[Path]]:
    """(audio files, ignored non-audio files) under a file or directory, sorted."""
    if input_path.is_file():
        return [input_path], []
    if not input_path.is_dir():
        raise TranscribeError(f"Input {input_path} does not exist. Pass input=FILE or input=DIR.")
    exts = audio_extensions()
    files = sorted(p for p in input_path.rglob("*") if p.is_file() and not p.name.startswith("."))
    audio = [p for p in files if p.suffix.lower() in exts]
    if not audio:
        raise TranscribeError(f"No audio files in {input_path} (looked for {', '.join(sorted(exts))}).")
    return audio, [p for p in files if p.suffix.lower() not in exts]


def save_piano_roll_png(probs: dict[str, np.ndarray], notes: Any, frame_rate: float, path: Path, min_midi: int = 21) -> None:
    """Frame probabilities with the decoded notes outlined (what a user checks by eye)."""
    from matplotlib.patches import Rectangle

    from wavespace.figures import plt, save_figure

    frame = probs["frame"]
    width = min(40.0, max(6.0, frame.shape[1] / frame_rate / 2))
    fig, ax = plt.subplots(figsize=(width, 5))
    ax.imshow(frame, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
              extent=(0, frame.shape[1] / frame_rate, min_midi - 0.5, min_midi + frame.shape[0] - 0.5))
    for on, off, p in zip(notes.onset, notes.offset, notes.pitch):
        ax.add_patch(Rectangle((on, p - 0.5), off - on, 1.0, fill=False, edgecolor="tab:red", linewidth=0.6))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(f"{path.stem}: {len(notes)} notes (red) over frame probabilities")
    save_figure(fig, path)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Transcribe every audio file of ``cfg.input`` into ``cfg.output``; return a summary."""
    from tqdm.auto import tqdm

    from wavespace.midi_io import write_midi

    if not cfg.get("input") or not cfg.get("output"):
        raise TranscribeError("Pass input=FILE_OR_DIR (audio to transcribe) and output=DIR (where the .mid files go).")
    model = load_model(cfg.get("ckpt"), cfg.get("device", "cpu"))
    params = model.decode_params(frame_threshold=cfg.get("frame_threshold"), onset_threshold=cfg.get("onset_threshold"),
                                 min_duration=cfg.get("min_duration"))
    input_path, output = Path(cfg.input).expanduser(), Path(cfg.output).expanduser()
    files, ignored = find_audio(input_path)
    root = input_path if input_path.is_dir() else input_path.parent
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
        stem = output / path.relative_to(root).with_suffix("")
        midi = write_midi(notes, stem.with_suffix(".mid"))
        if cfg.get("save_salience") and "salience" in probs:
            np.save(stem.with_suffix(".salience.npy"), probs["salience"].astype(np.float16))
        if cfg.get("save_png"):
            save_piano_roll_png(probs, notes, fr, stem.with_suffix(".png"), params.min_midi)
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
