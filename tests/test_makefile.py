"""`make help` is the menu of the project: every target appears there with its one-line
description, and every target at least parses and plans (`make -n`) from a clean checkout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import REPO

MAKEFILE = REPO / "Makefile"
# A rule's name at the start of a line, not a `VAR :=` assignment nor a special target.
RULE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]*)\s*:(?!=)", re.M)
TARGETS = sorted(set(RULE.findall(MAKEFILE.read_text())))

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def make(*args: str) -> subprocess.CompletedProcess:
    # Outside any enclosing `make test`: its MAKEFLAGS would leak into these runs.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_help_lists_every_target_once_with_a_description():
    out = make("help")
    assert out.returncode == 0, out.stderr
    lines = [line.split(None, 1) for line in out.stdout.splitlines() if line.strip()]
    listed = [parts[0] for parts in lines]
    missing = sorted(set(TARGETS) - set(listed))
    assert not missing, f"add `## one-line description` after these Makefile targets: {missing}"
    assert sorted(listed) == TARGETS, "make help lists a target twice or one the Makefile lacks"
    assert all(len(parts) == 2 and parts[1].strip() for parts in lines)


def test_the_researcher_targets_exist():
    wanted = {"train", "test", "transcribe", "evaluate", "analyze", "export", "multirun", "search",
              "notebooks-test", "precommit", "prepare", "bench", "bench-transcription",
              "bench-autoencoders", "bench-harmonic"}
    assert wanted <= set(TARGETS)


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_dry_runs(target):
    out = make("-n", target)
    assert out.returncode == 0, f"make -n {target} failed:\n{out.stderr}"


def test_every_benchmark_has_its_own_target():
    planned = "".join(make("-n", t).stdout for t in TARGETS if t.startswith("bench-"))
    # A benchmark is a script (it has a __main__ block); modules it imports (real_music) are not.
    scripts = [p for p in sorted((REPO / "bench").glob("*.py")) if "__main__" in p.read_text()]
    missing = [p.name for p in scripts if f"bench/{p.name}" not in planned]
    assert not missing, f"give these benchmarks a `make bench-...` target: {missing}"


def test_search_and_precommit_run_what_they_say():
    assert "-m wavespace.train -m hparams_search=optuna" in make("-n", "search").stdout
    assert "pre-commit run --all-files" in make("-n", "precommit").stdout
