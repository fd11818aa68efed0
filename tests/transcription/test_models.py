"""Every transcription model on every front-end: shapes, a gradient to every parameter, and a
real (debug=tiny) training run per model."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import CONF

MODELS = ("mlp", "tcn", "transformer", "cqt_transformer", "transcriber")
FEATURES = sorted(p.stem for p in (CONF / "features").glob("*.yaml"))
ALL_HEADS = ["model.net.offset=true", "model.net.velocity=true", "++model.loss_weights.offset=1.0",
             "++model.loss_weights.velocity=1.0"]


def _feature_overrides(features: str) -> list[str]:
    return ["features.weights=random"] if features == "encodec" else []


def _batch(cfg, n: int = 2) -> dict[str, torch.Tensor]:
    from hydra.utils import instantiate

    from wavespace.data import collate

    dataset = instantiate(cfg.data.train)
    return collate([dataset[i] for i in range(n)])


@pytest.mark.parametrize("features", FEATURES)
@pytest.mark.parametrize("model", MODELS)
def test_every_parameter_gets_a_gradient(model, features, compose_cfg):
    from hydra.utils import instantiate

    cfg = compose_cfg(f"model={model}", f"features={features}", "debug=tiny", *ALL_HEADS,
                      *_feature_overrides(features))
    task = instantiate(cfg.model, features=instantiate(cfg.features))
    batch = _batch(cfg)
    task.train()
    out = task(task.inputs(batch))
    n_frames = batch["frame"].shape[-1]
    assert out["salience"].shape[1] == cfg.geometry.n_bins
    for head in ("frame", "onset", "offset", "velocity"):
        assert out[head].shape[:2] == (2, cfg.geometry.n_keys), head
        assert abs(out[head].shape[-1] - n_frames) <= 1
    loss = torch.stack(list(task.losses(out, batch).values())).sum()
    assert torch.isfinite(loss)
    loss.backward()
    dead = [n for n, p in task.net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient reaches {dead}"


@pytest.mark.parametrize(("model", "features"), [
    ("mlp", "encodec"), ("tcn", "mel"), ("transformer", "encodec"), ("cqt_transformer", "cqt"),
    ("transcriber", "hcqt"),
])
def test_model_trains_with_debug_tiny(model, features, compose_cfg):
    from wavespace.train import train

    cfg = compose_cfg(f"model={model}", f"features={features}", "debug=tiny", "logger=csv",
                      "callbacks.figures=null", *_feature_overrides(features))
    metrics, objects = train(cfg)
    assert objects["trainer"].global_step == 2
    assert all(v == v for v in metrics.values()), metrics  # no NaN
    assert {"val/note_f1", "test/note_f1", "test/frame_f1"} <= set(metrics)


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rotary", "none"])
def test_transformer_positional_encodings_and_local_window(positional):
    from wavespace.models import FrameTransformer

    net = FrameTransformer(1, 16, 16, n_keys=4, d_model=16, n_heads=2, n_layers=1,
                           positional=positional, window=2, stem_kernel=3, max_frames=32).eval()
    x = torch.randn(1, 1, 16, 20)
    base = net(x)["frame"]
    assert base.shape == (1, 4, 20)
    # Local attention (+-2 frames, 1 layer, stem +-1): frame 0 cannot see frame 19.
    x2 = x.clone()
    x2[..., 19] += 5.0
    assert torch.allclose(net(x2)["frame"][..., 0], base[..., 0], atol=1e-5)
    if positional == "learned":
        with pytest.raises(ValueError, match="learned position table"):
            net(torch.randn(1, 1, 16, 40))


def test_tcn_receptive_field_is_configurable():
    from wavespace.models import TCN

    net = TCN(1, 8, 8, n_keys=4, channels=8, kernel=3, receptive_field=30, n_blocks=None)
    assert net.receptive_field >= 30 and net.dilations == [1, 2, 4, 8]
    net.eval()
    x = torch.randn(1, 1, 8, 64)
    x2 = x.clone()
    x2[..., 63] += 5.0
    half = (net.receptive_field - 1) // 2
    assert torch.allclose(net(x2)["frame"][..., : 63 - half], net(x)["frame"][..., : 63 - half], atol=1e-5)


def test_transcriber_augmentation_only_in_training():
    from wavespace.models import ConvTranscriber

    torch.manual_seed(0)
    net = ConvTranscriber(1, 24, 24, bins_per_octave=12, fmin=27.5, n_keys=24, channels=4, key_channels=4,
                          onset_channels=4, gain_augment=0.5, tilt_augment=1.0)
    x = torch.randn(2, 1, 24, 10)
    assert not torch.equal(net.augment(x), x)
    net.eval()
    assert torch.equal(net.augment(x), x)


@pytest.mark.parametrize("key_kernel", [1, 3])
def test_folding_batchnorm_for_inference_keeps_the_outputs(key_kernel):
    from wavespace.models import ConvTranscriber
    from wavespace.models.inference import fold_batchnorm

    torch.manual_seed(0)
    net = ConvTranscriber(1, 48, 48, bins_per_octave=24, fmin=27.5, n_keys=24, channels=4, key_channels=4,
                          onset_channels=4, harmonics=(0.5, 1, 2), key_kernel=key_kernel, velocity=True,
                          offset=True)
    with torch.no_grad():  # running statistics far from (0, 1), as after training
        for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.2, 3), bn.weight.uniform_(0.5, 2)
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(net)
    net.eval()
    folded = fold_batchnorm(net)
    n_bn = lambda m: sum(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())  # noqa: E731
    assert n_bn(folded) == 1 < n_bn(net)  # only the input norm (no conv before it) is left
    x = torch.randn(2, 1, 48, 30)
    with torch.no_grad():
        ref, out = net(x), folded(x)
    assert ref.keys() == out.keys()
    for k in ref:
        torch.testing.assert_close(out[k], ref[k], rtol=1e-4, atol=1e-4)


def test_harmonic_stack_lines_each_harmonic_up_with_its_fundamental():
    from wavespace.models.layers import HarmonicStack

    bpo, n_bins = 12, 40
    stack = HarmonicStack(bpo, [0.5, 1, 2, 3, 16])  # shifts -12, 0, 12, 19, 48 (off the grid)
    x = torch.zeros(2, 1, n_bins, 5)
    x[:, 0, 20, 1] = 1.0  # energy at bin 20 only
    out = stack(x)
    assert out.shape == (2, 5, n_bins, 5)
    # channel h at bin b holds x at bin b + shift(h): bin 20 shows up at 20 - shift
    for ch, shift in enumerate([-12, 0, 12, 19]):
        assert out[0, ch, 20 - shift, 1] == 1 and out[0, ch].sum() == 1
    assert out[:, 4].abs().sum() == 0
    y = torch.randn(1, 2, n_bins, 3)
    two = stack(y)  # multi-channel input: harmonic-major, channel-minor blocks
    assert torch.equal(two[:, 4:6, :n_bins - 12], y[:, :, 12:]) and torch.equal(two[:, 0:2, 12:], y[:, :, :-12])


def test_frame_threshold_objective_is_validated(compose_cfg):
    from hydra.utils import instantiate

    from wavespace.errors import ConfigError, find_wavespace_error

    cfg = compose_cfg("model=transcriber", "debug=tiny")
    assert cfg.model.frame_threshold_for == "notes"  # transcribers are judged on their notes
    task = instantiate(cfg.model, features=instantiate(cfg.features))
    assert task.frame_threshold_for == "notes" and task.hparams["frame_threshold_for"] == "notes"
    bad = compose_cfg("model=transcriber", "debug=tiny", "model.frame_threshold_for=frames")
    with pytest.raises(Exception) as info:
        instantiate(bad.model, features=instantiate(bad.features))
    assert isinstance(find_wavespace_error(info.value), ConfigError)
    assert "activations" in str(find_wavespace_error(info.value))
