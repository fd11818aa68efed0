"""Training throughput of the default run: Lightning vs the same model and batches in a plain
PyTorch loop, and the share of step time spent waiting for data.

    python bench/train_throughput.py [--steps 30] [--workers 1] [--batch-size 16]

Both loops use the composed default config (synthetic data, CQT on the device, ConvSalienceNet),
the same seed, the same DataLoader settings and the same optimizer; rounds alternate
(plain, Lightning, plain, Lightning) so background load hits both alike. The first `--warmup`
steps of each round are not timed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from wavespace.config import config_dir


def build(overrides: list[str]):
    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=["run_dir=/tmp/ws-bench", "run_id=bench", *overrides])
    L.seed_everything(0, verbose=False)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model, features=instantiate(cfg.features))
    return cfg, datamodule, model


class StepTimer(L.Callback):
    """Wall time per step and the part of it between batches (= waiting for the next batch)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.t_end, self.wait, self.start, self.stop = warmup, None, 0.0, None, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        now = time.perf_counter()
        if batch_idx == self.warmup:
            self.start = now if self.t_end is None else self.t_end
        if batch_idx > self.warmup and self.t_end is not None:
            self.wait += now - self.t_end

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.t_end = time.perf_counter()
        self.stop = self.t_end


def run_lightning(overrides, steps, warmup):
    cfg, dm, model = build(overrides)
    timer = StepTimer(warmup)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps + warmup, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, limit_val_batches=0, gradient_clip_val=cfg.trainer.gradient_clip_val,
                        callbacks=[timer])
    trainer.fit(model, datamodule=dm)
    total = timer.stop - timer.start
    return steps * dm.batch_size / total, timer.wait / total


def run_plain(overrides, steps, warmup, clip):
    cfg, dm, model = build(overrides)
    optimizer = model.optimizer_factory([p for p in model.parameters() if p.requires_grad])
    model.train()
    loader = iter(dm.train_dataloader())
    wait = 0.0
    start = None
    for i in range(steps + warmup):
        if i == warmup:
            start, wait = time.perf_counter(), 0.0
        t0 = time.perf_counter()
        batch = next(loader)
        wait += time.perf_counter() - t0
        out = model(model.inputs(batch))
        loss = torch.stack(list(model.losses(out, batch).values())).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
    total = time.perf_counter() - start
    return steps * dm.batch_size / total, wait / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    overrides = [f"data.num_workers={args.workers}", f"data.batch_size={args.batch_size}",
                 f"data.train.length={(args.steps + args.warmup + 1) * args.batch_size}"]
    res = {"plain": [], "lightning": []}
    for _ in range(args.rounds):
        res["plain"].append(run_plain(overrides, args.steps, args.warmup, 1.0))
        res["lightning"].append(run_lightning(overrides, args.steps, args.warmup))
    print(f"\ntorch {torch.__version__}, threads {torch.get_num_threads()}, workers {args.workers}, "
          f"batch {args.batch_size}, {args.steps} timed steps x {args.rounds} rounds ({Path(__file__).name})")
    print(f"{'loop':<10} {'examples/s':>11} {'data wait':>10}")
    for name, rows in res.items():
        eps = max(r[0] for r in rows)
        wait = min(r[1] for r in rows)
        print(f"{name:<10} {eps:>11.2f} {wait:>9.1%}")
    ratio = max(r[0] for r in res["lightning"]) / max(r[0] for r in res["plain"])
    print(f"ratio lightning/plain = {ratio:.3f}  (1.0 = no framework overhead)")


if __name__ == "__main__":
    main()
