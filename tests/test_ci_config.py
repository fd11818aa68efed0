"""CI and pre-commit configs parse and do what the README says: the workflow runs .ci/run (the
README's `make test`) on every push and pull request, bounded in time, with CPU-only torch."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
PRECOMMIT = REPO / ".pre-commit-config.yaml"


def test_workflow_runs_ci_entry_point_on_push_and_pull_request_with_a_timeout():
    wf = yaml.safe_load(WORKFLOW.read_text())
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads the bare key `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    jobs = wf["jobs"].values()
    assert jobs and all(int(job["timeout-minutes"]) > 0 for job in jobs)
    steps = [step for job in jobs for step in job["steps"]]
    assert any(".ci/run" in step.get("run", "") for step in steps)
    [setup] = [s for s in steps if s.get("uses", "").startswith("actions/setup-python")]
    assert str(setup["with"]["python-version"]) == "3.11" and setup["with"]["cache"] == "pip"
    env = {k: v for job in jobs for k, v in job.get("env", {}).items()}
    assert "download.pytorch.org/whl/cpu" in env.get("PIP_EXTRA_INDEX_URL", "") + env.get("PIP_INDEX_URL", "")
    assert os.access(REPO / ".ci" / "run", os.X_OK)


def test_precommit_config_is_valid_and_runs_ruff():
    out = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", str(PRECOMMIT)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    hooks = [h for repo in yaml.safe_load(PRECOMMIT.read_text())["repos"] for h in repo["hooks"]]
    assert any(h["entry"].startswith("ruff check") for h in hooks)
    assert {"trailing-whitespace", "end-of-file-fixer", "check-yaml", "check-added-large-files"} <= {h["id"] for h in hooks}
