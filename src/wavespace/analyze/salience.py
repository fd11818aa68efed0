"""``python -m wavespace.analyze salience RUN_OR_CKPT [split=test] [root=DIR] [options]``.

Figures and the multi-pitch table of a trained harmonic-salience model (study 2):

* ``kernels.png``: the learned harmonic kernels (the write-up's Figure 3);
* ``clip.png``: input / summed salience / reconstruction of one clip (Figure 4; on Medley-format
  data the first piano clip);
* ``channels.png``: per channel, histograms of each clip's share of salience by instrument, on
  data with instrument labels (Medley-solos-DB format; Figure 2);
* ``dual.png``: lambda and loss1 over training steps, from the run's CSV logs;
* ``salience.json`` (+ a printed table): multi-pitch precision / recall / F1 / accuracy on the
  split for the model and two baselines on the same spectrogram (raw peaks, harmonic
  summation), each with its peak-picking fraction tuned on the validation split
  (:mod:`wavespace.transcription.multipitch`). Labels are used here only.

Options: ``split=`` test (default) | val | train; ``root=`` a data directory replacing the
dataset root stored in the run's config (file datasets); ``out=`` output folder (default
``<run dir>/analysis/salience-<split>``); ``limit=`` clips per split (default 256);
``batch_size=`` (default 8); ``device=`` (default cpu).

A split without pitch labels (Medley-solos-DB) gets figures and one paragraph instead of a table.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavespace.errors import WavespaceError

OPTIONS = {"split": "test", "root": None, "out": None, "limit": "256", "batch_size": "8", "device": "cpu"}
DETECTORS = ("model", "cqt_peaks", "harmonic_summation")


class SalienceAnalysisError(WavespaceError):
    """The checkpoint or the data cannot be analysed as asked."""


@dataclass
class SplitMaps:
    """What one pass over a split gives: clips for scoring, and what the figures need."""

    clips: list[Any] = field(default_factory=list)
    activity: list[np.ndarray] = field(default_factory=list)  # [K] salience share per clip
    instruments: list[int] = field(default_factory=list)
    figure_example: dict[str, np.ndarray] | None = None
    has_labels: bool = True


def parse_args(argv: list[str]) -> tuple[str, dict[str, Any]]:
    if not argv or argv[0] in ("-h", "--help"):
        raise SystemExit(__doc__)
    source, opts = argv[0], dict(OPTIONS)
    for item in argv[1:]:
        key, sep, value = item.partition("=")
        if not sep or key not in OPTIONS:
            raise SalienceAnalysisError(f"bad argument {item!r}: the salience analysis takes "
                                        f"{', '.join(k + '=' for k in OPTIONS)} (see --help)")
        opts[key] = value
    opts["split"] = {"validation": "val", "valid": "val"}.get(opts["split"], opts["split"])
    if opts["split"] not in ("train", "val", "test"):
        raise SalienceAnalysisError(f"split={opts['split']} is not a split: use train, val or test")
    return source, opts


def load_task(source: str, device: str) -> Any:
    """The trained HarmonicSalience task at ``source`` (run dir or checkpoint), else a clear error."""
    import wavespace
    from wavespace.tasks.harmonic import HarmonicSalience

    try:
        task = wavespace.load(source, map_location=device)
    except (FileNotFoundError, ValueError) as exc:
        raise SalienceAnalysisError(f"cannot load {source}: {exc}") from None
    if not isinstance(task, HarmonicSalience):
        raise SalienceAnalysisError(
            f"{source} holds a model of class {type(task).__name__}; the salience analysis reads harmonic "
            f"salience models (trained with model=harmonic)")
    return task


def build_dataset(task: Any, split: str, root: str | None, report_dir: Path) -> Any:
    """The split's dataset from the run's own data config (optionally under another root)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    data = OmegaConf.create((task.run_config or {}).get("data") or {})
    node = data.get(split)
    if node is None or "_target_" not in node:
        raise SalienceAnalysisError(f"the run's data config has no '{split}' split")
    node = node.copy()
    if "report_dir" in node:
        node.report_dir = str(report_dir)
    if root is not None:
        if "root" not in node:
            raise SalienceAnalysisError(f"root={root} was given, but {node._target_} reads no files")
        node.root = str(root)
    return instantiate(node)


