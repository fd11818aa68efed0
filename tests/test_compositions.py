"""Every model x data x features combination that exists, and every experiment preset, runs.

Options are discovered from conf/, so a new config file is tested the day it is added. Data
options that need files on disk get a small fixture in their real format from
``tests/data`` (DATA_FIXTURES there); combinations a model cannot consume are listed in
INCOMPATIBLE with the reason.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.conftest import CONF
from tests.data.fixtures import DATA_FIXTURES
from tests.model_support import INCOMPATIBLE


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


DEFAULTS = {"model": "cnn", "data": "synth", "features": "cqt"}


def _combos() -> list:
    """Every combination; those outside the pairwise cover are marked slow.

    Data and features meet only through geometry and the cache (tested per front-end in
    tests/data), models and data only through the targets: every *pair* of options running
    together covers each interaction. CI runs the pairs (each model with each front-end on
    synthetic data, each dataset with each model and with each front-end); `make test-all` runs
    the full product.
    """
    out = []
    for model, data, features in itertools.product(options("model"), options("data"), options("features")):
        if data != "synth" and data not in DATA_FIXTURES:
            continue
        if any(fnmatch(model, data, features, key) for key in INCOMPATIBLE):
            continue
        non_default = sum(v != DEFAULTS[k] for k, v in zip(("model", "data", "features"), (model, data, features)))
        marks = [pytest.mark.slow] if non_default == 3 else []
        out.append(pytest.param(model, data, features, marks=marks, id=f"{model}-{data}-{features}"))
    return out


def fnmatch(model: str, data: str, features: str, key: tuple[str, str, str]) -> bool:
    return all(k in ("*", v) for k, v in zip(key, (model, data, features)))


# Offline and download-free: EnCodec with random weights (pretrained loading is tested in
# tests/features on a local save_pretrained directory).
FEATURE_OVERRIDES = {"encodec": ["features.weights=random", "features.random_num_filters=8"]}


def _data_overrides(data: str, tmp_path: Path) -> list[str]:
    if data == "synth":
        return []
    return DATA_FIXTURES[data](tmp_path)


@pytest.mark.parametrize(("model", "data", "features"), _combos())
def test_fast_dev_run_of_every_combination(model, data, features, compose_cfg, tmp_path):
    from wavespace.train import train

    cfg = compose_cfg(f"model={model}", f"data={data}", f"features={features}", "debug=fdr",
                      "logger=csv", *FEATURE_OVERRIDES.get(features, []), *_data_overrides(data, tmp_path))
    metrics, objects = train(cfg)
    assert objects["trainer"].state.finished
    assert all(v == v for v in metrics.values()), metrics  # no NaN


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes_and_runs_in_debug_size(experiment, compose_cfg, tmp_path):
    from wavespace.train import train

    base = [f"experiment={experiment}", "debug=fdr", "logger=csv"]
    cfg = compose_cfg(*base)
    extra = list(FEATURE_OVERRIDES["encodec"]) if "weights" in cfg.features else []  # no download
    data = cfg.hydra.runtime.choices.data
    if data != "synth":
        if data not in DATA_FIXTURES:
            pytest.skip(f"{experiment} trains on data={data}, which has no fixture on this machine")
        extra += _data_overrides(data, tmp_path)
    cfg = compose_cfg(*base, *extra)
    metrics, objects = train(cfg)
    assert objects["trainer"].state.finished
