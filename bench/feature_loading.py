"""Data loading: cached memory-mapped crops vs decode + resample + extract per sample.

Same fixture data for all sides, same process, same thread count: a MAESTRO-format dataset
written on the fly (44.1 kHz stereo WAV + MIDI, the real CSV), random training crops with
their piano-roll/salience targets. Sides:

* cached     ``MaestroDataset(cache=...)``: features are float16 memory-mapped slices
* per-sample ``cache=off``: seek + decode + soxr resample of the crop, then the front-end on
  that one crop (what a DataLoader worker doing feature extraction would do)
* batched    ``cache=off`` items, front-end run on batches (what training does on the device)

Prints examples/s, the ratios, and the one-off cost of building the cache (with the number of
epochs after which it has paid for itself).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/feature_loading.py
    .venv/bin/python bench/feature_loading.py --features hcqt --files 8 --seconds 60 --device cuda
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the fixture factories of tests/data, reused as data generators


def features_config(name: str, overrides: list[str]) -> dict:
    """conf/features/<name>.yaml resolved against the default geometry (any front-end works)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"features={name}", *overrides])
        return OmegaConf.to_container(cfg.features, resolve=True)  # type: ignore[return-value]


def rate(n: int, seconds: float) -> float:
    return n / max(seconds, 1e-9)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=6)
    p.add_argument("--seconds", type=float, default=30.0, help="length of each fixture piece")
    p.add_argument("--clip", type=float, default=5.0, help="crop length (clip_seconds)")
    p.add_argument("--items", type=int, default=48, help="random crops drawn per side")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--features", default="cqt", help="a conf/features option")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. geometry.hop_length=512")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.ERROR)

    from hydra.utils import instantiate

    from tests.data.conftest import make_maestro
    from wavespace.data import MaestroDataset

    feats = features_config(args.features, args.overrides)
    sr, hop = int(feats["sample_rate"]), int(feats["hop_length"])
    frontend = instantiate(feats).to(args.device).eval()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "maestro-v3.0.0"
        make_maestro(root, seconds=args.seconds, broken=False, layout={"train": args.files})
        common = dict(split="train", sample_rate=sr, hop_length=hop, clip_seconds=args.clip,
                      cache_dir=Path(tmp) / "cache", features=feats, progress=False, cache_device=args.device)
        plain = MaestroDataset(root, cache="off", **common)  # also builds the targets once
        t0 = time.perf_counter()
        cached = MaestroDataset(root, cache="build", **common)
        build_s = time.perf_counter() - t0
        n = args.items
        print(f"{args.files} pieces x {args.seconds:.0f} s (44.1 kHz stereo WAV), {args.clip:.1f} s crops -> "
              f"{cached.n_frames} frames; features={args.features} ({type(frontend).__name__}) on "
              f"{args.device}, {args.threads} thread(s); {n} random crops per side")

        torch.manual_seed(0)
        t0 = time.perf_counter()
        for i in range(n):
            item = cached[i % len(cached)]
        cached_s = time.perf_counter() - t0
        shape = item["features"].shape

        torch.manual_seed(0)
        t0 = time.perf_counter()
        with torch.no_grad():
            for i in range(n):
                item = plain[i % len(plain)]
                x = frontend(torch.from_numpy(item["audio"])[None].to(args.device))
        per_sample_s = time.perf_counter() - t0
        assert x.shape[1:] == shape, (x.shape, shape)

        torch.manual_seed(0)
        t0 = time.perf_counter()
        for i in range(n):
            plain[i % len(plain)]
        decode_s = time.perf_counter() - t0

        torch.manual_seed(0)
        t0 = time.perf_counter()
        with torch.no_grad():
            for b in range(0, n, args.batch):
                audio = np.stack([plain[i % len(plain)]["audio"] for i in range(b, min(n, b + args.batch))])
                frontend(torch.from_numpy(audio).to(args.device))
        batched_s = time.perf_counter() - t0

    r_cached, r_per, r_batch = rate(n, cached_s), rate(n, per_sample_s), rate(n, batched_s)
    print(f"{'side':<44}{'examples/s':>12}{'ratio':>9}")
    print(f"{'cached memmap crops (features + targets)':<44}{r_cached:>12.1f}{1.0:>9.2f}")
    print(f"{'decode + resample + extract per sample':<44}{r_per:>12.1f}{r_per / r_cached:>9.3f}")
    print(f"{'decode + resample, extract batched':<44}{r_batch:>12.1f}{r_batch / r_cached:>9.3f}")
    print(f"{'(decode + resample + targets only)':<44}{rate(n, decode_s):>12.1f}{rate(n, decode_s) / r_cached:>9.3f}")
    print(f"cached / per-sample: {r_cached / r_per:.1f}x   cached / batched: {r_cached / r_batch:.1f}x")
    epoch_items = len(cached)
    saved = epoch_items / r_batch - epoch_items / r_cached
    print(f"building the cache took {build_s:.2f} s for {args.files} pieces ({args.files * args.seconds / build_s:.0f}x "
          f"real time); against batched extraction it pays off after {build_s / max(saved, 1e-9):.1f} epoch(s) "
          f"of {epoch_items} crops")


if __name__ == "__main__":
    main()
