"""Examples/s of the synthetic-data generator alone, against how fast the default model consumes
examples, on one device in one run.

    python bench/synth_generator.py [--batch-size 16] [--batches 3] [--rounds 3]
    python bench/synth_generator.py --device cuda --batch-size 64

Measured (best of ``--rounds``, each round on new items):

* ``numpy``: the reference, one item at a time with numpy, as a DataLoader worker renders them
  with ``data.generate_on=workers`` (always on the CPU, one process);
* ``draws``: what a worker does with ``data.generate_on=device``: each item's random numbers
  (numpy, the reference's own generator) padded and collated (CPU);
* ``synthesis``: the batched torch synthesis of audio + labels from those draws on ``--device``
  (the datamodule's ``on_after_batch_transfer``), after the host-to-device copy;
* ``model``: training steps of the default model (``make train``: CQT on the device, the conv
  net, backward, optimizer step) on ``--device``: the rate at which training consumes examples.

The generator keeps up when its examples/s is well above the model's. In device mode the draws
run in the DataLoader's workers, in parallel with the step, and the synthesis runs inside the
step's data stage; with ``num_workers=0`` both are serial (the ``device mode, serial`` row).
The load average is printed: on a shared machine compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.utilities import move_data_to_device

from wavespace.config import config_dir
from wavespace.data import collate
from wavespace.data.synth_batched import Plans, synthesize


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_rate(fn: Callable[[int], int], rounds: int, device: torch.device) -> float:
    """Examples/s of ``fn(round) -> examples``, best of ``rounds`` (one untimed call first)."""
    fn(-1)
    best = 0.0
    for r in range(rounds):
        sync(device)
        start = time.perf_counter()
        n = fn(r)
        sync(device)
        best = max(best, n / (time.perf_counter() - start))
    return best


def measure(device: torch.device, batch_size: int = 16, n_batches: int = 3, rounds: int = 3) -> dict[str, float]:
    """Examples/s of the numpy reference, the device-mode draws, the batched synthesis and the
    default model's training steps, each the best of ``rounds`` (``bench/train_throughput.py``
    calls this too, so its one run reports the generator beside the step-time ratio)."""
    b = batch_size
    with initialize_config_dir(config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=["run_dir=/tmp/ws-bench", "run_id=bench", f"data.batch_size={b}"])
    L.seed_everything(0, verbose=False)
    dataset = instantiate(cfg.data.train, length=(rounds + 1) * n_batches * b)
    plans = Plans(dataset)

    def indices(r: int, k: int) -> list[int]:  # round r's batch k (round -1: the warm-up's)
        first = ((r + 1) * n_batches + k) * b
        return list(range(first, first + b))

    def numpy_items(r: int) -> int:
        for k in range(n_batches):
            collate([dataset[i] for i in indices(r, k)])
        return n_batches * b

    def draws(r: int) -> int:
        for k in range(n_batches):
            plans.collate([plans[i] for i in indices(r, k)])
        return n_batches * b

    drawn = {r: [move_data_to_device(plans.collate([plans[i] for i in indices(r, k)]), device)
                 for k in range(n_batches)] for r in range(-1, rounds)}

    def synthesis(r: int) -> int:
        for batch in drawn[r]:
            synthesize(batch)
        return n_batches * b

    if device.type == "cuda":  # the synthesis must never wait for the host: any sync raises here
        torch.cuda.set_sync_debug_mode("error")
        synthesize(drawn[0][0])
        torch.cuda.set_sync_debug_mode("default")
        print("batched synthesis ran with torch.cuda.set_sync_debug_mode('error'): no host syncs")

    model = instantiate(cfg.model, features=instantiate(cfg.features)).to(device).train()
    optimizer = model.optimizer_factory([p for p in model.parameters() if p.requires_grad])
    batch = synthesize(drawn[-1][0])

    def steps(r: int) -> int:
        for _ in range(n_batches):
            out = model(model.inputs(batch))
            loss = torch.stack(list(model.losses(out, batch).values())).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip_val)
            optimizer.step()
        return n_batches * b

    rates = {"numpy": best_rate(numpy_items, rounds, torch.device("cpu")),
             "draws": best_rate(draws, rounds, torch.device("cpu")),
             "synthesis": best_rate(synthesis, rounds, device),
             "model": best_rate(steps, rounds, device)}
    rates["serial"] = 1.0 / (1.0 / rates["draws"] + 1.0 / rates["synthesis"])
    return rates


def print_table(rates: dict[str, float], device: torch.device) -> None:
    rows = [("numpy reference, per item (workers)", rates["numpy"]), ("draws + collate (device mode, CPU)", rates["draws"]),
            (f"batched synthesis on {device.type}", rates["synthesis"]),
            ("device mode, serial (draws + synthesis)", rates["serial"]),
            ("default model consumes (train steps)", rates["model"])]
    print(f"{'':<42} {'examples/s':>11} {'x model':>8}")
    for name, rate in rows:
        print(f"{name:<42} {rate:>11.1f} {rate / rates['model']:>8.1f}")
    print(f"batched synthesis / numpy reference = {rates['synthesis'] / rates['numpy']:.1f}x; "
          f"device mode serial / numpy reference = {rates['serial'] / rates['numpy']:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--batches", type=int, default=3, help="batches per timed round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu or cuda: where synthesis and the model run")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is visible")
    load_before = os.getloadavg()
    rates = measure(device, args.batch_size, args.batches, args.rounds)
    load_after = os.getloadavg()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, device {where}, threads {torch.get_num_threads()}, batch {args.batch_size}, "
          f"{args.batches} batches x {args.rounds} rounds, load average {load_before[0]:.2f} -> {load_after[0]:.2f} "
          f"({os.cpu_count()} CPUs)")
    print_table(rates, device)

if __name__ == "__main__":
    main()
