"""Fixtures: the fake Runpod API, secret values to hunt for, and a multirun runner."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cloud.fake_runpod import FakeRunpod

GPU_TYPES = ["NVIDIA GeForce RTX 4090", "NVIDIA L4"]


@dataclass
class Secrets:
    runpod: str
    wandb: str

    def all(self) -> list[str]:
        return [self.runpod, self.wandb]


@pytest.fixture
def secret_values() -> Secrets:
    return Secrets(runpod="rpa_" + secrets.token_hex(20), wandb=secrets.token_hex(20))


@pytest.fixture
def fake(tmp_path: Path, secret_values: Secrets) -> Iterator[FakeRunpod]:
    volume = tmp_path / "volume"
    image_env = {
        "WAVESPACE_OUTPUT_DIR": str(volume / "outputs"),
        "WAVESPACE_DATA_DIR": str(volume / "data"),
        "WAVESPACE_CACHE_DIR": str(volume / "cache"),
        "MPLBACKEND": "Agg",
    }
    with FakeRunpod(tmp_path / "fake", secret_values.runpod, image_env=image_env) as server:
        yield server


def launcher_env(fake: FakeRunpod, tmp_path: Path, secret_values: Secrets) -> dict[str, str]:
    """The launching shell: the Runpod key, a W&B key to pass through, W&B off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "WANDB_"))}
    env.update(
        RUNPOD_API_KEY=secret_values.runpod,
        RUNPOD_API_BASE_URL=fake.url,
        WANDB_API_KEY=secret_values.wandb,
        WANDB_MODE="disabled",
        WAVESPACE_ROOT=str(tmp_path / "local"),
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
        HYDRA_FULL_ERROR="1",
    )
    return env


def multirun_cmd(tmp_path: Path, *overrides: str) -> list[str]:
    """``python -m wavespace.train -m hydra/launcher=runpod debug=tiny ...`` for the fake."""
    return [
        sys.executable, "-m", "wavespace.train", "-m", "hydra/launcher=runpod", "debug=tiny",
        "hydra.launcher.image=wavespace:test",
        f"hydra.launcher.gpu_types=[{','.join(repr(g) for g in GPU_TYPES)}]",
        "hydra.launcher.results=dir",
        f"hydra.launcher.pod_results_dir={tmp_path / 'volume' / 'sweeps'}",
        "hydra.launcher.poll_interval_s=0.5",
        "hydra.launcher.result_grace_s=3",
        "hydra.launcher.retry_backoff_s=0.2",
        "hydra.launcher.sweep_id=test-sweep",
        f"hydra.sweep.dir={tmp_path / 'multirun'}",
        *overrides,
    ]


def run_multirun(fake: FakeRunpod, tmp_path: Path, secret_values: Secrets, *overrides: str,
                 timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run(multirun_cmd(tmp_path, *overrides), env=launcher_env(
        fake, tmp_path, secret_values), cwd=tmp_path, capture_output=True, text=True,
        timeout=timeout)


def assert_no_secrets(root: Path, texts: list[str], values: list[str]) -> None:
    """No secret value in any file under ``root`` nor in any captured text."""
    for value in values:
        for text in texts:
            assert value not in text, "a secret value was printed"
        for path in root.rglob("*"):
            if path.is_file():
                assert value.encode() not in path.read_bytes(), f"secret value in {path}"
