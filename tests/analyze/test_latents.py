"""Latent analysis: the probe on known answers, and the CLI on a small Medley-format fixture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.data.fixtures import medley
from wavespace.analyze.probe import format_table, linear_probe, verdict

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASSES = ["a", "b", "c", "d"]


def blobs(n_per_class: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (len(CLASSES), 16)) * 3
    y = np.repeat(np.arange(len(CLASSES)), n_per_class)
    return centres[y] + rng.normal(0, spread, (len(y), 16)), y


def test_the_probe_separates_clearly_separable_classes():
    x, y = blobs(60, 1.0, 0)
    xt, yt = blobs(30, 1.0, 0)
    r = linear_probe("blobs", x, y, xt, yt, CLASSES)
    assert r.accuracy >= 0.9 and r.macro_accuracy >= 0.9
    assert all(v >= 0.8 for v in r.per_class.values())
    assert r.silhouette > 0.3
    assert (r.dims, r.n_train, r.n_test, r.chance) == (16, 240, 120, 0.25)


def test_the_probe_is_near_chance_on_shuffled_labels():
    x, y = blobs(100, 1.0, 0)
    xt, yt = blobs(100, 1.0, 0)
    rng = np.random.default_rng(1)
    r = linear_probe("shuffled", x, rng.permutation(y), xt, rng.permutation(yt), CLASSES)
    assert abs(r.macro_accuracy - 0.25) < 0.1, r.macro_accuracy
    assert abs(r.silhouette) < 0.05


def test_a_latent_that_loses_to_a_control_is_the_finding():
    x, y = blobs(40, 1.0, 0)
    xt, yt = blobs(20, 1.0, 0)
    noise = np.random.default_rng(2)
    good = linear_probe("control", x, y, xt, yt, CLASSES)
    bad = linear_probe("trained encoder", noise.normal(size=x.shape), y, noise.normal(size=xt.shape), yt, CLASSES)
    beats, lines = verdict([bad, good], "trained encoder")
    assert not beats and lines[0].startswith("FINDING: the trained encoder does NOT beat 1 of 1")
    assert f"control: {good.macro_accuracy:.3f} >= trained encoder: {bad.macro_accuracy:.3f}" in lines[1]
    assert verdict([good, bad], "control")[0]
    table = format_table([bad, good], CLASSES)
    assert "trained encoder" in table and "chance 0.250" in table


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Tiny trained runs (in-process): an autoencoder on Medley, one on unlabelled synth, a pitch model."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from tests.conftest import CONF
    from wavespace.train import train

    out = tmp_path_factory.mktemp("latent-runs")
    runs = {}
    for key, args in {
        "medley": ["model=convnet1d", "data=medley", "features=mel", *medley(out),
                   "model.net.channels=16", "model.net.latent_channels=8"],
        "synth": ["model=convnet1d", "data=synth", "features=mel", "model.net.channels=16"],
        "cnn": ["model=cnn", "data=synth", "features=cqt"],
    }.items():
        with initialize_config_dir(str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=[*args, "debug=tiny", "logger=csv", f"paths.output_dir={out}",
                                              f"paths.data_dir={out / 'data'}"], return_hydra_config=True)
            HydraConfig.instance().set_config(cfg)
            runs[key] = Path(train(cfg)[1]["summary"]["run_dir"])
        GlobalHydra.instance().clear()
    return runs


def test_analyze_latents_writes_the_figure_the_table_and_the_json(runs, tmp_path):
    proc = run_cli("wavespace.analyze", "latents", str(runs["medley"]), "split=test", tmp_path=tmp_path)
    out = runs["medley"] / "analysis" / "latents-test"
    assert (out / "pca.png").read_bytes()[:8] == PNG_MAGIC
    summary = json.loads((out / "probe.json").read_text())
    names = ["trained encoder", "random encoder", "pooled spectrogram", "MFCC statistics"]
    assert list(summary["probe"]) == names
    assert summary["probe"]["trained encoder"]["dims"] == 8  # latent channels, pooled over time
    assert summary["probe"]["pooled spectrogram"]["dims"] == 256
    assert summary["probe"]["MFCC statistics"]["dims"] == 40
    assert summary["probe"]["trained encoder"]["n_test"] == 4 and summary["probe"]["trained encoder"]["n_train"] == 12
    assert isinstance(summary["trained_beats_controls"], bool)
    assert summary["verdict"][0] in proc.stdout
    for name in names:
        assert name in proc.stdout
    with np.load(out / "latents.npz") as z:
        assert z["test_trained_encoder"].shape == (4, 8)
        assert z["train_label"].shape == (8,) and list(z["classes"])[2] == "female singer"


@pytest.mark.parametrize(("which", "args", "message"), [
    ("cnn", [], "analyze latents: /RUN holds a checkpoint of SupervisedSalience, not an autoencoder"),
    ("synth", [], "analyze latents: the run's data (SynthDataset) has no instrument labels"),
    ("medley", ["layer=3"], "analyze latents: unknown option 'layer=3'"),
    ("medley", ["split=dev"], "analyze latents: split must be train, validation or test"),
    ("medley", ["root=/nonexistent/medley"], "Dataset 'Medley-solos-DB' not found at /nonexistent/medley"),
])
def test_bad_input_is_one_paragraph_exit_1_and_writes_nothing(runs, tmp_path, capsys, which, args, message):
    from wavespace.analyze.__main__ import main

    out = tmp_path / "analysis"
    with pytest.raises(SystemExit) as info:
        main(["latents", str(runs[which]), *args, f"out={out}"])
    assert info.value.code == 1
    err = capsys.readouterr().err.replace(str(runs[which]), "/RUN")
    assert err.strip().startswith(f"wavespace: error: {message}"), err
    assert "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".analysis*"))