def _batches(dataset: Any, limit: int, batch_size: int):
    """Batches (dicts of tensors) of the first ``limit`` items, with exact references for synth."""
    from wavespace.data import SynthDataset, collate

    n = min(len(dataset), limit)
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        if isinstance(dataset, SynthDataset):  # exact pitches, vibrato included
            items = [dataset.generate(i) for i in idx]
            batch = {"audio": torch.as_tensor(np.stack([a for a, _, _ in items]))}
            refs = [dataset.reference_frequencies(notes, vib) for _, notes, vib in items]
            yield batch, refs
        else:
            yield collate([dataset[i] for i in idx]), None


@torch.no_grad()
def collect(task: Any, dataset: Any, limit: int = 256, batch_size: int = 8, min_midi: int = 21) -> SplitMaps:
    """Run the model over a split: detection maps per clip (model, raw peaks, harmonic summation)."""
    from wavespace.transcription.metrics import roll_to_frequencies
    from wavespace.transcription.multipitch import Clip, harmonic_summation

    bpo = task.net.decoder.bins_per_octave
    result = SplitMaps()
    for batch, refs in _batches(dataset, limit, batch_size):
        batch = {k: v.to(task.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        raw = task.raw_inputs(batch)
        target = task.target(raw)
        out = task(task.net_inputs(raw, target))
        sal = out["salience"].float()
        summed = sal.sum(1).cpu().numpy()
        spec = target[:, 0].cpu().numpy()
        hs = harmonic_summation(spec, bpo)
        active = (target.float().mean(dim=(1, 2)) > task.energy_floor).cpu().numpy()
        if refs is None and "frame" in batch:
            n = spec.shape[-1]
            refs = [roll_to_frequencies(r[:, :n] >= 0.5, min_midi) for r in batch["frame"].cpu().numpy()]
        result.has_labels &= refs is not None
        share = sal.sum(dim=(2, 3))
        share = (share / share.sum(1, keepdim=True).clamp_min(1e-12)).cpu().numpy()
        instruments = batch["instrument"].cpu().numpy() if "instrument" in batch else None
        for i in range(len(spec)):
            result.clips.append(Clip({"model": summed[i], "cqt_peaks": spec[i], "harmonic_summation": hs[i]},
                                     active[i], None if refs is None else refs[i]))
            result.activity.append(share[i])
            if instruments is not None:
                result.instruments.append(int(instruments[i]))
            piano = instruments is not None and int(instruments[i]) == 4  # Medley class 4: piano
            if result.figure_example is None or (piano and result.figure_example.get("_piano") is None):
                result.figure_example = {"input": spec[i], "salience": summed[i],
                                         "recon": out["recon"][i, 0].float().cpu().numpy(),
                                         **({"_piano": np.array(1)} if piano else {})}
    return result


def dual_curves(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(steps, lambda, loss1) logged per training step in the run's CSV logs, or None."""
    rows: dict[int, tuple[float, float]] = {}
    for path in sorted(run_dir.glob("csv/version_*/metrics.csv")):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                lam, loss1 = row.get("train/lambda"), row.get("train/loss1")
                if lam and loss1 and row.get("step"):
                    rows[int(row["step"])] = (float(lam), float(loss1))  # resumed runs: later wins
    if not rows:
        return None
    steps = np.array(sorted(rows))
    values = np.array([rows[s] for s in steps])
    return steps, values[:, 0], values[:, 1]


def run_dir_of(task: Any) -> Path:
    ckpt = Path(task.checkpoint_path or ".")
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def analyze(source: str, opts: dict[str, Any]) -> dict[str, Any]:
    """Everything the command writes; returns the JSON summary (also written as salience.json)."""
    from wavespace.figures import (
        channel_histograms,
        dual_curves_figure,
        example_figure,
        kernels_figure,
        save_figure,
    )
    from wavespace.transcription.multipitch import score_detectors

    task = load_task(source, opts["device"])
    run_dir = run_dir_of(task)
    split = opts["split"]
    out = Path(opts["out"]) if opts["out"] else run_dir / "analysis" / f"salience-{split}"
    limit, batch_size = int(opts["limit"]), int(opts["batch_size"])
    min_midi = int((task.run_config or {}).get("geometry", {}).get("min_midi", 21))
    dataset = build_dataset(task, split, opts["root"], out)
    maps = collect(task, dataset, limit, batch_size, min_midi)
    if not maps.clips:
        raise SalienceAnalysisError(f"the '{split}' split of the run's data holds no clip")
    summary: dict[str, Any] = {"checkpoint": task.checkpoint_path, "split": split, "clips": len(maps.clips),
                               "threshold": task.threshold, "lambda": float(task.lam), "figures": {}}
    if maps.has_labels:
        val = maps if split == "val" else collect(task, build_dataset(task, "val", opts["root"], out),
                                                  limit, batch_size, min_midi)
        if not val.has_labels or not val.clips:
            raise SalienceAnalysisError("the validation split has no pitch labels to tune the peak picker on")
        summary["table"] = score_detectors(val.clips, maps.clips, task.features.center_frequencies)
    else:
        summary["table"] = None
        summary["note"] = (
            f"The '{split}' split of {type(dataset).__name__} carries no pitch labels (no exact "
            f"pitches, no MIDI roll), so no multi-pitch table was computed; the figures were "
            f"written. Score a split with pitch labels (data=synth, rendered or maestro) for P/R/F1.")

    figures = {"kernels": kernels_figure(task.net.decoder.kernels.detach().float().cpu().numpy(),
                                         task.net.decoder.bins_per_octave)}
    example = {k: v for k, v in (maps.figure_example or {}).items() if not k.startswith("_")}
    figures["clip"] = example_figure(example, None, task.features.frame_rate, task.features.center_frequencies,
                                     f"{split} clip" + (" (piano)" if "_piano" in (maps.figure_example or {}) else ""))
    if maps.instruments:
        names = getattr(dataset, "classes", ())
        figures["channels"] = channel_histograms(np.stack(maps.activity), np.array(maps.instruments), names)
    curves = dual_curves(run_dir)
    if curves is not None:
        figures["dual"] = dual_curves_figure(*curves, task.threshold)
    out.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        summary["figures"][name] = str(save_figure(fig, out / f"{name}.png"))
    (out / "salience.json").write_text(json.dumps(summary, indent=2))
    summary["output"] = str(out / "salience.json")
    return summary


def report(summary: dict[str, Any]) -> str:
    lines = [f"harmonic salience, {summary['split']} split, {summary['clips']} clip(s); "
             f"lambda {summary['lambda']:.4g}, threshold {summary['threshold']:.3g}"]
    if summary["table"] is None:
        lines.append(summary["note"])
    else:
        lines.append(f"{'detector':<20} {'P':>6} {'R':>6} {'F1':>6} {'Acc':>6}  fraction (val F1)")
        for name, row in summary["table"].items():
            lines.append(f"{name:<20} {row['precision']:6.3f} {row['recall']:6.3f} {row['f1']:6.3f} "
                         f"{row['accuracy']:6.3f}  {row['fraction']:.2f} ({row['val_f1']:.3f})")
    lines += [f"{name:<9} {path}" for name, path in summary["figures"].items()]
    lines.append(f"json      {summary['output']}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from wavespace.errors import reported_errors

    with reported_errors():
        source, opts = parse_args(argv)
        summary = analyze(source, opts)
    print(report(summary))
    return 0
