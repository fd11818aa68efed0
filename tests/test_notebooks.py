"""Notebooks run top to bottom in a real Jupyter kernel (nbclient + ipykernel) against the tiny run
each one names, so none can silently rot; with no run, each prints the command that makes one.

Each notebook's first code cell names its training command (``COMMAND = "python -m ..."``); the
test runs exactly that command (plus, for ``data=solos``, the fixture's small clip counts and
shared folder), executes every cell with the run in ``$WAVESPACE_RUN`` (or the sweep in
``$WAVESPACE_SWEEP``) and reads back the JSON summary the notebook's last cell writes.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
STUDY_NOTEBOOKS = {"inspect_run", "autoencoder_latents", "harmonic_salience", "sweep_fits"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read(name: str):
    import nbformat

    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def named_command(name: str) -> str:
    """The command line the notebook names (its ``COMMAND = "..."``)."""
    for cell in read(name).cells:
        match = re.search(r'^COMMAND = "(python -m wavespace\.train [^"]+)"', cell.source, re.M)
        if match:
            return match.group(1)
    raise AssertionError(f"{name}.ipynb names no COMMAND = \"python -m wavespace.train ...\"")


def data_args(tmp_path: Path) -> list[str]:
    """``data=solos`` at the fixture's size (rendered once per process), else the Medley fixture."""
    from tests.data.conftest import has_fluidsynth
    from tests.data.fixtures import medley, solos

    return solos(tmp_path) if has_fluidsynth() else ["data=medley", *medley(tmp_path)]


def train_named(name: str, tmp_path: Path, *extra: str) -> Path:
    """Run the notebook's command as a user would (outputs under tmp_path); its run directory."""
    args = shlex.split(named_command(name))[3:]  # after "python -m wavespace.train"
    if "data=solos" in args and "data=medley" in extra:
        args.remove("data=solos")
    proc = run_cli("wavespace.train", *args, *extra, tmp_path=tmp_path)
    if "-m" in args:
        [sweep] = (tmp_path / "outputs" / "multirun").glob("*/*")
        return sweep
    return Path(re.search(r"^run directory\s+(\S+)", proc.stdout, re.M).group(1))


def execute(name: str, monkeypatch, **env: str):
    """Every cell of the notebook in a fresh kernel (cwd notebooks/, the given environment);
    nbclient raises CellExecutionError on the first cell that fails."""
    from nbclient import NotebookClient

    for key in ("WAVESPACE_RUN", "WAVESPACE_SWEEP"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = read(name)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    return nb


def outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if kind in o.get("data", {}) or (kind == "stream" and o.output_type == "stream")]


def summary(run: Path, name: str) -> dict:
    return json.loads((run / "analysis" / f"{name}.json").read_text())


def test_every_notebook_is_stored_without_outputs():
    import nbformat

    assert {p.stem for p in NOTEBOOKS} == STUDY_NOTEBOOKS
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.execution_count is None and cell.outputs == [], f"{path.name}: clear its outputs"


@pytest.mark.parametrize("name", sorted(STUDY_NOTEBOOKS))
def test_with_no_run_the_notebook_prints_the_command_and_skips_the_rest(name, tmp_path, monkeypatch):
    nb = execute(name, monkeypatch, WAVESPACE_OUTPUT_DIR=str(tmp_path / "empty"))
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = "".join(o.get("text", "") for o in code[0].outputs)
    assert f"\n    {named_command(name)}\n" in first, first
    assert "The remaining cells are skipped." in first
    for cell in code[1:]:
        assert [o.output_type for o in cell.outputs] == ["stream"], cell.outputs
        assert cell.outputs[0].text.startswith("(skipped: nothing to show yet"), cell.outputs


def test_inspect_run(tmp_path, monkeypatch):
    run = train_named("inspect_run", tmp_path)
    nb = execute("inspect_run", monkeypatch, WAVESPACE_RUN=str(run), WAVESPACE_OUTPUT_DIR=str(tmp_path / "outputs"))
    s = summary(run, "inspect_run")
    assert s["run"] == str(run) and s["checkpoint"].startswith(str(run))
    for split in ("val", "test"):
        assert {"precision", "recall", "f1"} <= set(s[split]) and 0.0 <= s[split]["f1"] <= 1.0
    assert s["test_clips"] == 4 and s["override"] == "data.val=${data.test}"
    assert len(outputs(nb, "image/png")) >= 3  # curves, predictions, scores: plotted inline


