"""Training throughput: Lightning as ``python -m wavespace.train`` runs it vs the same model and
batches in a plain PyTorch loop, for the default run and the transcription preset; the share of
step time spent waiting for data; and (``--profile``) where Lightning's extra time goes.

    python bench/train_throughput.py                                    # CPU, both runs (~10 min loaded)
    python bench/train_throughput.py --device cuda --batch-size 64      # GPU, both runs (a few minutes)
    python bench/train_throughput.py --runs default --profile           # + cProfile of the Lightning step
    python bench/train_throughput.py --device cuda --batch-size 64 --generate-on device

After the table the default run's generator is timed alone on the same device and batch
(``bench/synth_generator.py``; ``--no-generator`` skips it): with the ratio and the data-wait share,
that is everything the throughput goals need, in one run.

The Lightning side is ``wavespace.train.train`` itself: the composed config's callbacks (progress
bar, LR monitor, checkpoints every 100 steps and at epoch ends, figures), the NaN guard, resume
state and the checkpoint writer, with the CSV logger (``--logger default`` adds W&B offline). The
plain loop builds the same data, model, optimizer and schedule from the same config and seed and
takes the same steps: forward, loss, backward, gradient clipping, optimizer and scheduler step;
nothing else. Rounds alternate (plain, Lightning, plain, Lightning, per run), so background load
hits both alike; the first ``--warmup`` steps of each loop are not timed, and the device is
synchronized only at the two ends of the timed window (a sync per step would hide the syncs the
framework makes). "data wait" is the time the main process spends blocked in the DataLoader's
``next()``; "cpu ms/step" is the main process's CPU time (less sensitive to other processes).

``experiment=rendered_transcriber`` keeps its real net and batch size; its FluidSynth-rendered
files are limited to what the timed steps need (``--n-files``, at most the preset's 160; they are
rendered once into ``data/``). When the timed window spans an epoch end (GPU), validation is off
in the Lightning run (the plain loop has none); the epoch-end checkpoint stays in.

``--generate-on device`` (``data.generate_on=device``, default run): the workers only draw each
clip's random numbers and the batch is synthesised on the device in the datamodule's
``on_after_batch_transfer`` (the plain loop calls the same hook); that synthesis counts as data
wait (``bench/synth_generator.py`` times the generator alone).

``--device cuda`` runs both loops on the GPU with pinned DataLoader memory (one warm-up pass
first: CUDA context, cuDNN, kernels). The NaN guard then reads its flag one step late
(``nonfinite_check=auto``), and nothing in a step but the logging steps reads a device value.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import dataloader as torch_dataloader

from wavespace.config import config_dir

RUNS = {"default": [], "rendered_transcriber": ["experiment=rendered_transcriber"]}
PRESET_FILES, CROPS_PER_FILE = 160, 5  # rendered_transcriber: 160 files of ~21 s, >= 5 crops of 4 s each
WAIT = [0.0]  # seconds the main process spent in DataLoader next() (both loops)


def _timed_next(next_fn):
    def wrapper(self):
        t0 = time.perf_counter()
        try:
            return next_fn(self)
        finally:
            WAIT[0] += time.perf_counter() - t0
    return wrapper


torch_dataloader._BaseDataLoaderIter.__next__ = _timed_next(torch_dataloader._BaseDataLoaderIter.__next__)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_device_generation(dm, device: torch.device) -> None:
    """``data.generate_on=device``: the batch is synthesised in ``on_after_batch_transfer``; count
    that (synchronized at both ends, in both loops alike) as waiting for data too."""
    if getattr(dm, "generate_on", "workers") != "device":
        return
    hook = dm.on_after_batch_transfer

    def timed(batch, dataloader_idx):
        sync(device)
        t0 = time.perf_counter()
        out = hook(batch, dataloader_idx)
        sync(device)
        WAIT[0] += time.perf_counter() - t0
        return out

    dm.on_after_batch_transfer = timed


class Window:
    """Wall time, main-process CPU time and data wait of the steps after the warm-up."""

    def __init__(self, device: torch.device, steps: int) -> None:
        self.device, self.steps = device, steps

    def begin(self) -> None:
        sync(self.device)
        self.t0, self.cpu0, self.wait0 = time.perf_counter(), time.process_time(), WAIT[0]

    def end(self) -> dict:
        sync(self.device)
        wall = time.perf_counter() - self.t0
        return {"wall": wall, "step_ms": 1e3 * wall / self.steps,
                "cpu_ms": 1e3 * (time.process_time() - self.cpu0) / self.steps, "wait": (WAIT[0] - self.wait0) / wall}


class StepTimer(L.Callback):
    """Opens the window at batch ``warmup`` and closes it after batch ``warmup + steps``."""

    def __init__(self, warmup: int, steps: int, device: str, profile: bool = False) -> None:
        self.warmup, self.window, self.n, self.result = warmup, Window(torch.device(device), steps), 0, None
        self.profiler = __import__("cProfile").Profile() if profile else None

    def setup(self, trainer, pl_module, stage):
        time_device_generation(trainer.datamodule, self.window.device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.n == self.warmup:
            self.window.begin()
            if self.profiler:
                self.profiler.enable()
        self.n += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.n == self.warmup + self.window.steps:
            if self.profiler:
                self.profiler.disable()
            self.result = self.window.end()
            if self.profiler:  # what one periodic checkpoint costs (written every 100 steps)
                t0 = time.perf_counter()
                trainer.save_checkpoint(Path(trainer.default_root_dir) / "checkpoints" / "bench-probe.ckpt")
                self.result["save_ms"] = 1e3 * (time.perf_counter() - t0)


def compose_run(run: str, args, out: Path):
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    steps = args.warmup + args.steps
    over = [*RUNS[run], f"trainer.max_steps={steps}", f"data.num_workers={args.workers}", "test=false",
            f"logger={args.logger}", f"trainer.precision={args.precision}", "trainer.devices=1",
            f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}"]
    if args.batch_size:
        over.append(f"data.batch_size={args.batch_size}")
    if args.device == "cuda":
        over.append("data.pin_memory=true")  # what a GPU run should use: asynchronous copies
    if args.generate_on and run == "default":
        over.append(f"data.generate_on={args.generate_on}")
    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=over, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        batch = int(cfg.data.batch_size)
        with open_dict(cfg):
            cfg.paths.output_dir = str(out)
            if run == "default":
                cfg.data.train.length = (steps + 1) * batch
            else:
                files = args.n_files or min(PRESET_FILES, math.ceil((steps + 1) * batch / CROPS_PER_FILE))
                cfg.data.train.n_files, cfg.data.val.n_files, cfg.data.test.n_files = files, 2, 2
                if files * CROPS_PER_FILE < (steps + 1) * batch:  # epochs end inside the window
                    cfg.trainer.limit_val_batches = 0
    return cfg


def run_lightning(run: str, args, profile: bool = False) -> tuple[dict, object]:
    from omegaconf import open_dict

    from wavespace.train import train

    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        cfg = compose_run(run, args, Path(tmp))
        with open_dict(cfg):
            cfg.callbacks.bench_timer = {"_target_": "__main__.StepTimer", "warmup": args.warmup,
                                         "steps": args.steps, "device": args.device, "profile": profile}
        L.seed_everything(cfg.seed, verbose=False)
        _, objects = train(cfg)
        [timer] = [c for c in objects["trainer"].callbacks if isinstance(c, StepTimer)]
        if profile:
            timer.profiler.save_ms = timer.result.get("save_ms", float("nan"))
        return timer.result, timer.profiler


def run_plain(run: str, args) -> dict:
    from hydra.utils import instantiate
    from lightning.pytorch.utilities import move_data_to_device

    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        cfg = compose_run(run, args, Path(tmp))
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        device = torch.device(args.device)
        from wavespace.loading import build_model

        model = build_model(cfg).to(device).train()
        dm = instantiate(cfg.data)
        time_device_generation(dm, device)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = model.optimizer_factory(params)
        total = args.warmup + args.steps
        scheduler = plain_scheduler(model, optimizer, total, cfg.trainer.get("max_time"))
        clip = cfg.trainer.get("gradient_clip_val")
        bf16 = args.precision.startswith("bf16")
        window, loader = Window(device, args.steps), iter(dm.train_dataloader())
        for i in range(total):
            if i == args.warmup:
                window.begin()
            try:
                batch = next(loader)
            except StopIteration:
                loader = iter(dm.train_dataloader())
                batch = next(loader)
            batch = dm.on_after_batch_transfer(move_data_to_device(batch, device), 0)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = model(model.inputs(batch))
                loss = torch.stack(list(model.losses(out, batch).values())).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        return window.end()


def plain_scheduler(model, optimizer, total: int, max_time: str | None):
    """The task's schedule as ``configure_optimizers`` builds it: over the steps, or (``span:
    time``) over ``trainer.max_time`` on a clock started now."""
    factory = model.scheduler_factory
    if factory is None:
        return None
    try:
        from wavespace.tasks.schedules import TimeBudget, scheduler_span
    except ImportError:  # a wavespace before time-spanned schedules
        return factory(optimizer, total_steps=total)
    if scheduler_span(factory) != "time":
        return factory(optimizer, total_steps=total)
    d, h, m, sec = (int(x) for x in str(max_time).split(":"))
    start = time.monotonic()
    budget = TimeBudget(((d * 24 + h) * 60 + m) * 60 + sec, lambda: time.monotonic() - start)
    return factory(optimizer, total_steps=total, time_budget=budget)


def warm_up(args) -> None:
    """CUDA context, cuDNN/cuBLAS handles and kernels, before any timed round."""
    if args.device == "cuda":
        saved = args.steps, args.warmup
        args.steps, args.warmup = 2, 1
        run_plain("default", args)
        args.steps, args.warmup = saved


# Where a Lightning step's time goes: cumulative seconds of these functions (cProfile), per step.
PROFILE_ROWS = [
    ("training_step (forward + loss)", "training_step"),
    ("backward", "run_backward"),
    ("optimizer step (AdamW)", "torch/optim/adamw?.py:.*\\((adamw?|_single_tensor_adam|_multi_tensor_adam)\\)"),
    ("gradient clipping", "precision.py:.*\\(_clip_gradients\\)"),
    ("self.log", "core/module.py:.*\\(log\\)"),
    ("log_train (device sums)", "tasks/base.py:.*\\(log_train\\)"),
    ("callback hooks, all", "call.py:.*\\(_call_callback_hooks\\)"),
    ("  NaN guard", "nonfinite.py:.*\\((on_before_backward|on_train_batch_end)\\)"),
    ("  progress bar", "tqdm_progress.py:.*\\(on_train_batch_end\\)"),
    ("  LR monitor", "lr_monitor.py:.*\\(on_train_batch_start\\)"),
    ("  resume state", "callbacks.py:.*\\((on_train_batch_start|on_train_batch_end)\\)"),
    ("logger connector (step metrics)", "logger_connector.py:.*\\((update_train_step_metrics|on_batch_end)\\)"),
    ("LR scheduler", "training_epoch_loop.py:.*\\(update_lr_schedulers\\)"),
    ("data fetch (incl. wait)", "fetchers.py:.*\\(__next__\\)"),
]


def print_profile(profiler, steps: int, step_ms: float) -> None:
    import pstats
    import re

    stats = pstats.Stats(profiler).stats
    print(f"\n  where a Lightning step's {step_ms:.1f} ms go (cProfile, cumulative ms per step; rows overlap):")
    for label, pattern in PROFILE_ROWS:
        rx = re.compile(pattern)
        hits = [(key, v[3]) for key, v in stats.items() if rx.search(f"{key[0]}:{key[1]}({key[2]})")]
        total = max((t for _, t in hits), default=0.0)  # the outermost of nested matches
        print(f"    {label:<34} {1e3 * total / steps:8.2f}")
    save = getattr(profiler, "save_ms", float("nan"))
    print(f"    {'checkpoint save, 1 per 100 steps':<34} {save / 100:8.2f}   ({save:.0f} ms a save)")


def fluidsynth_missing(args) -> str | None:
    soundfont = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    if shutil.which("fluidsynth") is None or not soundfont.is_file():
        return "FluidSynth or the GM SoundFont is missing (make data-deps)"
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="default,rendered_transcriber", help=f"comma-separated: {', '.join(RUNS)}")
    ap.add_argument("--steps", type=int, help="timed steps per loop (default: cpu 12, cuda 100)")
    ap.add_argument("--warmup", type=int, help="untimed steps first (default: cpu 2, cuda 10)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, help="DataLoader workers (default: cpu 1, cuda min(8, cores - 2))")
    ap.add_argument("--batch-size", type=int, help="default: each preset's own (16 default, 8 rendered_transcriber)")
    ap.add_argument("--n-files", type=int, help="rendered files for rendered_transcriber (default: what the steps need)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    ap.add_argument("--logger", default="csv", choices=["csv", "default", "none"])
    ap.add_argument("--generate-on", choices=["workers", "device"],
                    help="data.generate_on of the default run: synth clips in the workers, or batches on --device")
    ap.add_argument("--profile", action="store_true", help="then cProfile one more Lightning round per run")
    ap.add_argument("--no-generator", action="store_true",
                    help="skip the synthetic generator's own examples/s (bench/synth_generator.py) after the table")
    args = ap.parse_args()
    gpu = args.device == "cuda"
    if gpu and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is visible")
    args.steps = args.steps or (100 if gpu else 12)
    args.warmup = args.warmup if args.warmup is not None else (10 if gpu else 2)
    args.workers = args.workers if args.workers is not None else (min(8, max(1, (os.cpu_count() or 2) - 2)) if gpu else 1)
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in runs if r not in RUNS]
    if unknown:
        ap.error(f"unknown run(s) {unknown}: choose from {', '.join(RUNS)}")
    if "rendered_transcriber" in runs and (why := fluidsynth_missing(args)):
        print(f"note: skipping rendered_transcriber: {why}")
        runs.remove("rendered_transcriber")
    os.environ.setdefault("WANDB_MODE", "offline")
    load_before = os.getloadavg()
    warm_up(args)
    results = {(r, loop): [] for r in runs for loop in ("plain", "lightning")}
    for k in range(args.rounds):
        for r in runs:
            results[(r, "plain")].append(run_plain(r, args))
            res, _ = run_lightning(r, args)
            results[(r, "lightning")].append(res)
            print(f"round {k + 1} {r}: plain {results[(r, 'plain')][-1]['step_ms']:.1f} ms/step, "
                  f"lightning {res['step_ms']:.1f} ms/step", flush=True)
    report(args, runs, results, load_before)
    if "default" in runs and not args.no_generator:
        generator_report(args)
    for r in runs if args.profile else []:  # an extra round: the profiler's own cost stays out of the table
        res, prof = run_lightning(r, args, profile=True)
        print(f"\n{r}:", end="")
        print_profile(prof, args.steps, res["step_ms"])


def generator_report(args) -> None:
    """The default run's data source alone, on the same device and batch, so that this one run
    states the ratio, the data-wait share and whether the generator keeps up (issue goal: 10x)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from synth_generator import measure, print_table

    device = torch.device(args.device)
    batch = args.batch_size or 16
    rates = measure(device, batch, n_batches=2, rounds=2)
    print(f"\nsynthetic generator alone (bench/synth_generator.py, batch {batch}, best of 2 rounds of 2 batches):")
    print_table(rates, device)
    workers = max(1, args.workers)
    print(f"generator vs model, default run: workers mode {workers} x {rates['numpy']:.0f} = "
          f"{workers * rates['numpy'] / rates['model']:.1f}x, device mode {rates['serial'] / rates['model']:.1f}x "
          f"the model's examples/s (goal >= 10x)")


