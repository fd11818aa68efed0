"""Which code and which libraries produced a run: recorded in ``config.yaml`` and every checkpoint.

A number in a results table is only worth something if it can be traced back to the code that
made it. In a git checkout the code version is the commit plus a dirty flag (tracked files
changed since the commit); in an installed wheel it is the package version.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "lightning", "hydra-core", "nnAudio")


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


@lru_cache(maxsize=1)
def code_version() -> str:
    """``git:<commit>[+dirty]`` when wavespace runs from its own checkout, else ``wavespace==X``.

    The checkout must be wavespace's own (``<top>/src/wavespace`` is this package): a wheel
    installed in a virtualenv that happens to sit inside some other repository is not it.
    """
    package = Path(__file__).resolve().parent
    top = _git(["rev-parse", "--show-toplevel"], package)
    if top and (Path(top) / "src" / "wavespace").resolve() == package:
        commit = _git(["rev-parse", "HEAD"], package)
        if commit:
            dirty = _git(["status", "--porcelain", "--untracked-files=no"], package)
            return f"git:{commit}" + ("+dirty" if dirty else "")
    return f"wavespace=={_version('wavespace')}"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance() -> dict[str, Any]:
    """Code version and the versions of the libraries that decide a run's numbers."""
    return {"code_version": code_version(), "libraries": {name: _version(name) for name in LIBRARIES}}


def version_change(previous: dict[str, Any] | None) -> str | None:
    """A warning naming both versions when a run is resumed with other code, else None."""
    if not previous or not previous.get("code_version"):
        return None
    before, now = str(previous["code_version"]), code_version()
    if before == now:
        return None
    return (f"Resuming a run written by code version {before} with code version {now}: "
            f"results may mix the two.")
