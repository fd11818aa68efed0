"""Real-format fixture datasets for tests outside tests/data, keyed by ``data=`` option.

Each entry builds (once per test process) a small dataset in its distributed on-disk format and
returns the Hydra overrides that point a composed config at it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.data.conftest import has_fluidsynth, make_maestro, make_medley
from wavespace.data.rendered import DEFAULT_SOUNDFONT

_BUILT: dict[str, Path] = {}


def _once(name: str, build: Callable[[Path], object]) -> Path:
    if name not in _BUILT:
        root = Path(tempfile.mkdtemp(prefix=f"wavespace-{name}-"))
        build(root)
        _BUILT[name] = root
    return _BUILT[name]


def maestro(tmp_path: Path) -> list[str]:
    root = _once("maestro", lambda r: make_maestro(r, seconds=3.0, broken=False,
                                                   layout={"train": 2, "validation": 1, "test": 1}))
    return [f"data.train.root={root}", "data.train.clip_seconds=2.0", f"paths.cache_dir={tmp_path / 'cache'}"]


def rendered(tmp_path: Path) -> list[str]:
    # Rendering happens in the dataset on first use; later combinations reuse the WAV files.
    root = _once("rendered", lambda r: None)
    return [f"data.train.root={root}", "data.train.clip_seconds=2.0", "data.train.seconds=3.0",
            "data.train.n_files=2", "data.val.n_files=1", "data.test.n_files=1",
            f"paths.cache_dir={tmp_path / 'cache'}"]


def medley(tmp_path: Path) -> list[str]:
    root = _once("medley", lambda r: make_medley(r, {"training": 8, "validation": 4, "test": 4}, broken=False))
    return [f"data.train.root={root}", f"paths.cache_dir={tmp_path / 'cache'}"]


SOLOS_SMALL = "data.train.clips_per_class={training: 2, validation: 1, test: 1}"


def solos(tmp_path: Path) -> list[str]:
    # Rendered by the dataset on first use (16 clips); later combinations reuse the set.
    root = _once("solos", lambda r: None)
    # One SoundFont for every split: the solos_* presets' other training SoundFonts and their
    # held-out test SoundFont (TimGM6mb) are not part of `make data-deps`.
    return [f"data.train.root={root}", SOLOS_SMALL, f"data.train.soundfont={DEFAULT_SOUNDFONT}",
            "data.train.test_soundfont=null",
            f"paths.cache_dir={tmp_path / 'cache'}"]


DATA_FIXTURES: dict[str, Callable[[Path], list[str]]] = {"maestro": maestro, "medley": medley}
if has_fluidsynth():
    DATA_FIXTURES["rendered"] = rendered
    DATA_FIXTURES["solos"] = solos
