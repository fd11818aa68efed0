"""Hydra's own launcher test suite, run against the Runpod launcher and the fake API.

Each job becomes a pod running ``suite_app`` (a Hydra app over the suite's configs), so these
check the launcher's Hydra contract: job configs composed locally, ``.hydra/`` files in each
local job dir, overrides and job numbers, errors for bad keys and for sweeping Hydra's config.

Left out, because the task runs in another process (a pod), not in the launcher:
``test_sweep_with_custom_resolver`` (a resolver registered in the launcher process only) and
``IntegrationTestSuite`` (asserts on what the task function prints to the launcher's stdout).
"""

from pathlib import Path

import pytest
from hydra.test_utils.launcher_common_tests import LauncherTestSuite

from tests.cloud.conftest import GPU_TYPES

APP_DIR = str(Path(__file__).parent)


@pytest.fixture
def launcher_name() -> str:
    return "runpod"


@pytest.fixture
def overrides(tmp_path: Path) -> list[str]:
    return [
        "hydra.launcher.module=suite_app",
        "hydra.launcher.image=wavespace:test",
        f"hydra.launcher.gpu_types=[{','.join(repr(g) for g in GPU_TYPES)}]",
        "hydra.launcher.results=dir",
        f"hydra.launcher.pod_results_dir={tmp_path / 'volume'}",
        "hydra.launcher.poll_interval_s=0.2",
        "hydra.launcher.result_grace_s=2",
        "hydra.launcher.env_passthrough=[]",
    ]


@pytest.fixture(autouse=True)
def _runpod_env(fake, monkeypatch, secret_values):
    monkeypatch.setenv("RUNPOD_API_KEY", secret_values.runpod)
    monkeypatch.setenv("RUNPOD_API_BASE_URL", fake.url)
    fake.image_env["PYTHONPATH"] = APP_DIR
    yield
    assert fake.wait_all_gone() == []


class TestRunpodLauncherHydraSuite(LauncherTestSuite):
    @pytest.mark.skip(reason="the resolver exists only in the launcher process, not in the pod")
    def test_sweep_with_custom_resolver(self, *args, **kwargs) -> None:  # type: ignore[override]
        pass
