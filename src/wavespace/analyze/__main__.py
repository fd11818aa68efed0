"""``python -m wavespace.analyze {sweep,latents,salience} SOURCE [key=value ...]`` (also the
``wavespace-analyze`` console script).

* ``sweep SOURCE x=KEY[,KEY...] [y=METRIC] [...]``: fit a metric against hyperparameters over a
  local multirun directory or a W&B sweep/group (this module);
* ``latents RUN_OR_CKPT [split=test] [root=DIR] [...]``: the autoencoder latent analysis with its
  controls (``wavespace.analyze.latents``);
* ``salience RUN_OR_CKPT [split=test] [root=DIR] [...]``: figures and the multi-pitch table of a
  harmonic-salience model (``wavespace.analyze.salience``).

argparse gives the structure (sub-commands, ``--help`` on each, exit 2 for an unknown
sub-command); the options stay ``key=value`` words, like Hydra overrides, and each analysis checks
its own (a bad one is one paragraph and exit 1).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from wavespace.errors import ConfigError

SWEEP_HELP = """Fit a metric against hyperparameters over the runs of a sweep.

SOURCE is a local multirun (or runs) directory, or a W&B sweep or group
(wandb:ENTITY/PROJECT/sweep/ID, wandb:ENTITY/PROJECT/group/NAME).

Options (key=value, like Hydra overrides):
  x=       hyperparameter(s), comma-separated or repeated: one panel each (required)
  y=       metric (default val/loss)
  fit=     quadratic_log (default), quadratic, linear_log, linear, cubic_log, none
  mode=    min or max (default: min when the metric name says loss/error, else max)
  level=   confidence level of the band (default 0.95)
  out=     figure path (default <SOURCE>/analysis/<y>.png, or ./analysis/ for W&B)
  all=     true to include runs that did not complete

Prints, per hyperparameter, the number of runs, the best observed run and the fitted optimum;
writes the figure and a JSON summary next to it.

