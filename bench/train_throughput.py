"""Training throughput of the default run: Lightning vs the same model and batches in a plain
PyTorch loop, and the share of step time spent waiting for data.

    python bench/train_throughput.py [--steps 30] [--workers 1] [--batch-size 16]
    python bench/train_throughput.py --device cuda --precision bf16-mixed --workers 4 --batch-size 64
    python bench/train_throughput.py --device cuda --batch-size 64 --generate-on device

Both loops use the composed default config (synthetic data, CQT on the device, ConvSalienceNet),
the same seed, the same DataLoader settings and the same optimizer; rounds alternate
(plain, Lightning, plain, Lightning) so background load hits both alike. The first `--warmup`
steps of each round are not timed.

``--device cuda`` runs both loops on the GPU (batches moved as Lightning moves them, every
clock reading after ``torch.cuda.synchronize``); ``--precision bf16-mixed`` gives the plain loop
the same bf16 autocast that Lightning's precision plugin uses. One untimed forward/backward
runs on the device before the rounds, so that CUDA/cuDNN start-up does not fall into the first
plain round's warm-up (its workers would fill the prefetch queue meanwhile and the plain loop
would read batches that cost no waiting). For the same reason keep ``--steps`` well above
``2 x --workers`` (the DataLoader's prefetch): otherwise the timed window is served from the
queue filled during warm-up, not at the data pipeline's steady rate.

``--generate-on device`` (``data.generate_on=device``): the workers only draw each clip's random
numbers, and the batch is synthesised on the device in the datamodule's ``on_after_batch_transfer``
(the plain loop calls the same hook). The data wait is then the time from the end of one step to
the start of the next: fetching the draws, the copy to the device and the synthesis (for both
loops; ``bench/synth_generator.py`` times the generator alone).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.utilities import move_data_to_device

from wavespace.config import config_dir


def build(overrides: list[str]):
    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=["run_dir=/tmp/ws-bench", "run_id=bench", *overrides])
    L.seed_everything(0, verbose=False)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model, features=instantiate(cfg.features))
    return cfg, datamodule, model


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that wall-clock readings cover it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(L.Callback):
    """Wall time per step and the part of it between batches (= waiting for the next batch)."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.t_end, self.wait, self.start, self.stop = warmup, None, 0.0, None, None
        self.device = device

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        sync(self.device)
        now = time.perf_counter()
        if batch_idx == self.warmup:
            self.start = now if self.t_end is None else self.t_end
        if batch_idx > self.warmup and self.t_end is not None:
            self.wait += now - self.t_end

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        sync(self.device)
        self.t_end = time.perf_counter()
        self.stop = self.t_end


def warm_up(overrides, device, precision):
    """One forward/backward on the device (CUDA context, cuDNN/cuBLAS handles), not timed."""
    from wavespace.data.datamodule import collate
    from wavespace.data.synth_batched import Plans

    _, dm, model = build(overrides)
    model.to(device).train()
    items = [dm.train_set[i] for i in range(2)]
    batch = dm.train_set.collate(items) if isinstance(dm.train_set, Plans) else collate(items)
    batch = dm.on_after_batch_transfer(move_data_to_device(batch, device), 0)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision.startswith("bf16")):
        out = model(model.inputs(batch))
        loss = torch.stack(list(model.losses(out, batch).values())).sum()
    loss.backward()
    sync(device)


def run_lightning(overrides, steps, warmup, device, precision):
    cfg, dm, model = build(overrides)
    timer = StepTimer(warmup, device)
    accelerator = "gpu" if device.type == "cuda" else device.type
    trainer = L.Trainer(accelerator=accelerator, devices=1, precision=precision,
                        max_steps=steps + warmup, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, limit_val_batches=0, gradient_clip_val=cfg.trainer.gradient_clip_val,
                        callbacks=[timer])
    trainer.fit(model, datamodule=dm)
    total = timer.stop - timer.start
    return steps * dm.batch_size / total, timer.wait / total


def run_plain(overrides, steps, warmup, clip, device, precision):
    cfg, dm, model = build(overrides)
    model.to(device)
    optimizer = model.optimizer_factory([p for p in model.parameters() if p.requires_grad])
    model.train()
    loader = iter(dm.train_dataloader())
    bf16 = precision.startswith("bf16")
    wait = 0.0
    start = None
    for i in range(steps + warmup):
        if i == warmup:
            sync(device)
            start, wait = time.perf_counter(), 0.0
        t0 = time.perf_counter()
        batch = dm.on_after_batch_transfer(move_data_to_device(next(loader), device), 0)
        sync(device)
        wait += time.perf_counter() - t0
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(model.inputs(batch))
            loss = torch.stack(list(model.losses(out, batch).values())).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
    sync(device)
    total = time.perf_counter() - start
    return steps * dm.batch_size / total, wait / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both loops run there)")
    ap.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    ap.add_argument("--generate-on", default="workers", choices=["workers", "device"],
                    help="data.generate_on: render clips in the workers, or synthesise batches on --device")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is visible")
    overrides = [f"data.num_workers={args.workers}", f"data.batch_size={args.batch_size}",
                 f"data.train.length={(args.steps + args.warmup + 1) * args.batch_size}",
                 f"data.generate_on={args.generate_on}"]
    if args.steps < 2 * args.workers:
        print(f"note: --steps {args.steps} < 2 x --workers: the timed steps may come from the "
              f"DataLoader's prefetch queue rather than the data pipeline's steady rate")
    warm_up(overrides, device, args.precision)
    res = {"plain": [], "lightning": []}
    for _ in range(args.rounds):
        res["plain"].append(run_plain(overrides, args.steps, args.warmup, 1.0, device, args.precision))
        res["lightning"].append(run_lightning(overrides, args.steps, args.warmup, device, args.precision))
        print(f"round {len(res['plain'])}: plain {res['plain'][-1][0]:.1f} ex/s, lightning "
              f"{res['lightning'][-1][0]:.1f} ex/s", flush=True)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"\ntorch {torch.__version__}, device {where}, precision {args.precision}, "
          f"threads {torch.get_num_threads()}, workers {args.workers}, batch {args.batch_size}, generate_on {args.generate_on}, "
          f"{args.steps} timed steps x {args.rounds} rounds, load average {os.getloadavg()[0]:.2f} ({Path(__file__).name})")
    print(f"{'loop':<10} {'examples/s':>11} {'data wait':>10}   per round (examples/s, wait)")
    for name, rows in res.items():
        eps = max(r[0] for r in rows)
        wait = min(r[1] for r in rows)
        rounds = "  ".join(f"{r[0]:.1f} {r[1]:.0%}" for r in rows)
        print(f"{name:<10} {eps:>11.2f} {wait:>9.1%}    {rounds}")
    ratio = max(r[0] for r in res["lightning"]) / max(r[0] for r in res["plain"])
    print(f"ratio lightning/plain = {ratio:.3f}  (1.0 = no framework overhead)")


if __name__ == "__main__":
    main()
