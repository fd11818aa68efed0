"""The Autoencode task through the real training entry point (debug=tiny) and wavespace.load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.data.fixtures import medley
from wavespace.errors import ConfigError


def _audio(n: int = 2, seconds: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    t = torch.arange(int(22050 * seconds)) / 22050
    return 0.3 * torch.sin(2 * torch.pi * 330 * t) + 0.05 * torch.randn(n, len(t), generator=g)


@pytest.mark.parametrize(("model", "features"), [("unet", "logfreq"), ("convnet2d", "mel"), ("convnet1d", "logfreq")])
def test_debug_tiny_keeps_the_best_checkpoint_by_val_loss_and_reloads_identically(model, features, compose_cfg, tmp_path):
    import wavespace
    from wavespace.train import train

    cfg = compose_cfg(f"model={model}", "data=medley", f"features={features}", "debug=tiny", "logger=csv",
                      *medley(tmp_path))
    metrics, objects = train(cfg)
    summary = objects["summary"]
    assert cfg.optimized_metric == "val/loss" and cfg.optimized_mode == "min"
    assert {"val/loss", "val/l1", "test/loss", "test/l1"} <= set(metrics)
    assert metrics["val/loss"] == pytest.approx(metrics["val/l1"])  # l1 loss = L1 on the feature scale
    best = Path(summary["best_checkpoint"])
    assert best.is_file() and best.name.startswith("best-")
    ckpt = torch.load(best, map_location="cpu", weights_only=True)
    [state] = [v for k, v in ckpt["callbacks"].items() if k.startswith("ModelCheckpoint") and "'val/loss'" in k]
    assert state["best_model_path"] == str(best)

    task = objects["model"].eval()  # trainer.test restored the best weights into it
    loaded = wavespace.load(summary["run_dir"])
    assert type(loaded).__name__ == "Autoencode" and loaded.checkpoint_path == str(best)
    audio = _audio()
    a, b = task.predict_audio(audio), loaded.predict_audio(audio)
    assert a["reconstruction"].shape == task.features(audio).shape
    assert torch.equal(a["reconstruction"], b["reconstruction"])
    assert torch.equal(task.encode(task.features(audio)), loaded.encode(loaded.features(audio)))

    figures = Path(summary["run_dir"]) / "figures"
    assert sorted(p.name for p in figures.glob("*.png")) == ["epoch000_example0.png", "epoch000_example1.png"]
    assert {p.name for p in figures.glob("*.wav")} == {f"epoch000_example{i}_{n}.wav" for i in (0, 1)
                                                      for n in ("input", "reconstruction")}


def test_bce_fits_its_range_on_the_training_split_and_keeps_it_in_the_checkpoint(compose_cfg, tmp_path):
    import wavespace
    from wavespace.train import train

    cfg = compose_cfg("model=convnet1d", "data=medley", "features=mel", "debug=tiny", "logger=csv",
                      "model.loss=bce", *medley(tmp_path))
    metrics, objects = train(cfg)
    task = objects["model"]
    lo, hi = task.unit_range.bounds.tolist()
    assert lo < hi
    loader = objects["datamodule"].train_dataloader()
    x = torch.cat([task.inputs(b) for _, b in zip(range(2), loader)])
    # Fitted on other random crops, so not the exact extremes of these: it brackets their bulk.
    assert lo < float(x.quantile(0.05)) < float(x.quantile(0.95)) < hi
    loaded = wavespace.load(objects["summary"]["run_dir"])
    assert loaded.unit_range.bounds.tolist() == [lo, hi]
    rec = loaded.predict_audio(_audio())["reconstruction"]
    assert float(rec.min()) >= lo - 1e-4 and float(rec.max()) <= hi + 1e-4  # sigmoid mapped back
    assert metrics["val/l1"] > 0 and metrics["val/loss"] != pytest.approx(metrics["val/l1"])


def test_bce_without_a_range_refuses_and_bad_settings_are_one_paragraph(compose_cfg):
    from hydra.utils import instantiate

    cfg = compose_cfg("model=unet", "features=mel", "model.loss=bce")
    task = instantiate(cfg.model, features=instantiate(cfg.features))
    with pytest.raises(ConfigError, match=r"needs targets in \[0, 1\].*model.bce_range"):
        task.predict_audio(_audio())
    for override, message in (("model.loss=huber", "unknown autoencoder loss 'huber'"),
                              ("model.bce_range=[1,0]", "floor < ceiling"),
                              ("model.net.depth=9", "depth 9 does not fit 256 frequency bins")):
        cfg = compose_cfg("model=unet", "features=mel", override)
        with pytest.raises(Exception) as info:
            instantiate(cfg.model, features=instantiate(cfg.features))
        from wavespace.errors import find_wavespace_error

        assert message in str(find_wavespace_error(info.value)), override


def test_train_cli_stops_with_one_paragraph_for_a_unet_deeper_than_the_bins(tmp_path):
    from tests.conftest import run_cli

    proc = run_cli("wavespace.train", "model=unet", "features=mel", "features.n_bins=64",
                   "model.net.depth=7", "debug=tiny", tmp_path=tmp_path, check=False)
    assert proc.returncode == 1
    assert "UNet depth 7 does not fit 64 frequency bins" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "outputs" / "runs").exists()  # nothing written half-way: no run directory
    result = json.loads(next((tmp_path / "outputs" / "hydra").rglob("result.json")).read_text())
    assert result["status"] == "FAILED"


def test_train_cli_with_a_missing_dataset_names_the_layout_and_leaves_no_run(tmp_path):
    from tests.conftest import run_cli

    proc = run_cli("wavespace.train", "model=unet", "data=medley", "debug=tiny",
                   f"data.train.root={tmp_path / 'nowhere'}", tmp_path=tmp_path, check=False)
    assert proc.returncode == 1
    assert "Medley-solos-DB" in proc.stderr and "nowhere" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "outputs" / "runs").glob("*"))  # no half-made run directory


STUDY1_SOLOS = ("solos_unet", "solos_unet_noskip", "solos_convnet2d", "solos_convnet1d")


@pytest.mark.parametrize("preset", STUDY1_SOLOS)
def test_solos_presets_test_on_a_soundfont_their_training_never_heard(preset, compose_cfg):
    """The probe scores generalisation to an unheard timbre: the test split's SoundFont must not
    be one the training clips were rendered with, and training hears several timbres per class."""
    node = compose_cfg(f"experiment={preset}").data.train
    fonts = {Path(f).name for f in node.soundfont}
    assert len(fonts) == 3 and node.clips_per_class.training % len(fonts) == 0
    assert node.test_soundfont and Path(node.test_soundfont).name not in fonts
