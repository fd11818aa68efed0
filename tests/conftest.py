"""Shared fixtures: composed configs, a CLI runner, and a quiet, offline environment.

Tests run the real Trainer, real nnAudio and the real wandb client (disabled), on tiny sizes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HYDRA_FULL_ERROR", "0")
# No network in tests: Hugging Face loaders fail fast instead of trying the hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


def pytest_configure(config: pytest.Config) -> None:
    import torch

    # One thread per test process: `make test` runs one xdist worker per core, and OpenMP
    # threads competing for a busy core stall sequential ops (EnCodec's LSTM) by 100x.
    torch.set_num_threads(1)


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for CLI subprocesses: offline W&B, outputs under tmp_path, one thread each."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAVESPACE_", "PYTEST_"))}
    env.update(
        WANDB_MODE=os.environ.get("WANDB_MODE", "disabled"),
        WAVESPACE_OUTPUT_DIR=str(tmp_path / "outputs"),
        WAVESPACE_DATA_DIR=str(tmp_path / "data"),
        WAVESPACE_CACHE_DIR=str(tmp_path / "cache"),
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
        HYDRA_FULL_ERROR="0",
    )
    env.update(extra)
    return env


def run_cli(module: str, *args: str, tmp_path: Path, timeout: float = 300, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module args`` as a user would, capturing output."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=tmp_path, env=env or child_env(tmp_path), capture_output=True, text=True, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{module} {' '.join(args)} exited {proc.returncode}\nSTDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Iterator:
    """Compose the train config as the CLI would (Hydra runtime info included), outputs in tmp."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    def _compose(*overrides: str):
        with initialize_config_dir(str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
            HydraConfig.instance().set_config(cfg)
            with open_dict(cfg):
                cfg.paths.output_dir = str(tmp_path / "outputs")
                cfg.paths.data_dir = str(tmp_path / "data")
                cfg.paths.cache_dir = str(tmp_path / "cache")
            return cfg

    yield _compose
    GlobalHydra.instance().clear()


def assert_frame_f1(metrics: dict, stage: str, at_least: float) -> None:
    """``{stage}/frame_f1`` is at least a measured value minus its margin, and is the harmonic
    mean of the precision and recall logged beside it (one pooled count, not a mean of batches)."""
    f1, p, r = (metrics[f"{stage}/frame_{k}"] for k in ("f1", "precision", "recall"))
    assert f1 >= at_least, f"{stage}/frame_f1 {f1:.4f} fell below {at_least} (see the measured value)"
    assert abs(f1 - 2 * p * r / (p + r)) < 1e-5, metrics