def report(args, runs, results, load_before) -> None:
    where = torch.cuda.get_device_name() if args.device == "cuda" else (platform.processor() or platform.machine())
    print(f"\n{time.strftime('%Y-%m-%d')}, torch {torch.__version__}, {where}, {os.cpu_count()} cores, "
          f"threads {torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), "
          f"precision {args.precision}, workers {args.workers}, generate_on {args.generate_on or 'config'}, "
          f"logger {args.logger}, {args.steps} timed steps "
          f"after {args.warmup} x {args.rounds} rounds, load average before/after "
          f"{load_before[0]:.1f}/{os.getloadavg()[0]:.1f} ({Path(__file__).name})")
    print(f"{'run':<22}{'loop':<11}{'batch':>6}{'examples/s':>12}{'ms/step':>9}{'cpu ms/step':>13}{'data wait':>11}"
          "   per round (ms/step)")
    for r in runs:
        for loop in ("plain", "lightning"):
            rows = results[(r, loop)]
            best = min(rows, key=lambda x: x["step_ms"])
            batch = args.batch_size or (8 if r == "rendered_transcriber" else 16)
            print(f"{r:<22}{loop:<11}{batch:>6}{1e3 * batch / best['step_ms']:>12.2f}{best['step_ms']:>9.1f}"
                  f"{best['cpu_ms']:>13.1f}{best['wait']:>10.1%}    "
                  + "  ".join(f"{x['step_ms']:.0f}" for x in rows))
    for r in runs:
        plain, light = results[(r, "plain")], results[(r, "lightning")]
        best = min(x["step_ms"] for x in plain) / min(x["step_ms"] for x in light)
        paired = [p["step_ms"] / q["step_ms"] for p, q in zip(plain, light)]
        cpu = min(x["cpu_ms"] for x in plain) / min(x["cpu_ms"] for x in light)
        print(f"ratio lightning/plain {r}: {best:.3f} best of rounds, {statistics.median(paired):.3f} median of "
              f"paired rounds ({', '.join(f'{p:.2f}' for p in paired)}), {cpu:.3f} in main-process CPU time "
              f"(1.0 = no framework overhead)")


if __name__ == "__main__":
    sys.exit(main())