def test_autoencoder_latents(tmp_path, monkeypatch):
    # model.audio_iters: Griffin-Lim iterations the notebook's audio players use (32 by default).
    run = train_named("autoencoder_latents", tmp_path, *data_args(tmp_path), "model.audio_iters=4")
    nb = execute("autoencoder_latents", monkeypatch, WAVESPACE_RUN=str(run))
    s = summary(run, "autoencoder_latents")
    assert list(s["macro_accuracy"]) == ["trained encoder", "random encoder", "pooled spectrogram", "MFCC statistics"]
    # The notebook shows what `analyze latents` wrote for this run, and its verdict follows the numbers.
    probe = json.loads((Path(s["pca"]).parent / "probe.json").read_text())
    assert s["macro_accuracy"] == {k: v["macro_accuracy"] for k, v in probe["probe"].items()}
    acc = s["macro_accuracy"]
    beats = all(acc["trained encoder"] > acc[c] for c in acc if c != "trained encoder")
    assert s["trained_beats_controls"] == probe["trained_beats_controls"] == beats
    assert Path(s["pca"]).read_bytes()[:8] == PNG_MAGIC
    assert s["invertible"] and s["examples"] == 2 and s["override"] == "data=synth"
    assert all(math.isfinite(v) and v > 0 for v in s["l1"].values()) and len(s["l1"]) == 2
    players = [o for o in outputs(nb, "text/html") if "<audio" in o["data"]["text/html"]]
    assert len(players) == 3 * 3  # clip, input inverted, reconstruction inverted; 2 test clips + 1 synth


def test_harmonic_salience(tmp_path, monkeypatch):
    run = train_named("harmonic_salience", tmp_path, *data_args(tmp_path))
    execute("harmonic_salience", monkeypatch, WAVESPACE_RUN=str(run))
    s = summary(run, "harmonic_salience")
    assert s["kernels"][0] == 4 and s["lambda"] >= 0.0 and s["dual_steps"] == 2
    assert s["piano_example"] and "piano" in s["instruments"] and len(s["instruments"]) >= 4
    assert set(s["table"]) == {"model", "cqt_peaks", "harmonic_summation"}
    # The notebook's table is what the library computes for this run on the same synthetic clips
    # (the notebook must not drift from `analyze salience`), and each row is internally coherent.
    from hydra.utils import instantiate

    import wavespace
    from wavespace.analyze.notebook import recompose
    from wavespace.analyze.salience import collect
    from wavespace.transcription.multipitch import score_detectors

    task = wavespace.load(run)
    cfg = recompose(run, "data=synth")
    val, test = (collect(task, instantiate(cfg.data[split]), limit=8, batch_size=8,
                         min_midi=int(task.run_config["geometry"]["min_midi"])) for split in ("val", "test"))
    expected = score_detectors(val.clips, test.clips, task.features.center_frequencies)
    for name, row in s["table"].items():
        for key in ("precision", "recall", "f1"):
            assert row[key] == pytest.approx(expected[name][key], abs=1e-9), (name, key)
        p, r = row["precision"], row["recall"]
        assert row["f1"] == pytest.approx(2 * p * r / (p + r) if p + r else 0.0, abs=1e-6), name
    assert s["table"]["cqt_peaks"]["recall"] > 0.2  # clean synthetic tones: a broken scorer gives 0
    assert s["table"]["harmonic_summation"]["f1"] > 0.4  # measured 0.58 on these 8 clips


def test_sweep_fits(tmp_path, monkeypatch):
    sweep = train_named("sweep_fits", tmp_path)
    nb = execute("sweep_fits", monkeypatch, WAVESPACE_SWEEP=str(sweep))
    s = json.loads((sweep / "analysis" / "sweep_fits.json").read_text())
    assert (s["runs"], s["used"], s["x"], s["y"]) == (3, 3, "model.optimizer.lr", "val/loss")
    assert 1e-3 <= s["fitted_optimum"] <= 1e-2
    assert s["next_value"] == pytest.approx(float(f"{s['fitted_optimum']:.3g}"))
    assert Path(s["best_run"]).parent == tmp_path / "outputs" / "runs"
    assert Path(s["figure"]).read_bytes()[:8] == PNG_MAGIC
    printed = "".join(o.get("text", "") for o in outputs(nb, "stream"))
    assert f"next run: python -m wavespace.train debug=tiny model.optimizer.lr={s['next_value']:.3g}" in printed


