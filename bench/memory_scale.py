"""Peak memory of training and transcription, and how training speed grows with dataset size.

    python bench/memory_scale.py                 # both parts (~10 min on 2 loaded cores)
    python bench/memory_scale.py memory          # peak RSS: make train, the transcription preset, transcribe 1 vs 10 min
    python bench/memory_scale.py scale           # steps/s at 1x, 4x, 16x the preset's data

Every command runs as a child process, as a user runs it. "peak RSS" is the largest process's
peak resident set (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a fresh launcher, so nothing of
this script counts); "tree" is the peak of the summed RSS of the process and its DataLoader
workers, sampled every 0.1 s with psutil (it counts pages the forked workers share twice).

* ``make train`` is ``python -m wavespace.train`` capped at ``--steps`` optimizer steps.
* The transcription preset is ``experiment=rendered_transcriber`` capped likewise, with
  ``--files`` rendered training files (the preset renders 160); its checkpoint, at the preset's
  real net size, is the one ``transcribe`` loads.
* ``transcribe`` runs on a 1-, 3- and 10-minute 44.1 kHz stereo WAV (random piano-like tones).
  Its memory may grow with the file only by the output itself, the activations it returns
  ([rows, frames] float32 per head): the table prints that size beside the growth. A 1-minute
  file has too few 20 s chunks to fill a batch of 4 (``batch_size``), so its forward passes are
  smaller; from 3 minutes on every batch is full and only the activations grow.
* Scale: steps/s of the transcriber at 1x, 4x and 16x the preset's training items (160 files x 6
  crops = 960). Rendering 16 x 160 files takes hours, so the transcriber trains on ``data=synth``
  with ``data.train.length`` at those sizes (the same model, batch and crop length); the rendered
  path is measured at 1/16, 1/4 and 1x (10, 40, 160 files: rendered once into data/).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PY = sys.executable
PRESET = ["experiment=rendered_transcriber"]
PRESET_ITEMS = 960  # 160 files x 6 crops of 4 s
LAUNCHER = ("import json, resource, subprocess, sys, time\n"
            "import psutil\n"
            "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)\n"
            "proc, tree = psutil.Process(p.pid), 0\n"
            "import threading\n"
            "out = []\n"
            "t = threading.Thread(target=lambda: out.append(p.stdout.read())); t.start()\n"
            "while p.poll() is None:\n"
            "    try:\n"
            "        tree = max(tree, sum(q.memory_info().rss for q in [proc, *proc.children(recursive=True)]))\n"
            "    except psutil.Error:\n"
            "        pass\n"
            "    time.sleep(0.1)\n"
            "t.join()\n"
            "print(json.dumps({'rc': p.returncode, 'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,\n"
            "                  'tree': tree, 'out': out[0][-6000:]}))\n")


def measure(args: list[str], env: dict[str, str]) -> dict:
    """Run ``python args`` under a fresh launcher; peak RSS (MB) of the largest process and of the tree."""
    t0 = time.perf_counter()
    proc = subprocess.run([PY, "-c", LAUNCHER, PY, *args], capture_output=True, text=True, env=env)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise SystemExit(f"{' '.join(args)} failed (exit {res['rc']}):\n{res['out']}")
    return {"peak_mb": res["maxrss_kb"] / 1024, "tree_mb": res["tree"] / 2**20, "seconds": time.perf_counter() - t0,
            "out": res["out"]}


def piano_wav(path: Path, seconds: float, sr: int = 44100, seed: int = 0) -> Path:
    """A stereo WAV of decaying harmonic tones (written in blocks: the writer holds one block)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    block = 10 * sr
    with sf.SoundFile(str(path), "w", sr, 2, subtype="PCM_16") as f:
        for start in range(0, int(seconds * sr), block):
            n = min(block, int(seconds * sr) - start)
            t = np.arange(n) / sr
            x = np.zeros(n)
            for onset in rng.uniform(0, n / sr, 20):
                f0 = 440 * 2 ** ((rng.integers(21, 100) - 69) / 12)
                env = np.where(t >= onset, np.exp(-3 * np.clip(t - onset, 0, None)), 0.0)
                x += env * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3) if k * f0 < sr / 2)
            x = 0.1 * x / max(1.0, np.abs(x).max())
            f.write(np.stack([x, x], 1).astype(np.float32))
    return path


def train_args(extra: list[str], steps: int, out: Path) -> list[str]:
    return ["-m", "wavespace.train", f"trainer.max_steps={steps}", "test=false", "logger=csv",
            f"paths.output_dir={out}", "callbacks.progress_bar.refresh_rate=0", *extra]


def run_dir(out: Path) -> Path:
    return max((out / "runs").glob("*"), key=lambda p: p.stat().st_mtime)


