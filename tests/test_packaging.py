"""The configs ship inside the wheel and are found there, not only in a source checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from tests.conftest import REPO


def _source_with_a_shipped_model(dst):
    """The files a wheel is built from, plus stand-ins for what `make pretrained` publishes
    (in a clone where the model is trained, the real files sit there the same way)."""
    dst.mkdir()
    for name in ("pyproject.toml", "README.md", ".gitignore"):
        shutil.copy(REPO / name, dst / name)
    for folder in ("src", "conf"):
        shutil.copytree(REPO / folder, dst / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shelf = dst / "src" / "wavespace" / "pretrained"
    (shelf / "piano-cpu.ckpt").write_bytes(b"stand-in checkpoint")
    (shelf / "piano-cpu.json").write_text("{}")
    return dst


def test_wheel_contains_conf_and_finds_it_when_installed(tmp_path):
    source = _source_with_a_shipped_model(tmp_path / "source")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), "-q"],
        check=True, capture_output=True, timeout=300,
    )
    [wheel] = list((tmp_path / "dist").glob("wavespace-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "wavespace/conf/train.yaml" in names and "wavespace/conf/model/cnn.yaml" in names
    assert "wavespace/train.py" in names
    # The shipped model and its metadata travel with the package (wavespace.load("piano-cpu")).
    assert {"wavespace/pretrained/piano-cpu.ckpt", "wavespace/pretrained/piano-cpu.json",
            "wavespace/pretrained/__init__.py"} <= set(names)
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
    found = subprocess.run(
        [sys.executable, "-c", "import wavespace.pretrained as p; print(p.available())"],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        check=True, cwd=tmp_path,
    )
    assert found.stdout.strip() == "['piano-cpu']"  # found inside the installed package
