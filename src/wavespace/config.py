"""Where the Hydra configs are, for source checkouts and for installed wheels alike."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> str:
    """``$WAVESPACE_CONFIG_DIR``, else the wheel's ``wavespace/conf``, else the repo's ``conf/``."""
    env = os.environ.get("WAVESPACE_CONFIG_DIR")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent
    candidates += [here / "conf", here.parents[1] / "conf"]
    for path in candidates:
        if (path / "train.yaml").is_file():
            return str(path)
    raise FileNotFoundError(f"Wavespace configs not found; looked in {[str(c) for c in candidates]}")
