"""Notebooks run top to bottom against a real (tiny) run, so they cannot silently rot."""

from __future__ import annotations

import json
import os

import matplotlib
import pytest

from tests.conftest import REPO, run_cli

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_on_a_tiny_run(notebook, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    run_cli("wavespace.train", "debug=tiny", tmp_path=tmp_path)
    [run] = list((tmp_path / "outputs" / "runs").glob("*"))
    monkeypatch.setenv("WAVESPACE_RUN", str(run))
    monkeypatch.setenv("WAVESPACE_OUTPUT_DIR", str(tmp_path / "outputs"))
    cells = json.loads(notebook.read_text())["cells"]
    namespace: dict = {"__name__": "__main__"}
    monkeypatch.chdir(notebook.parent)
    for cell in cells:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{notebook.name}", "exec"), namespace)
    assert namespace["model"].run_config["run_dir"] == str(run)
    assert set(namespace["scores"]) >= {"precision", "recall", "f1"}
    assert os.path.isdir(namespace["run_dir"])
