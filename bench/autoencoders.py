"""Study 1 measured: autoencoder speed, reconstruction against baselines, latents against controls.

    python bench/autoencoders.py throughput [--device cpu|cuda] [--steps 3]
    python bench/autoencoders.py budget [--minutes 4]
    python bench/autoencoders.py probe [--minutes 4] [--seeds 0 1 2] [--nets unet unet_noskip ...]
                                       [--train-soundfonts A.sf2 B.sf3] [--train-clips N]
                                       [--test-soundfont C.sf2]
    python bench/autoencoders.py all          # the three, in order (make bench-autoencoders)

1. ``throughput``: examples/s of forward + backward (L1 loss) for each net at 1 x 256 x 173,
   batch 16, at the study's size (the ``medley_*`` presets) and the CPU size (``solos_*``), and
   each net's ratio to the fastest at that size.
2. ``budget``: each ``solos_*`` preset (UNet, UNet without skips, ConvNet2d, ConvNet1d) trained
   for the same wall-clock budget (``trainer.max_time``) on data=solos, then its test L1 (centred
   crops of the test split, rendered with a SoundFont training never heard) beside two
   baselines fitted on the training split: every frame predicted as the per-bin mean, and PCA
   of the frames with as many components as the net's bottleneck has numbers per input frame.
3. ``probe``: ``wavespace.analyze latents`` on those runs for each seed: probe macro accuracy of
   the trained latent, the random encoder, the pooled spectrogram and MFCC statistics, mean +-
   std over seeds, and whether the trained latent beats the random encoder and the pooled
   spectrogram by more than the seed spread (the goal).

Runs go to the usual ``outputs/runs`` (a run that already finished is reused, not retrained);
tables and JSON to ``outputs/bench/autoencoders/``. Needs FluidSynth and the TimGM6mb SoundFont
(``make data-deps solos-soundfonts heldout-soundfonts``). Training runs are subprocesses of the ordinary CLI.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

OUT = Path("outputs/bench/autoencoders")
NETS = ("unet", "convnet2d", "convnet1d")
BUDGET = ("unet", "unet_noskip", "convnet2d", "convnet1d")
REPS = ("trained encoder", "random encoder", "pooled spectrogram", "MFCC statistics")


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from wavespace.config import config_dir

    with initialize_config_dir(config_dir(), version_base="1.3"):
        return hydra_compose("train", overrides=["run_dir=/tmp/ws-bench", "run_id=bench", *overrides])


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def save(name: str, data: object, table: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=2, default=float))
    (OUT / f"{name}.md").write_text(table + "\n")
    print(table, flush=True)


# -- 1. throughput ---------------------------------------------------------------------------
def examples_per_second(net: torch.nn.Module, x: torch.Tensor, steps: int) -> float:
    """Forward + backward of an L1 reconstruction loss; one untimed warm-up step first."""
    def step() -> None:
        net.zero_grad(set_to_none=True)
        (net(x) - x).abs().mean().backward()

    def sync() -> None:
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)

    step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return x.shape[0] * steps / (time.perf_counter() - t0)


def throughput(device: str, steps: int) -> None:
    from hydra.utils import instantiate

    dev = torch.device(device)
    rows, data = [], {}
    for size, preset in (("study (medley_*)", "medley_{}_logfreq"), ("CPU (solos_*)", "solos_{}")):
        rates = {}
        for net_name in NETS:
            cfg = compose([f"experiment={preset.format(net_name)}"])
            torch.manual_seed(0)
            net = instantiate(cfg.model.net)(in_channels=1, in_bins=256).to(dev).train()
            rates[net_name] = examples_per_second(net, torch.randn(16, 1, 256, 173, device=dev), steps)
            params = sum(p.numel() for p in net.parameters())
            data[f"{size}/{net_name}"] = {"examples_per_s": rates[net_name], "params": params}
        best = max(rates.values())
        for net_name, r in rates.items():
            rows.append([size, net_name, f"{data[f'{size}/{net_name}']['params'] / 1e6:.2f} M",
                         f"{r:.1f}", f"{r / best:.2f}"])
    save(f"throughput-{device}", data, f"Forward + backward, batch 16 x 1 x 256 x 173, {device}, "
         f"{torch.get_num_threads()} threads, {steps} timed steps\n\n" +
         markdown(["size", "net", "parameters", "examples/s", "vs fastest"], rows))


# -- training runs ---------------------------------------------------------------------------
def max_time(minutes: float) -> str:
    """Lightning's DD:HH:MM:SS for a budget in minutes."""
    s = int(round(minutes * 60))
    return f"{s // 86400:02d}:{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def train_run(variant: str, seed: int, minutes: float, extra: tuple[str, ...] = ()) -> Path:
    """Run dir of ``solos_<variant>`` trained for ``minutes`` (reused when it already finished)."""
    args = [f"experiment=solos_{variant}", f"seed={seed}", "logger=csv", *extra,
            f"trainer.max_time={max_time(minutes)}",
            "trainer.max_epochs=1000", "trainer.min_epochs=0",  # min_epochs would outlast the budget
            "callbacks.progress_bar.refresh_rate=0"]
    from omegaconf import open_dict

    from wavespace.run import config_hash, to_plain
    from wavespace.train import resolve_metric

    cfg = compose(args)
    resolve_metric(cfg)  # as train() does before hashing: the task's metric is part of the config
    with open_dict(cfg):  # as prepare_run hashes: ${run_dir} interpolations resolve to None
        cfg.run_id, cfg.run_dir = None, None
    run_id = config_hash(to_plain(cfg), list(cfg.run_hash_ignore))
    run_dir = Path(cfg.paths.runs_dir).expanduser().resolve() / f"{cfg.name}-{run_id}"
    if (run_dir / "metrics.json").is_file():
        print(f"reusing {run_dir}", flush=True)
        return run_dir
    print(f"training solos_{variant} seed {seed} for {minutes} min ...", flush=True)
    proc = subprocess.run([sys.executable, "-m", "wavespace.train", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"training failed:\n{proc.stderr[-3000:]}")
    found = re.search(r"^run directory\s+(\S+)", proc.stdout, re.M)
    return Path(found.group(1)) if found else run_dir


# -- 2. fixed budget: test L1 against baselines ----------------------------------------------
@torch.no_grad()
def split_features(model, run_config: dict, split: str) -> np.ndarray:
    """[n, F, T] normalized features of the centred crops of one split."""
    from wavespace.analyze.latents import build_datasets
    from wavespace.data import collate

    ds = build_datasets(run_config, None)[0][split]
    out = []
    for i in range(0, len(ds), 32):
        batch = collate([ds[j] for j in range(i, min(i + 32, len(ds)))])
        out.append(model.features(batch["audio"].float())[:, 0].numpy())
    return np.concatenate(out)


@torch.no_grad()
def evaluate_budget(run_dir: Path) -> dict:
    from sklearn.decomposition import PCA

    import wavespace

    model = wavespace.load(run_dir)
    cfg = model.run_config
    train_x, test_x = split_features(model, cfg, "train"), split_features(model, cfg, "test")
    t = torch.from_numpy(test_x[:, None])
    recon = torch.cat([model.postprocess(model(t[i:i + 16]))["reconstruction"] for i in range(0, len(t), 16)])
    latent = model.encode(t[:2])
    per_frame = latent[0].numel() / t.shape[-1]
    k = int(min(max(1, round(per_frame)), t.shape[-2]))
    frames = train_x.transpose(0, 2, 1).reshape(-1, train_x.shape[1])
    test_frames = test_x.transpose(0, 2, 1).reshape(-1, test_x.shape[1])
    pca = PCA(n_components=k, random_state=0).fit(frames)
    pca_l1 = float(np.abs(pca.inverse_transform(pca.transform(test_frames)) - test_frames).mean())
    summary = json.loads((run_dir / "metrics.json").read_text())
    print(f"{run_dir.name}: {summary['global_step']} steps, test L1 {summary['metrics'].get('test/l1')}", flush=True)
    return {
        "run": str(run_dir), "steps": summary["global_step"], "epochs": summary["epochs_completed"],
        "params": sum(p.numel() for p in model.net.parameters()),
        "latent_shape": list(latent.shape[1:]), "latent_per_frame": per_frame,
        "test_l1": float((recon - t).abs().mean()), "trainer_test_l1": summary["metrics"].get("test/l1"),
        "per_bin_mean_l1": float(np.abs(test_x - train_x.mean(axis=(0, 2))[None, :, None]).mean()),
        "pca_components": k, "pca_l1": pca_l1,
    }


def budget(minutes: float) -> None:
    results = {v: evaluate_budget(train_run(v, 0, minutes)) for v in BUDGET}
    rows = [[v, f"{r['params'] / 1e6:.2f} M", str(r["steps"]), "x".join(map(str, r["latent_shape"])),
             f"{r['latent_per_frame']:.1f}", f"{r['test_l1']:.3f}", f"{r['per_bin_mean_l1']:.3f}",
             f"{r['pca_l1']:.3f} (k={r['pca_components']})"] for v, r in results.items()]
    save("budget", results, f"Test L1 (logfreq, log-magnitude units) after {minutes} min of CPU training "
         f"on data=solos (test split: unheard SoundFont), seed 0\n\n" +
         markdown(["net", "params", "steps", "bottleneck", "numbers/frame", "test L1",
                   "per-bin mean L1", "PCA L1 (same numbers/frame)"], rows))


# -- 3. probe with controls over seeds -------------------------------------------------------
def probe(minutes: float, seeds: list[int], nets: tuple[str, ...] = NETS, fonts: tuple[str, ...] = (),
          train_clips: int | None = None, test_font: str | None = None) -> None:
    """``fonts``: the SoundFonts the training and validation clips are dealt over, ``train_clips``:
    training clips per class, ``test_font``: the test split's SoundFont (default: the presets'
    three SoundFonts, 192 clips, and TimGM6mb). Swapping the test SoundFont with a training one
    gives one fold of a leave-one-SoundFont-out evaluation."""
    # One SoundFont as a plain path, as data=solos has it: such runs keep their run directories.
    extra = (f"data.train.soundfont={fonts[0]}",) if len(fonts) == 1 else \
        (f"data.train.soundfont=[{','.join(fonts)}]",) if fonts else ()
    if train_clips:
        extra += (f"data.train.clips_per_class.training={train_clips}",)
    if test_font:
        extra += (f"data.train.test_soundfont={test_font}",)
    scores: dict[str, dict[str, list[float]]] = {n: {r: [] for r in REPS} for n in nets}
    steps: dict[str, list[int]] = {n: [] for n in nets}
    for net_name in nets:
        for seed in seeds:
            run_dir = train_run(net_name, seed, minutes, extra)
            out = run_dir / "analysis" / "latents-test"
            if not (out / "probe.json").is_file():
                subprocess.run([sys.executable, "-m", "wavespace.analyze", "latents", str(run_dir),
                                f"seed={seed}"], check=True, capture_output=True, text=True)
            result = json.loads((out / "probe.json").read_text())["probe"]
            for rep in REPS:
                scores[net_name][rep].append(result[rep]["macro_accuracy"])
            steps[net_name].append(json.loads((run_dir / "metrics.json").read_text())["global_step"])
    rows, goal = [], {}
    for net_name in nets:
        s = {rep: np.array(v) for rep, v in scores[net_name].items()}
        spread = max(float(v.std()) for v in s.values())
        margins = {c: float(s["trained encoder"].mean() - s[c].mean()) for c in ("random encoder", "pooled spectrogram")}
        goal[net_name] = {"margins": margins, "seed_spread": spread,
                          "met": all(m > spread for m in margins.values())}
        rows.append([net_name, f"{np.mean(steps[net_name]):.0f}"] +
                    [f"{s[r].mean():.3f} +- {s[r].std():.3f}" for r in REPS] +
                    ["yes" if goal[net_name]["met"] else "NO"])
    data = compose([f"experiment=solos_{nets[0]}", *extra]).data.train
    train_fonts = [data.soundfont] if isinstance(data.soundfont, str) else list(data.soundfont)
    clips = int(data.clips_per_class.training)
    name = "probe" if minutes == 4.0 and tuple(nets) == NETS and not extra else \
        f"probe-{minutes:g}min-{'-'.join(nets)}-{len(train_fonts)}fonts-{clips}clips" + \
        (f"-test-{Path(test_font).stem}" if test_font else "")
    save(name, {"seeds": seeds, "minutes": minutes, "train_soundfonts": train_fonts,
                "test_soundfont": data.test_soundfont, "train_clips_per_class": clips, "steps": steps,
                "macro_accuracy": scores, "goal": goal},
         f"Probe macro accuracy on the test split ({Path(str(data.test_soundfont)).name}, unheard), "
         f"train+val -> test, {len(seeds)} seeds (mean +- std), {minutes} min of training each, "
         f"{clips} training clips per class dealt over {', '.join(Path(f).name for f in train_fonts)}"
         "; chance 0.125\n\n" +
         markdown(["net", "steps", *REPS, "trained beats random & spectrogram by > spread"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["throughput", "budget", "probe", "all"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=BUDGET,
                        help="probe: which solos_* presets (unet_noskip too)")
    parser.add_argument("--train-soundfonts", nargs="+", default=[],
                        help="probe: SoundFonts to deal the training clips over (timbre variety)")
    parser.add_argument("--test-soundfont", default=None,
                        help="probe: the test split's SoundFont (default: the presets' TimGM6mb)")
    parser.add_argument("--train-clips", type=int, default=None,
                        help="probe: training clips per class (default: the presets' 192)")
    args = parser.parse_args()
    if args.part in ("throughput", "all"):
        throughput(args.device, args.steps)
    if args.part in ("budget", "all"):
        budget(args.minutes)
    if args.part in ("probe", "all"):
        probe(args.minutes, args.seeds, tuple(args.nets), tuple(args.train_soundfonts), args.train_clips,
              args.test_soundfont)


if __name__ == "__main__":
    main()
