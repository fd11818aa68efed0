"""``python -m wavespace.pretrained list | show NAME | publish RUN --name NAME [--bench JSON]``.

``list``: the shipped models this installation knows and whether each is present; ``show``: one
model's metadata (where it came from, its validation and bench numbers); ``publish``: slim a
finished run's checkpoint into a shipped model (:mod:`wavespace.pretrained.publish`), as
``make pretrained`` does.
"""

from __future__ import annotations

import argparse
import json
import sys

import wavespace.pretrained as pretrained
from wavespace.errors import reported_errors

BENCH_COLUMNS = ("frame_f1", "note_f1", "note_offset_f1", "rtf")


def bench_lines(bench: dict) -> list[str]:
    """The bench's pooled rows (parts a and b, every system) and the whole-command speed."""
    lines = [f"{'system':<13}{'set':<8}" + "".join(f"{c:>16}" for c in BENCH_COLUMNS)]
    for system, groups in sorted((bench.get("systems") or {}).items()):
        for group in ("a/all", "b/all"):
            if group in groups:
                lines.append(f"{system:<13}{group:<8}" + "".join(f"{groups[group].get(c, float('nan')):16.4f}"
                                                                for c in BENCH_COLUMNS))
    for system, r in sorted((bench.get("command") or {}).items()):
        if system == "ratios":
            lines.append("ratios wavespace / basic-pitch: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()))
        elif "warm_rtf" in r:
            lines.append(f"{system:<13}whole command: warm rtf {r['warm_rtf']:.4f}, rtf {r['command_rtf']:.4f}, "
                         f"start-up + load {r['startup_s']:.2f} s, one file {r['one_file_s']:.2f} s")
        else:  # benches from before the warm measure
            lines.append(f"{system:<13}whole command rtf {r['command_rtf']:.4f}, one short file {r['one_file_s']:.2f} s")
    return lines


def show(name: str) -> str:
    meta = pretrained.metadata(name)
    path = pretrained.folder() / f"{name}.ckpt"
    if not meta:
        return (f"{name}: {path} present, no metadata" if path.is_file()
                else pretrained.not_built(name) if name in pretrained.RECIPES else f"{name}: unknown")
    lines = [json.dumps({k: v for k, v in meta.items() if k != "bench"}, indent=2)]
    if "bench" in meta:
        lines += ["bench (bench/transcription_quality.py):", *bench_lines(meta["bench"])]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line (also what tests/test_docs.py checks documented commands against)."""
    ap = argparse.ArgumentParser(prog="python -m wavespace.pretrained", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="shipped models and whether each is present")
    sub.add_parser("show", help="one model's metadata and bench numbers").add_argument("name")
    pub = sub.add_parser("publish", help="slim a run's checkpoint into a shipped model")
    pub.add_argument("run", help="run directory (its best, else last checkpoint) or .ckpt file")
    pub.add_argument("--name", default=pretrained.DEFAULT, help=f"model name (default {pretrained.DEFAULT})")
    pub.add_argument("--bench", help="results.json of bench/transcription_quality.py for this checkpoint")
    pub.add_argument("--preset", help="the training preset (default: the run config's name)")
    pub.add_argument("--train-command", help="the exact training command (default: from the preset)")
    pub.add_argument("--dir", help=f"where to publish (default {pretrained.folder()})")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with reported_errors():
        if args.command == "list":
            for name in pretrained.names():
                there = "present" if name in pretrained.available() else "not built"
                recipe = pretrained.RECIPES.get(name)
                print(f"{name:<16}{there:<11}" + (f"make {recipe.make_target}: {recipe.summary}" if recipe else ""))
        elif args.command == "show":
            print(show(args.name))
        else:
            from wavespace.pretrained.publish import publish

            ckpt, meta = publish(args.run, args.name, args.dir, args.bench, args.preset, args.train_command)
            print(f"published {ckpt} ({ckpt.stat().st_size / 1e6:.2f} MB) and {meta}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
