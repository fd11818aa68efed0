"""Study 2 measured: the harmonic salience model against raw CQT peaks and harmonic summation.

    python bench/harmonic_salience.py                 # full: 5 scenarios x 3 seeds x 600 steps (hours on 2 CPU cores)
    python bench/harmonic_salience.py --quick         # smoke: 2 synth scenarios, 1 seed, 10 steps
    python bench/harmonic_salience.py --scenarios synth_poly4_weak --seeds 0 --steps 300
    python bench/harmonic_salience.py --report        # the tables of what --out already holds

Scenarios: synthetic polyphony with 1 or up to 4 voices, each with f0 the strongest partial
(``strong``, the generator's default) or attenuated (``weak``: ``weak_fundamental=1``, f0 at
most 0.3 of the strongest partial), and FluidSynth-rendered piano (``rendered_piano``, the
``rendered_harmonic`` preset's data; skipped with a note when FluidSynth is missing).

Per scenario and seed: validation loss0 and loss1 before and after training, the lambda
trajectory, training steps/s, and the test multi-pitch precision / recall / F1 / accuracy
(mir_eval, 50 cents) of the model's summed salience and of both baselines on the same [0, 1] CQT,
each with its peak-picking fraction tuned on the validation split
(wavespace.transcription.multipitch). The model is trained without labels (model=harmonic
defaults plus the overrides below); labels are read only for the table. Seeds change the model
initialisation and batch order, and for synthetic scenarios the data too (rendered piano keeps
its files: rendering is the slow part). Mean +- std over seeds is printed; every number goes to
``--out`` as JSON, written after each (scenario, seed): run again with the same settings and the
finished ones are kept (an interrupted bench resumes).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from wavespace.analyze.salience import collect
from wavespace.config import config_dir
from wavespace.transcription.multipitch import score_detectors

SMALL_NET = ["model.net.unet.depth=3", "model.net.unet.channels=8", "model.net.unet.max_channels=64"]


def synth(voices: int, weak: bool, n_train: int, n_eval: int, seed: int) -> list[str]:
    wf = 1.0 if weak else 0.0
    out = ["data=synth", f"data.train.max_polyphony={voices}", f"data.train.length={n_train}",
           f"data.val.length={n_eval}", f"data.test.length={n_eval}",
           f"data.train.seed={10 * seed}", f"data.val.seed={10 * seed + 1}", f"data.test.seed={10 * seed + 2}"]
    for split in ("train", "val", "test"):
        out.append(f"+data.{split}.weak_fundamental={wf}")
        if split != "train":
            out.append(f"data.{split}.max_polyphony={voices}")
    return out


def scenarios(n_train: int, n_eval: int, seed: int) -> dict[str, list[str]]:
    runs = {f"synth_poly{v}_{'weak' if w else 'strong'}": synth(v, w, n_train, n_eval, seed)
            for v in (1, 4) for w in (False, True)}
    runs["rendered_piano"] = ["data=rendered", "data.train.n_files=16", "data.train.clip_seconds=4.0",
                              "data.val.n_files=2", "data.test.n_files=4", "data.num_workers=0"]
    return runs


class Recorder(L.Callback):
    """lambda after every optimizer step, and the wall time of the fit."""

    def __init__(self) -> None:
        self.lam: list[float] = []
        self.start = self.stop = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.lam.append(float(pl_module.lam))

    def on_train_end(self, trainer, pl_module) -> None:
        self.stop = time.perf_counter()


@torch.no_grad()
def val_losses(task: Any, loader: Any, max_batches: int) -> dict[str, float]:
    """Mean validation loss0 and loss1 (batch-weighted) of the task as it is now."""
    task.eval()
    sums, n = np.zeros(2), 0
    for i, batch in enumerate(loader):
        if i >= max_batches:
            break
        res = task.objective({k: v.to(task.device) if torch.is_tensor(v) else v for k, v in batch.items()})
        bs = res["target"].shape[0]
        sums += bs * np.array([float(res["loss0"]), float(res["loss1"])])
        n += bs
    task.train()
    return {"loss0": sums[0] / max(n, 1), "loss1": sums[1] / max(n, 1)}


def run_one(overrides: list[str], seed: int, steps: int, batch_size: int, eval_clips: int, work: Path,
            accelerator: str = "cpu") -> dict:
    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=["model=harmonic", f"seed={seed}", f"run_dir={work}", "run_id=bench",
                                          f"paths.output_dir={work}", f"data.batch_size={batch_size}",
                                          *SMALL_NET, *overrides])
    L.seed_everything(seed, verbose=False)
    datamodule = instantiate(cfg.data)
    task = instantiate(cfg.model, features=instantiate(cfg.features))
    task.fit_target_range(task.raw_inputs(b) for b, _ in zip(datamodule.train_dataloader(), range(task.fit_batches)))
    before = val_losses(task, datamodule.val_dataloader(), 8)
    rec = Recorder()
    trainer = L.Trainer(accelerator=accelerator, devices=1, max_steps=steps, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        gradient_clip_val=cfg.trainer.gradient_clip_val, callbacks=[rec], num_sanity_val_steps=0)
    trainer.fit(task, datamodule=datamodule)
    after = val_losses(task, datamodule.val_dataloader(), 8)
    task.eval()
    min_midi = int(cfg.geometry.min_midi)
    val = collect(task, datamodule.val_set, eval_clips, batch_size, min_midi)
    test = collect(task, datamodule.test_set, eval_clips, batch_size, min_midi)
    table = score_detectors(val.clips, test.clips, task.features.center_frequencies)
    return {"before": before, "after": after, "lambda": rec.lam, "threshold": task.threshold,
            "steps": trainer.global_step, "steps_per_s": trainer.global_step / max(rec.stop - rec.start, 1e-9),
            "test_clips": len(test.clips), "table": table}


def summarise(name: str, runs: list[dict]) -> list[str]:
    def ms(values: list[float]) -> str:
        return f"{np.mean(values):.3f} +- {np.std(values):.3f}"

    lines = [f"\n== {name} ({len(runs)} seed(s), {runs[0]['steps']} steps, {runs[0]['test_clips']} test clips)",
             f"  val loss0  {ms([r['before']['loss0'] for r in runs])} -> {ms([r['after']['loss0'] for r in runs])}",
             f"  val loss1  {ms([r['before']['loss1'] for r in runs])} -> {ms([r['after']['loss1'] for r in runs])}"
             f"   (threshold {runs[0]['threshold']:g})",
             f"  steps/s    {ms([r['steps_per_s'] for r in runs])}"]
    for r in runs[:1]:
        lam = r["lambda"]
        marks = [lam[min(len(lam) - 1, int(q * (len(lam) - 1)))] for q in (0, 0.25, 0.5, 0.75, 1.0)] if lam else []
        lines.append("  lambda     " + " -> ".join(f"{v:.3g}" for v in marks) + "  (seed 0, at 0/25/50/75/100 %)")
    lines.append(f"  {'test':<20} {'P':>15} {'R':>15} {'F1':>15} {'Acc':>15}")
    for det in runs[0]["table"]:
        cells = [ms([r["table"][det][k] for r in runs]) for k in ("precision", "recall", "f1", "accuracy")]
        lines.append(f"  {det:<20} " + " ".join(f"{c:>15}" for c in cells))
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 2 synth scenarios, 1 seed, 10 steps")
    p.add_argument("--scenarios", nargs="*", default=None)
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--train-clips", type=int, default=512)
    p.add_argument("--eval-clips", type=int, default=48)
    p.add_argument("--accelerator", default="cpu", help="Lightning accelerator for training (cpu, gpu)")
    p.add_argument("--out", type=Path, default=Path("outputs/bench/harmonic_salience.json"))
    p.add_argument("--report", action="store_true",
                   help="train nothing: print the tables of every scenario already in --out")
    args = p.parse_args()
    if args.report:
        stored = json.loads(args.out.read_text())["results"]
        for name, runs in stored.items():
            print("\n".join(summarise(name, sorted(runs, key=lambda r: r.get("seed", 0)))))
        return
    if args.quick:
        args.scenarios = args.scenarios or ["synth_poly1_weak", "synth_poly4_strong"]
        args.seeds, args.steps, args.train_clips, args.eval_clips = [0], 10, 32, 8
    names = args.scenarios or list(scenarios(1, 1, 0))
    work = args.out.parent / "harmonic_salience_work"
    # Written after every (scenario, seed): an interrupted bench resumes with what it finished,
    # as long as the settings that change the numbers are the same.
    same = {k: str(getattr(args, k)) for k in ("steps", "batch_size", "train_clips", "eval_clips", "accelerator")}
    done: dict[str, list[dict]] = {}
    if args.out.is_file():
        old = json.loads(args.out.read_text())
        if all(old.get("args", {}).get(k) == v for k, v in same.items()):
            done = old.get("results", {})
    results: dict[str, list[dict]] = {}

    def write() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        merged = {**done, **results}
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": merged},
                                       indent=2, default=float))

    for name in names:
        if name == "rendered_piano" and shutil.which("fluidsynth") is None:
            print("\n== rendered_piano skipped: FluidSynth is not installed (make data-deps)")
            continue
        earlier = {r.get("seed"): r for r in done.get(name, [])}
        for seed in args.seeds:
            if seed in earlier:
                print(f"-- {name}, seed {seed}: kept from {args.out}", flush=True)
                results.setdefault(name, []).append(earlier[seed])
                continue
            overrides = scenarios(args.train_clips, args.eval_clips, seed)[name]
            print(f"-- {name}, seed {seed}", flush=True)
            run = run_one(overrides, seed, args.steps, args.batch_size, args.eval_clips, work / name, args.accelerator)
            results.setdefault(name, []).append({"seed": seed, **run})
            write()
        print("\n".join(summarise(name, results[name])), flush=True)
    write()
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
