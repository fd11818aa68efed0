"""The configs ship inside the wheel and are found there, not only in a source checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO


def test_wheel_contains_conf_and_finds_it_when_installed(tmp_path):
    pytest.importorskip("hatchling")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), "-q"],
        check=True, capture_output=True, timeout=300,
    )
    [wheel] = list((tmp_path / "dist").glob("wavespace-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "wavespace/conf/train.yaml" in names and "wavespace/conf/model/cnn.yaml" in names
    assert "wavespace/train.py" in names
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    for name in ("train", "transcribe", "evaluate", "prepare", "analyze", "export"):
        assert f"wavespace-{name} = wavespace." in scripts, scripts  # installed as console scripts
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    out = subprocess.run(
        [sys.executable, "-c", "from wavespace.config import config_dir; print(config_dir())"],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        check=True, cwd=tmp_path,
    )
    assert out.stdout.strip() == str(site / "wavespace" / "conf")
