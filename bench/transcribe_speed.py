"""Where the CPU transcriber's time goes, and what each inference choice buys, in one run.

For the part (b) files of bench/transcription_quality.py (or any WAVs given), one CPU thread,
the shipped model (or --ckpt): model time per file (reading and resampling included, best of
--repeats, model warm) for

* ``baseline``: float32, one net call per 20 s chunk (the command's defaults before tiling);
* ``tiled``: the net run in tiles of 512 frames (wavespace.models.inference.tiled_forward);
* ``tiled+bf16``: the same in bfloat16 (where the CPU runs it natively);
* ``tiled+bf16+60s``: with 60 s audio chunks (less context computed and thrown away);

and, for the last one, the split between reading, front-end, net and decoding. Ratios are
against ``baseline`` from the same run. No timing is asserted anywhere; this prints.

  OMP_NUM_THREADS=1 python bench/transcribe_speed.py [--ckpt NAME_OR_PATH] [WAV ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO / "outputs/bench/transcription_quality/audio/MuseScore_General_Lite"


def model_time(model, wavs, sr: int, repeats: int, **chunking) -> float:
    """Total best-of-``repeats`` seconds over ``wavs`` of read + transcribe, model warm."""
    from wavespace.transcription.inference import transcribe_audio
    from wavespace.transcription.outputs import read_audio

    transcribe_audio(model, read_audio(wavs[0], sr), **chunking)  # warm-up
    total = 0.0
    for wav in wavs:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            transcribe_audio(model, read_audio(wav, sr), **chunking)
            best = min(best, time.perf_counter() - t0)
        total += best
    return total


def breakdown(model, wavs, sr: int, chunk_seconds: float) -> dict[str, float]:
    """Seconds spent reading, in the front-end, in the net and decoding, over ``wavs``."""
    from wavespace.transcription.inference import transcribe_audio
    from wavespace.transcription.outputs import read_audio

    parts = {"read": 0.0, "frontend": 0.0, "net": 0.0}
    started: dict[str, float] = {}
    handles = []
    for name, module in (("frontend", model.features), ("net", model.net)):
        handles.append(module.register_forward_pre_hook(
            lambda *_, n=name: started.__setitem__(n, time.perf_counter())))
        handles.append(module.register_forward_hook(
            lambda *_, n=name: parts.__setitem__(n, parts[n] + time.perf_counter() - started[n])))
    try:
        total = 0.0
        for wav in wavs:
            t0 = time.perf_counter()
            audio = read_audio(wav, sr)
            t1 = time.perf_counter()
            transcribe_audio(model, audio, chunk_seconds=chunk_seconds)
            parts["read"] += t1 - t0
            total += time.perf_counter() - t0
    finally:
        for h in handles:
            h.remove()
    parts["decode and rest"] = total - sum(parts.values())
    return parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wavs", nargs="*", type=Path)
    ap.add_argument("--ckpt", default=None, help="checkpoint or shipped model (default piano-cpu)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=10, help="files from the default folder")
    ap.add_argument("--json", type=Path, default=REPO / "outputs/bench/transcribe_speed.json")
    args = ap.parse_args()
    import soundfile as sf

    from wavespace.loading import load_transcriber
    from wavespace.models.inference import native_bf16

    torch.set_num_threads(1)
    wavs = args.wavs or sorted(DEFAULT_DIR.glob("real-*.wav"))[: args.limit]
    if not wavs:
        raise SystemExit(f"no WAVs given and none in {DEFAULT_DIR} (run make bench-transcription first)")
    audio_s = sum(sf.info(str(w)).duration for w in wavs)
    fp32 = load_transcriber(args.ckpt, "cpu", "fp32")
    bf16 = load_transcriber(args.ckpt, "cpu", "bf16")
    sr = int(fp32.features.sample_rate)
    rows = {}
    with torch.inference_mode():
        for name, model, tile, chunk in (("baseline", fp32, None, 20.0), ("tiled", fp32, 512, 20.0),
                                          ("tiled+bf16", bf16, 512, 20.0), ("tiled+bf16+60s", bf16, 512, 60.0)):
            model.tile_frames = tile
            rows[name] = model_time(model, wavs, sr, args.repeats, chunk_seconds=chunk) / audio_s
        parts = breakdown(bf16, wavs, sr, 60.0)
    base = rows["baseline"]
    print(f"{len(wavs)} files, {audio_s:.0f} s of audio, one thread, native bf16: {native_bf16('cpu')}")
    print(f"{'setting':<18} {'RTF':>8} {'vs baseline':>12}")
    for name, rtf in rows.items():
        print(f"{name:<18} {rtf:>8.4f} {base / rtf:>11.2f}x")
    print("last setting, ms per second of audio: "
          + ", ".join(f"{k} {1000 * v / audio_s:.2f}" for k, v in parts.items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"files": len(wavs), "audio_s": audio_s, "native_bf16": native_bf16("cpu"),
                                     "rtf": rows, "ms_per_audio_s": {k: 1000 * v / audio_s for k, v in parts.items()}},
                                    indent=1))


if __name__ == "__main__":
    main()