example: python -m wavespace.analyze sweep outputs/multirun/DATE/TIME x=model.optimizer.lr y=val/loss
"""
SWEEP_DEFAULTS: dict[str, Any] = {"x": [], "y": "val/loss", "fit": "quadratic_log", "mode": None,
                                  "level": 0.95, "out": None, "all": False}


def _docstring(module: str) -> str:
    """A sub-command module's docstring, read without importing it (``--help`` stays fast: the
    analyses import torch)."""
    spec = importlib.util.find_spec(module)
    source = Path(spec.origin).read_text() if spec and spec.origin else ""
    return ast.get_docstring(ast.parse(source)) or ""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The ``analyze`` command line: one sub-command per analysis, options as key=value words."""
    if prog is None:
        name = Path(sys.argv[0]).name
        prog = "python -m wavespace.analyze" if name.endswith(".py") or not name else name
    parser = argparse.ArgumentParser(
        prog=prog, description="Post-processing of finished runs: sweep fits, autoencoder latents, "
        "harmonic salience. `SUB --help` describes each.",
        epilog="examples:\n"
               "  %(prog)s sweep outputs/multirun/DATE/TIME x=model.optimizer.lr y=val/loss\n"
               "  %(prog)s latents outputs/runs/RUN split=test root=/data/medley-solos-db\n"
               "  %(prog)s salience outputs/runs/RUN split=test",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{sweep,latents,salience}")
    commands = {
        "sweep": ("fit a metric against hyperparameters over a sweep's runs", SWEEP_HELP,
                  "SOURCE", "multirun directory or wandb:ENTITY/PROJECT/{sweep,group}/ID"),
        "latents": ("autoencoder latents: PCA, linear probe and its controls",
                    _docstring("wavespace.analyze.latents"), "RUN_OR_CKPT", "run directory or .ckpt file"),
        "salience": ("harmonic-salience figures and multi-pitch table",
                     _docstring("wavespace.analyze.salience"), "RUN_OR_CKPT", "run directory or .ckpt file"),
    }
    for name, (short, long, metavar, what) in commands.items():
        p = sub.add_parser(name, help=short, description=long,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("source", metavar=metavar, help=what)
        p.add_argument("options", nargs="*", metavar="KEY=VALUE",
                       help="options, e.g. split=test or root=DIR (listed above)")
    return parser


def sweep_options(items: list[str]) -> dict[str, Any]:
    """``x=... y=...`` words -> the sweep's options (ConfigError, one paragraph, on a bad one)."""
    opts = {**SWEEP_DEFAULTS, "x": []}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in opts:
            raise ConfigError(f"analyze sweep: bad argument {item!r}: expected one of "
                              f"{', '.join(k + '=' for k in opts)} (see --help)")
        if key == "x":
            opts["x"] += [v for v in value.split(",") if v]
        elif key == "level":
            try:
                opts["level"] = float(value)
            except ValueError:
                raise ConfigError(f"analyze sweep: level={value} is not a number (e.g. level=0.95)") from None
        elif key == "all":
            opts["all"] = value.lower() in ("1", "true", "yes")
        else:
            opts[key] = value
    if not opts["x"]:
        raise ConfigError("analyze sweep: give at least one hyperparameter, e.g. x=model.optimizer.lr")
    if opts["mode"] is None:
        opts["mode"] = "min" if re.search(r"loss|error|err\b|wer|cer", opts["y"]) else "max"
    if opts["mode"] not in ("min", "max"):
        raise ConfigError(f"analyze sweep: mode must be min or max (got {opts['mode']!r})")
    return opts


def analyze(source: str, opts: dict[str, Any]) -> dict[str, Any]:
    """Collect, fit each hyperparameter, draw; returns the JSON summary."""
    from wavespace.analyze.collect import collect, lookup
    from wavespace.analyze.fit import fit_curve
    from wavespace.analyze.plot import Panel, draw

    records = collect(source)
    used = [r for r in records if opts["all"] or r.status == "COMPLETED"]
    y_name, mode = opts["y"], opts["mode"]
    summary: dict[str, Any] = {"source": source, "y": y_name, "mode": mode, "fit": opts["fit"],
                               "runs_found": len(records), "runs_used": 0, "panels": []}
    panels = []
    for x_name in opts["x"]:
        pairs = [(lookup(r, x_name), r.metrics.get(y_name), r.name) for r in used]
        pairs = [(float(x), float(y), n) for x, y, n in pairs
                 if isinstance(x, int | float) and not isinstance(x, bool) and y is not None]
        entry: dict[str, Any] = {"x": x_name, "n": len(pairs)}
        summary["runs_used"] = max(summary["runs_used"], len(pairs))
        if not pairs:
            entry["error"] = f"no run has both {x_name} and {y_name}"
            summary["panels"].append(entry)
            continue
        x = np.array([p[0] for p in pairs])
        y = np.array([p[1] for p in pairs])
        best = int(np.argmin(y) if mode == "min" else np.argmax(y))
        entry["best_observed"] = {"x": x[best], "y": y[best], "run": pairs[best][2]}
        fit = optimum = None
        note = f"{x_name} (n={len(pairs)})"
        if opts["fit"] != "none":
            try:
                fit = fit_curve(x, y, opts["fit"], opts["level"])
                optimum = fit.optimum(mode)
                entry["fit"] = {"family": fit.family, "coef": fit.coef.tolist(), "r2": fit.r2,
                                "dof": fit.dof}
                entry["optimum"] = {"x": optimum.x, "y": optimum.y, "interior": optimum.interior,
                                    "x_low": optimum.x_low, "x_high": optimum.x_high}
                note += f", best {optimum.x:.3g}, R2={fit.r2:.2f}"
            except ValueError as e:
                entry["error"] = str(e)
        panels.append(Panel(x_name, y_name, x, y, fit, optimum, note))
        summary["panels"].append(entry)
    if panels:
        out = opts["out"]
        if out is None:
            base = Path(source) if not source.startswith("wandb:") else Path(".")
            out = base / "analysis" / (re.sub(r"[^\w.-]+", "_", y_name) + ".png")
        figure = draw(panels, out, title=f"{y_name} ({mode}) - {source}")
        summary["figure"] = str(figure)
        Path(figure).with_suffix(".json").write_text(json.dumps(summary, indent=2, default=float))
    return summary


def report(summary: dict[str, Any]) -> str:
    """Human-readable lines for the terminal."""
    lines = [f"{summary['runs_found']} run(s) found in {summary['source']}; "
             f"metric {summary['y']} ({summary['mode']})"]
    for p in summary["panels"]:
        lines.append(f"\n{p['x']}  (n={p['n']})")
        if "best_observed" in p:
            b = p["best_observed"]
            lines.append(f"  best observed   {b['x']:.4g} -> {b['y']:.4g}  ({b['run']})")
        if "optimum" in p:
            o = p["optimum"]
            ci = (f"  [{o['x_low']:.3g}, {o['x_high']:.3g}]" if o["x_low"] is not None else "")
            kind = "fitted optimum " if o["interior"] else "fit best (edge)"
            lines.append(f"  {kind} {o['x']:.4g} -> {o['y']:.4g}{ci}  R2={p['fit']['r2']:.3f}")
        if "error" in p:
            lines.append(f"  {p['error']}")
    if "figure" in summary:
        lines.append(f"\nfigure  {summary['figure']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "latents":
        from wavespace.analyze.latents import main as latents_main

        return latents_main([args.source, *args.options])
    if args.command == "salience":
        from wavespace.analyze.salience import main as salience_main

        return salience_main([args.source, *args.options])
    from wavespace.errors import reported_errors

    with reported_errors():
        opts = sweep_options(args.options)
    try:
        summary = analyze(args.source, opts)
    except (FileNotFoundError, ValueError) as e:
        print(f"wavespace: error: {e}", file=sys.stderr)
        return 1
    print(report(summary))
    if not summary["runs_used"]:
        print("wavespace: error: no completed run with the requested keys", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
