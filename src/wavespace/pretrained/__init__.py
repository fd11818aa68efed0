"""Shipped models: trained checkpoints inside the package, loaded by name.

``wavespace.load("piano-cpu")``, ``python -m wavespace.transcribe input=song.wav output=out/`` and
``wavespace-transcribe OUT song.wav`` (no checkpoint given: :data:`DEFAULT`) use them. A shipped
model is two files in this folder, both written by ``python -m wavespace.pretrained publish``
(:mod:`wavespace.pretrained.publish`):

* ``NAME.ckpt``: a slim checkpoint (weights, hyper-parameters, the decision thresholds tuned on
  validation, the front-end's buffers and the run config; no optimizer or loop state), loadable
  by :func:`wavespace.load` like any checkpoint;
* ``NAME.json``: where it came from and how good it is (preset, training command, code
  version, validation metrics, bench numbers against basic-pitch).

:data:`RECIPES` names the models the repository knows how to make, so that a clone where one
has not been trained yet says which make target produces it instead of "file not found".
``WAVESPACE_PRETRAINED_DIR`` points the lookup at another folder (tests, a lab's own models).

Bottom layer: names and files only; torch loads in ``publish``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wavespace.errors import WavespaceError


@dataclass(frozen=True)
class Recipe:
    """How a shipped model is made from a clean clone."""

    preset: str        # conf/experiment/<preset>.yaml
    make_target: str   # the make target that trains, benches and publishes it
    summary: str


RECIPES: dict[str, Recipe] = {
    "piano-cpu": Recipe(
        preset="rendered_music_transcriber", make_target="pretrained",
        summary="piano transcriber (conv net on a CQT; frame, onset, offset, velocity heads), "
                "trained for 30 minutes on 2 CPU cores on music-like MIDI rendered with FluidSynth"),
}
DEFAULT = "piano-cpu"
ENV = "WAVESPACE_PRETRAINED_DIR"


class PretrainedError(WavespaceError):
    """A shipped model was asked for that does not exist or is not built yet."""


def folder() -> Path:
    """Where shipped models are looked up (and published): this package folder, or ``$ENV``."""
    override = os.environ.get(ENV)
    return Path(override).expanduser() if override else Path(__file__).resolve().parent


def names() -> list[str]:
    """Every model name known here: the recipes, and whatever has been published to the folder."""
    return sorted(set(RECIPES) | {p.stem for p in folder().glob("*.json")})


def available() -> list[str]:
    """Names whose checkpoint is present."""
    return [n for n in names() if (folder() / f"{n}.ckpt").is_file()]


def is_name(text: str) -> bool:
    """Looks like a model name, not a path (no folder separator, no file extension)."""
    return bool(text) and "/" not in text and os.sep not in text and not Path(text).suffix


def not_built(name: str) -> str:
    """What to do when a known recipe's checkpoint is absent (one paragraph)."""
    r = RECIPES[name]
    return (f"The shipped model '{name}' is not in this installation yet ({folder() / (name + '.ckpt')} "
            f"is absent: it has not been trained). From a clone of the repository, `make {r.make_target}` "
            f"produces it: it trains `python -m wavespace.train experiment={r.preset}` (about 30 minutes "
            f"on 2 CPU cores), benchmarks it and publishes it into that folder. Until then pass a "
            f"checkpoint or run directory of your own (ckpt=PATH, or --ckpt PATH).")


def checkpoint(name: str) -> Path:
    """The checkpoint file of a shipped model, or PretrainedError saying why there is none."""
    path = folder() / f"{name}.ckpt"
    if path.is_file():
        return path
    if name in RECIPES:
        raise PretrainedError(not_built(name))
    if (folder() / f"{name}.json").is_file():
        raise PretrainedError(f"The shipped model '{name}' has its metadata but no checkpoint: {path} "
                              f"is missing. Publish it again (python -m wavespace.pretrained publish).")
    what = "a shipped model name" if is_name(name) else "an existing checkpoint file or run directory"
    raise PretrainedError(f"'{name}' is not {what}. Pass a .ckpt file, a run directory written by "
                          f"`python -m wavespace.train`, or a shipped model by name: "
                          f"{', '.join(names()) or '(none)'} (in {folder()}).")


def metadata(name: str) -> dict[str, Any]:
    """A shipped model's metadata (``NAME.json``); {} when it has none."""
    path = folder() / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}