# -- the helpers behind the notebooks (wavespace.analyze.notebook), without a kernel -----------
def fake_run(tmp_path: Path, task: str, overrides: list[str], relative: bool = False) -> Path:
    """A run directory and the Hydra job record that names it, as wavespace.train writes them
    (``relative``: with the default paths, ./data and ./outputs of the directory it ran in)."""
    import yaml

    outputs = tmp_path / "outputs"
    run = outputs / "runs" / "x-0123456789"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    base = Path(".") if relative else tmp_path
    paths = {"data_dir": f"{base}/data", "cache_dir": f"{base}/cache", "output_dir": f"{base}/outputs",
             "runs_dir": f"{base}/outputs/runs"}
    config = {"run_dir": str(run), "model": {"_target_": f"wavespace.tasks.{task}"}, "paths": paths}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    job = outputs / "hydra" / "2026-01-01" / "00-00-00"
    job.mkdir(parents=True)
    (job / "result.json").write_text(json.dumps({"status": "COMPLETED", "run_dir": str(run), "overrides": overrides}))
    return run


@pytest.mark.parametrize("relative", [False, True], ids=["absolute-paths", "relative-paths"])
def test_recompose_swaps_a_group_and_drops_what_the_run_set_under_it(tmp_path, monkeypatch, relative):
    from wavespace.analyze.notebook import overrides_for, recompose

    run = fake_run(tmp_path, "Autoencode", [
        "model=convnet1d", "data=solos", "features=mel", "debug=tiny",
        "data.train.clips_per_class={training: 2, validation: 1, test: 1}", "hydra/launcher=basic"], relative)
    monkeypatch.chdir(NOTEBOOK_DIR)  # not where the run was trained
    assert overrides_for(run, "data=synth") == ["model=convnet1d", "features=mel", "debug=tiny", "data=synth"]
    cfg = recompose(run, "data=synth")
    assert cfg.data.train._target_ == "wavespace.data.SynthDataset"
    assert (cfg.model._target_, cfg.name, cfg.data.batch_size) == ("wavespace.tasks.Autoencode", "convnet1d-synth-mel", 2)
    assert cfg.paths.data_dir == str(tmp_path / "data") and "hydra" not in cfg
    assert recompose(run, "data.train.seed=3").data.train.clips_per_class.training == 2


def test_a_run_without_a_job_record_cannot_be_recomposed(tmp_path):
    from wavespace.analyze.notebook import NotebookError, job_overrides

    run = fake_run(tmp_path, "Autoencode", [])
    for record in (tmp_path / "outputs" / "hydra").rglob("result.json"):
        record.unlink()
    with pytest.raises(NotebookError, match=r"none names this run"):
        job_overrides(run)


def test_find_run_names_the_command_and_outside_ipython_exits_1(tmp_path, monkeypatch, capsys):
    from wavespace.analyze.notebook import find_run

    run = fake_run(tmp_path, "Autoencode", [])
    monkeypatch.setenv("WAVESPACE_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.delenv("WAVESPACE_RUN", raising=False)
    assert find_run("Autoencode", "python -m wavespace.train model=unet") == run
    for env, data, found in (
            (None, (), "No run (HarmonicSalience) with a checkpoint under"),
            (None, ("SolosDataset",), "No run (Autoencode on SolosDataset) with a checkpoint under"),
            (str(run), (), f"WAVESPACE_RUN={run} is a run of Autoencode, and this notebook shows HarmonicSalience runs")):
        if env:
            monkeypatch.setenv("WAVESPACE_RUN", env)
        with pytest.raises(SystemExit) as info:
            find_run("Autoencode" if data else "HarmonicSalience", "python -m wavespace.train model=harmonic",
                     data=data)
        out = capsys.readouterr().out
        assert info.value.code == 1 and out.startswith(found) and "\n    python -m wavespace.train model=harmonic\n" in out


def test_relative_run_paths_resolve_from_where_training_ran():
    from wavespace.analyze.notebook import trained_from

    assert trained_from({"run_dir": "/repo/outputs/runs/x-1", "paths": {"runs_dir": "./outputs/runs"}}) == Path("/repo")
    assert trained_from({"run_dir": "/data/runs/x-1", "paths": {"runs_dir": "/data/runs"}}) is None
