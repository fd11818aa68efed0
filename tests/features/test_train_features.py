"""Every front-end trains end to end with model=cnn: composed configs in process, and the real
CLI for EnCodec with per-bin normalization fitted by the FitNormalization callback."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import run_cli
from wavespace.models.cnn import ConvSalienceNet

OPTIONS = {
    "cqt": [],
    "hcqt": [],
    "logfreq": [],
    "encodec": ["features.weights=random", "features.random_num_filters=8"],  # no download, small
    "mel": [],
}
CASES = {**{k: (k, v) for k, v in OPTIONS.items()},
         "logfreq-per_bin": ("logfreq", ["features.normalize=per_bin"])}


@pytest.mark.parametrize("case", sorted(CASES))
def test_debug_tiny_trains_with_every_frontend(compose_cfg, case):
    from wavespace.train import train

    name, extra = CASES[case]
    cfg = compose_cfg("debug=tiny", f"features={name}", "test=false", *extra)
    metrics, objects = train(cfg)
    model = objects["model"]
    assert objects["summary"]["global_step"] == 2
    assert math.isfinite(metrics["train/loss_epoch"]) and "val/frame_f1" in metrics
    fe = model.features
    assert fe.sample_rate == cfg.geometry.sample_rate and fe.hop_length == cfg.geometry.hop_length
    # the net reads the front-end's grid and predicts salience on the geometry's grid
    assert (model.net.project is None) == (fe.n_bins == cfg.geometry.n_bins)
    assert not [n for n, p in fe.named_parameters() if p.requires_grad]
    if fe.standardizer is not None:  # fitted by the callback before the first step
        assert fe.standardizer.fitted and int(fe.standardizer.count) == 2 * 2 * 173


def test_encodec_selects_its_geometry_and_rejects_another(compose_cfg):
    from hydra.utils import instantiate

    from wavespace.features import FrontendConfigError

    cfg = compose_cfg("features=encodec", "features.weights=random")
    assert (cfg.geometry.sample_rate, cfg.geometry.hop_length) == (24000, 320)
    assert cfg.data.train.sample_rate == 24000  # data follow the same geometry
    cfg = compose_cfg("features=encodec", "geometry=piano22k", "features.weights=random")
    with pytest.raises(Exception) as info:
        instantiate(cfg.features)
    cause = info.value.__cause__ or info.value
    assert isinstance(cause, FrontendConfigError) and "geometry=encodec24k" in str(cause)


def test_cli_encodec_with_per_bin_normalization_fits_once_and_reloads(tmp_path):
    # wavespace.train always adds FitNormalization: per_bin needs no extra flag.
    proc = run_cli(
        "wavespace.train", "debug=tiny", "features=encodec", "features.weights=random",
        "features.random_num_filters=8",
        "features.normalize=per_bin", "test=false",
        tmp_path=tmp_path,
    )
    assert "val/frame_f1" in proc.stdout
    [run] = sorted((tmp_path / "outputs" / "runs").glob("*"))
    import wavespace

    model = wavespace.load(run / "checkpoints" / "last.ckpt")
    std = model.features.standardizer
    # fitted on the 2 training batches of 2 clips x 151 frames (debug=tiny limits the pass too)
    assert std.fitted and int(std.count) == 2 * 2 * 151
    assert not model.features.encoder.training
    out = model.predict_audio(torch.randn(1, 24000))
    assert out["frame"].shape == (1, 88, 76)


def test_projection_maps_foreign_bins_to_the_geometry_grid_and_every_weight_learns():
    net = ConvSalienceNet(in_channels=1, in_bins=128, out_bins=264, channels=4, n_layers=1)
    out = net(torch.randn(2, 1, 128, 10))
    assert out["salience"].shape == (2, 264, 10) and out["frame"].shape == (2, 88, 10)
    sum(v.sum() for v in out.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    same = ConvSalienceNet(in_channels=3, in_bins=264, out_bins=264, channels=4, n_layers=1)
    assert same.project is None  # on-grid front-ends (cqt, hcqt) are unchanged
