"""Make the pictures of the README and the study docs (docs/img/*.png) from real, short CPU runs.

    nice python scripts/make_doc_images.py [--work DIR] [--only NAME ...] [--keep]

Each picture is what a user gets from the commands the docs show, only smaller: a short training
run, then the analysis that draws it. Nothing is drawn by hand here, so a picture cannot show
what the code does not do. For every image the script prints the run (directory and command)
that produced it; the same line goes into the PNG's ``Source`` text chunk.

| image | run | drawn by |
| --- | --- | --- |
| ``transcription_prediction.png`` | ``python -m wavespace.train`` (synth CNN), a few epochs | the run's ``figures/`` (``callbacks.PredictionFigures``) |
| ``sweep_fit.png`` | 3-job ``--multirun model.optimizer.lr=...`` at ``debug=tiny`` | ``python -m wavespace.analyze sweep`` |
| ``latents_pca.png`` | ``model=convnet1d data=solos features=logfreq``, small solos set | ``python -m wavespace.analyze latents`` |
| ``harmonic_kernels.png``, ``harmonic_clip.png`` | ``model=harmonic`` on synthetic polyphony | ``python -m wavespace.analyze salience`` |

Every PNG is kept under 150 KB (downscaled and palette-quantized when needed). About 20 minutes
on a 2-core machine shared with other jobs (measured); ``data=solos`` needs FluidSynth (``make data-deps``). Runs go under
``--work`` (default ``outputs/doc-images``), W&B disabled.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

REPO = Path(__file__).resolve().parents[1]
IMG = REPO / "docs" / "img"
MAX_BYTES = 150_000
MAX_WIDTH = 1000
SWEEP_LRS = "1e-3,1e-2,1e-1"
RUN_DIR = re.compile(r"^run directory\s+(\S.*)$", re.M)


def run(args: list[str], work: Path) -> str:
    """Run ``python -m ...`` from ``work`` (so ./outputs, ./data and ./cache land there); its stdout.

    A failure prints the command's last output and stops the script: a doc picture from a broken
    run is worse than none.
    """
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
    print("$", shlex.join(["python", *args]), flush=True)
    proc = subprocess.run([sys.executable, *args], cwd=work, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"make_doc_images: this command failed (exit {proc.returncode}):\n  {shlex.join(args)}\n"
                 f"{(proc.stdout + proc.stderr)[-3000:]}")
    return proc.stdout


def train(overrides: list[str], work: Path) -> tuple[Path, str]:
    """Train one run; its directory (from the summary the CLI prints) and the command."""
    args = ["-m", "wavespace.train", *overrides, "logger=csv"]
    out = run(args, work)
    found = RUN_DIR.findall(out)
    if not found:
        sys.exit(f"make_doc_images: no 'run directory' line in the output of {shlex.join(args)}")
    return Path(found[-1].strip()), shlex.join(["python", *args])


def save_small(src: Path, name: str, source: str) -> Path:
    """Copy ``src`` to docs/img/``name``, under MAX_BYTES, with ``source`` as its Source text."""
    image = Image.open(src).convert("RGB")
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)), Image.LANCZOS)
    info = PngInfo()
    info.add_text("Source", source)
    while True:
        for candidate in (image, image.quantize(256, method=Image.Quantize.MEDIANCUT)):
            buf = io.BytesIO()
            candidate.save(buf, "PNG", optimize=True, pnginfo=info)
            if buf.tell() <= MAX_BYTES:
                out = IMG / name
                out.write_bytes(buf.getvalue())
                print(f"{out.relative_to(REPO)}  {buf.tell() / 1000:.0f} KB  <-  {source}", flush=True)
                return out
        image = image.resize((round(image.width * 0.85), round(image.height * 0.85)), Image.LANCZOS)


def transcription(work: Path) -> Path:
    """The prediction figure of a short default run (synth polyphony, CQT, CNN): input features,
    predicted vs target salience, frames and onsets, after its last validation."""
    run_dir, cmd = train(["trainer.max_epochs=4", "data.train.length=384", "data.num_workers=0"], work)
    last = sorted((run_dir / "figures").glob("epoch*_example0.png"))[-1]
    return save_small(last, "transcription_prediction.png", f"{cmd}: {run_dir}/figures/{last.name}")


def sweep(work: Path) -> Path:
    """A 3-job learning-rate multirun at debug=tiny, then the fit of val/loss against the lr."""
    args = ["-m", "wavespace.train", "--multirun", "debug=tiny", "logger=csv", "data.train.length=64",
            "trainer.limit_train_batches=8", f"model.optimizer.lr={SWEEP_LRS}", "hydra.sweep.dir=sweep-lr"]
    run(args, work)  # sweep-lr is relative to work: the figure's title names it so, not by a temp path
    analyze = ["-m", "wavespace.analyze", "sweep", "sweep-lr", "x=model.optimizer.lr", "y=val/loss"]
    run(analyze, work)
    return save_small(work / "sweep-lr" / "analysis" / "val_loss.png", "sweep_fit.png",
                      f"{shlex.join(['python', *args])}; {shlex.join(['python', *analyze])} (in {work})")


def latents(work: Path) -> Path:
    """PCA of a short convnet1d autoencoder's pooled latents on a small rendered solos set, beside
    its controls (random encoder, pooled spectrogram, MFCCs)."""
    run_dir, cmd = train(["model=convnet1d", "data=solos", "features=logfreq", "trainer=cpu",
                          "data.num_workers=0", "data.train.clips_per_class.training=24",
                          "data.train.clips_per_class.validation=8", "data.train.clips_per_class.test=16",
                          "trainer.max_epochs=6"], work)
    run(["-m", "wavespace.analyze", "latents", str(run_dir), "split=test"], work)
    return save_small(run_dir / "analysis" / "latents-test" / "pca.png", "latents_pca.png",
                      f"{cmd}; python -m wavespace.analyze latents {run_dir} split=test")


def kernels(work: Path) -> list[Path]:
    """The learned harmonic kernels of a short unsupervised salience run on synthetic polyphony,
    and one test clip's input / summed salience / reconstruction."""
    run_dir, cmd = train(["model=harmonic", "trainer=cpu", "data.num_workers=0", "data.train.length=256",
                          "trainer.max_epochs=3"], work)
    run(["-m", "wavespace.analyze", "salience", str(run_dir), "split=test", "limit=16"], work)
    source = f"{cmd}; python -m wavespace.analyze salience {run_dir} split=test limit=16"
    out = run_dir / "analysis" / "salience-test"
    return [save_small(out / "kernels.png", "harmonic_kernels.png", source),
            save_small(out / "clip.png", "harmonic_clip.png", source)]


IMAGES: dict[str, Callable[[Path], Path | list[Path]]] = {
    "transcription": transcription, "sweep": sweep, "latents": latents, "kernels": kernels}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=REPO / "outputs" / "doc-images",
                        help="where the runs go (default: outputs/doc-images)")
    parser.add_argument("--only", nargs="+", choices=sorted(IMAGES), help="make only these images")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    IMG.mkdir(parents=True, exist_ok=True)
    made = []
    for name in args.only or IMAGES:
        out = IMAGES[name](args.work.resolve())
        made += out if isinstance(out, list) else [out]
    print("\n".join(["made:", *(f"  {p.relative_to(REPO)}" for p in made)]))


if __name__ == "__main__":
    main()
