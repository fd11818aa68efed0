"""``python -m wavespace.analyze latents RUN_OR_CKPT [split=test] [root=DIR] [...]``.

The study's latent-space analysis, with controls. The autoencoder's encoder maps each clip of the
run's labelled dataset (Medley-solos-DB or ``data=solos``) to its bottleneck, mean-pooled over
time. Then, in the same run and on the same clips:

* a PCA scatter of the chosen split coloured by instrument (the study's Figure 1), beside the
  same scatter for each control;
* a linear probe (``analyze.probe``: train+val -> test) and the silhouette score of:
  the trained encoder; the **same architecture at random initialisation** (what the
  architecture alone gives); the **time-pooled input spectrogram** (what the features already
  hold, no learning at all); **MFCC statistics** (mean and std of 20 MFCCs, the classic
  timbre descriptor).

A trained latent that does not beat the controls is reported as the finding, in the table and in
``probe.json``. Outputs go to ``<run>/analysis/latents-<split>/`` (``out=`` to change):
``latents.npz``, ``pca.png``, ``probe.json``. They are written in a temporary folder and moved
into place at the end: a failed analysis leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavespace.errors import ConfigError, WavespaceError

OPTIONS = {"split": "test", "root": None, "out": None, "batch_size": 16, "seed": 0, "max_clips": None}
SPLITS = {"train": "train", "validation": "val", "val": "val", "test": "test"}
TRAINED, RANDOM, SPECTROGRAM, MFCC = "trained encoder", "random encoder", "pooled spectrogram", "MFCC statistics"
USAGE = ("python -m wavespace.analyze latents RUN_OR_CKPT [split=train|validation|test] [root=DIR] "
         "[out=DIR] [batch_size=N] [seed=N] [max_clips=N]")


class LatentAnalysisError(WavespaceError):
    """The checkpoint, data or options cannot give a latent analysis."""


def parse_options(items: list[str]) -> dict[str, Any]:
    opts = dict(OPTIONS)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in OPTIONS:
            raise ConfigError(
                f"analyze latents: unknown option '{item}'. Options are key=value pairs: "
                f"split= (train, validation or test; default test), root= (the dataset folder, if "
                f"not where the run read it), out= (output folder), batch_size=, seed= (the random "
                f"control's initialisation), max_clips= (per split). Usage: {USAGE}")
        opts[key] = value
    if opts["split"] not in SPLITS:
        raise ConfigError(f"analyze latents: split must be train, validation or test (got '{opts['split']}')")
    try:
        for key in ("batch_size", "seed", "max_clips"):
            if opts[key] is not None:
                opts[key] = int(opts[key])
    except ValueError as exc:
        raise ConfigError(f"analyze latents: batch_size, seed and max_clips take integers ({exc})") from None
    return opts


def load_autoencoder(path: str) -> Any:
    """The trained Autoencode task at ``path``, or a one-paragraph error saying why not."""
    from wavespace.loading import load
    from wavespace.tasks.autoencode import Autoencode

    try:
        model = load(path)
    except (FileNotFoundError, ValueError) as exc:
        raise LatentAnalysisError(f"analyze latents: cannot load a checkpoint from {path}: {exc}. "
                                  f"Give a run directory or a .ckpt file written by wavespace.train.") from None
    if not isinstance(model, Autoencode):
        raise LatentAnalysisError(
            f"analyze latents: {path} holds a checkpoint of {type(model).__name__}, not an autoencoder: "
            f"the latent analysis encodes clips with an autoencoder's bottleneck. Train one with "
            f"`python -m wavespace.train model=unet data=medley` (or model=convnet2d / convnet1d, "
            f"data=solos without a download) and pass its run directory.")
    return model


def build_datasets(run_config: dict[str, Any], root: str | None) -> tuple[dict[str, Any], list[str]]:
    """train/val/test datasets of the run's data config (centred crops, audio, no feature cache)
    and their class names; a one-paragraph error for data without instrument labels."""
    from hydra.utils import get_class, instantiate
    from omegaconf import OmegaConf

    data = run_config.get("data") or {}
    nodes = {split: data.get(split) for split in ("train", "val", "test")}
    target = str((nodes["train"] or {}).get("_target_", "?"))
    try:
        classes = list(getattr(get_class(target), "classes", ()) or ())
    except Exception:  # an unknown class: there is nothing to probe either
        classes = []
    if not classes:
        raise LatentAnalysisError(
            f"analyze latents: the run's data ({target.rsplit('.', 1)[-1]}) has no instrument labels, "
            f"so there is nothing to colour a PCA by or to probe for. The analysis needs a labelled "
            f"dataset: an autoencoder trained on data=medley (Medley-solos-DB) or data=solos "
            f"(rendered, no download).")
    out = {}
    for split, node in nodes.items():
        if not node:
            raise LatentAnalysisError(f"analyze latents: the run's data config has no '{split}' split; "
                                      f"the probe needs train, val and test.")
        node = dict(node, cache="off", report_dir=None, random_crop=False, progress=False)
        if root is not None:
            node["root"] = root
        ds = instantiate(OmegaConf.create(node))
        if len(ds) == 0:
            raise LatentAnalysisError(f"analyze latents: the {split} split of {node.get('root')} has no "
                                      f"usable clips (see its bad-file report).")
        out[split] = ds
    return out, classes


@torch.no_grad()
def encode_split(model: Any, random_net: torch.nn.Module, dataset: Any, batch_size: int,
                 max_clips: int | None) -> dict[str, np.ndarray]:
    """Time-pooled representations of every clip of one split (the trained latent and controls)."""
    import librosa
    from torch.utils.data import DataLoader, Subset

    from wavespace.data import collate

    if max_clips is not None and len(dataset) > max_clips:
        dataset = Subset(dataset, range(max_clips))
    feats = model.features
    reps: dict[str, list[np.ndarray]] = {TRAINED: [], RANDOM: [], SPECTROGRAM: [], MFCC: [], "label": []}
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate):
        audio = batch["audio"].float()
        x = feats(audio)
        reps[TRAINED].append(model.encode(x).float().mean(-1).flatten(1).numpy())
        reps[RANDOM].append(random_net.encode(x).float().mean(-1).flatten(1).numpy())
        reps[SPECTROGRAM].append(x.mean(-1).flatten(1).numpy())
        mfcc = librosa.feature.mfcc(y=audio.numpy(), sr=feats.sample_rate, n_mfcc=20,
                                    hop_length=feats.hop_length)  # [B, 20, frames]
        reps[MFCC].append(np.concatenate([mfcc.mean(-1), mfcc.std(-1)], axis=1))
        reps["label"].append(batch["instrument"].numpy())
    return {k: np.concatenate(v) for k, v in reps.items()}


def pca_figure(reps: dict[str, np.ndarray], labels: np.ndarray, classes: list[str], title: str,
               scores: dict[str, float] | None = None) -> Any:
    """One PCA scatter per representation, points coloured by class (the study's Figure 1);
    ``scores`` (name -> probe macro accuracy) go into the panel titles."""
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    names = [TRAINED, RANDOM, SPECTROGRAM, MFCC]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.4), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, name in zip(axes[0], names):
        z = StandardScaler().fit_transform(reps[name].astype(np.float64))
        pca = PCA(n_components=2, random_state=0).fit(z)
        xy = pca.transform(z)
        for c, cname in enumerate(classes):
            m = labels == c
            if m.any():
                ax.scatter(xy[m, 0], xy[m, 1], s=9, alpha=0.7, color=cmap(c % 10), label=cname)
        ev = pca.explained_variance_ratio_
        probe = f", probe macro acc. {scores[name]:.2f}" if scores and name in scores else ""
        ax.set_title(f"{name}{probe}\n(PC1 {ev[0]:.0%}, PC2 {ev[1]:.0%} of variance)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(fontsize=7, markerscale=1.5, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def analyze_latents(path: str, opts: dict[str, Any]) -> dict[str, Any]:
    """Everything above; returns the JSON summary (also written as probe.json)."""
    from wavespace.analyze.probe import format_table, linear_probe, verdict
    from wavespace.figures import save_figure
    from wavespace.loading import build_model

    model = load_autoencoder(path)
    cfg = model.run_config or {}
    datasets, classes = build_datasets(cfg, opts["root"])
    out_dir = Path(opts["out"]) if opts["out"] else (
        Path(cfg.get("run_dir") or Path(model.checkpoint_path).parent.parent) / "analysis" / f"latents-{opts['split']}")
    torch.manual_seed(int(opts["seed"]))
    # Same architecture, fresh weights (seeded); restoring: a pretrained front-end is not fetched.
    random_net = build_model(cfg, restoring=True).net.eval()
    reps = {split: encode_split(model, random_net, ds, opts["batch_size"], opts["max_clips"])
            for split, ds in datasets.items()}
    results = []
    for name in (TRAINED, RANDOM, SPECTROGRAM, MFCC):
        x_train = np.concatenate([reps["train"][name], reps["val"][name]])
        y_train = np.concatenate([reps["train"]["label"], reps["val"]["label"]])
        try:
            results.append(linear_probe(name, x_train, y_train, reps["test"][name], reps["test"]["label"],
                                        classes, seed=int(opts["seed"])))
        except ValueError as exc:
            raise LatentAnalysisError(f"analyze latents: {exc}") from None
    beats, verdict_lines = verdict(results, TRAINED)
    table = format_table(results, classes)
    split_key = SPLITS[opts["split"]]
    summary = {
        "checkpoint": model.checkpoint_path, "split": opts["split"], "classes": classes,
        "probe": {r.name: r.to_dict() for r in results}, "trained_beats_controls": beats,
        "verdict": verdict_lines, "pooling": "mean over time of the bottleneck, flattened",
    }
    fig = pca_figure(reps[split_key], reps[split_key]["label"], classes,
                     f"{Path(str(model.checkpoint_path)).parent.parent.name}: {opts['split']} split, PCA of "
                     f"time-pooled representations", {r.name: r.macro_accuracy for r in results})
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        save_figure(fig, tmp / "pca.png", dpi=110)
        np.savez_compressed(tmp / "latents.npz", **{f"{s}_{k.replace(' ', '_')}": v
                                                    for s, r in reps.items() for k, v in r.items()},
                            classes=np.array(classes))
        (tmp / "probe.json").write_text(json.dumps(summary, indent=2, default=float))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary.update(out_dir=str(out_dir), table=table)
    return summary


def report(summary: dict[str, Any]) -> str:
    out = Path(summary["out_dir"])
    return "\n".join([summary["table"], "", *summary["verdict"], "",
                      f"PCA figure  {out / 'pca.png'}", f"probe JSON  {out / 'probe.json'}",
                      f"latents     {out / 'latents.npz'}"])


def main(argv: list[str]) -> int:
    """``latents RUN_OR_CKPT [k=v ...]`` (argv without the command word)."""
    from wavespace.errors import reported_errors

    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    with reported_errors():
        opts = parse_options(argv[1:])
        summary = analyze_latents(argv[0], opts)
    print(report(summary))
    return 0