def memory(args, env: dict[str, str], tmp: Path) -> list[tuple]:
    rows = []
    r = measure(train_args([], args.steps, tmp / "train"), env)
    rows.append((f"make train (default run, {args.steps} steps)", r, ""))
    preset = [*PRESET, f"data.train.n_files={args.files}"]
    r = measure(train_args(preset, args.steps, tmp / "preset"), env)
    rows.append((f"transcription preset ({args.files} files, {args.steps} steps)", r, ""))
    ckpt = run_dir(tmp / "preset")
    sizes = {}
    for minutes in (1, 3, 10):
        wav = piano_wav(tmp / f"piece{minutes}.wav", 60 * minutes)
        r = measure(["-m", "wavespace.transcribe", f"ckpt={ckpt}", f"input={wav}", f"output={tmp / 'midi'}",
                     "progress=false"], env)
        sizes[minutes] = r
        note = "3 chunks of 20 s: batches of 1, not 4" if minutes == 1 else ""
        rows.append((f"transcribe, {minutes:>2}-minute file", r, note))
    for a, b in ((1, 10), (3, 10)):
        growth = {"peak_mb": sizes[b]["peak_mb"] - sizes[a]["peak_mb"], "tree_mb": float("nan"), "seconds": 0.0}
        rows.append((f"transcribe: growth {a} -> {b} min", growth,
                     f"activations of the extra {b - a} min: {activation_mb(ckpt, 60.0 * (b - a)):.0f} MB"))
    return rows


def activation_mb(ckpt: Path, seconds: float) -> float:
    """Size of what transcribe returns for ``seconds`` of audio: every head, [rows, frames] float32."""
    import torch

    from wavespace.loading import load_transcriber

    model = load_transcriber(str(ckpt), "cpu")
    probe = model.predict_audio(torch.zeros(1, int(model.features.sample_rate * 4)))
    rows = sum(v.shape[1] for v in probe.values())
    return rows * seconds * float(model.features.frame_rate) * 4 / 2**20


class ScaleTimer:
    """Steps/s after the first ``warmup`` steps (a Lightning callback, built in the child)."""

    def __new__(cls, warmup: int = 2):
        import lightning as L

        class _Timer(L.Callback):
            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
                if trainer.global_step == warmup:
                    self.t0 = time.perf_counter()

            def on_train_end(self, trainer, pl_module):
                steps = trainer.global_step - warmup
                print(f"[scale] {steps / (time.perf_counter() - self.t0):.4f} steps/s over {steps} steps")

        return _Timer()


def train_child(overrides: list[str]) -> None:
    """``wavespace.train`` in this process, with the timer (its config names ``__main__``)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    from wavespace.config import config_dir
    from wavespace.train import train

    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "+callbacks.scale_timer._target_=__main__.ScaleTimer"],
                      return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        train(cfg)


def scale(args, env: dict[str, str], tmp: Path) -> list[tuple]:
    rows = []
    child = [str(Path(__file__).resolve()), "--train-child"]
    synth = ["data=synth", "data.batch_size=8", "data.train.clip_seconds=4.0", "~data.train.n_files",
             "~data.train.program", "~data.val.n_files", "~data.val.program"]
    for factor in (1, 4, 16):
        n = PRESET_ITEMS * factor
        extra = [*PRESET, *synth, f"data.train.length={n}", "+trainer.limit_val_batches=0"]
        r = measure([*child, *train_args(extra, args.steps, tmp / f"synth{factor}")[2:]], env)
        rows.append((f"transcriber on synth, {factor:>2}x ({n} items)", r, f"{steps_per_second(r['out'])} steps/s"))
    for files in (10, 40, 160):
        extra = [*PRESET, f"data.train.n_files={files}", "+trainer.limit_val_batches=0"]
        r = measure([*child, *train_args(extra, args.steps, tmp / f"rendered{files}")[2:]], env)
        rows.append((f"transcriber on rendered, {files:>3} files", r, f"{steps_per_second(r['out'])} steps/s"))
    return rows


def steps_per_second(log: str) -> str:
    m = re.search(r"\[scale\] ([0-9.]+) steps/s", log)
    return f"{float(m.group(1)):.3f}" if m else "?"


def main() -> None:
    if sys.argv[1:2] == ["--train-child"]:
        return train_child(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("part", nargs="?", default="all", choices=["all", "memory", "scale"])
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps per training run")
    ap.add_argument("--files", type=int, default=16, help="rendered training files of the preset run (memory)")
    ap.add_argument("--workdir", help="keep runs, WAVs and MIDI here (default: a temporary folder)")
    args = ap.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "WANDB_MODE": "disabled",
           "PYTHONUNBUFFERED": "1"}
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="ws-memory-") as tmp:
        if args.workdir:
            tmp = str(Path(args.workdir).resolve())
            Path(tmp).mkdir(parents=True, exist_ok=True)
        if args.part in ("all", "memory"):
            rows += memory(args, env, Path(tmp))
        if args.part in ("all", "scale"):
            rows += scale(args, env, Path(tmp))
    print(f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, load average {load:.1f} -> "
          f"{os.getloadavg()[0]:.1f}, OMP_NUM_THREADS={env['OMP_NUM_THREADS']} ({Path(__file__).name})")
    print(f"{'what':<48}{'peak RSS MB':>12}{'tree MB':>9}{'seconds':>9}   note")
    for what, r, note in rows:
        print(f"{what:<48}{r['peak_mb']:>12.0f}{r['tree_mb']:>9.0f}{r['seconds']:>9.0f}   {note}")


if __name__ == "__main__":
    main()
