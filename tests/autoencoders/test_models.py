"""The autoencoder nets on real front-end output: shape round trip, gradients, learning, skips."""

from __future__ import annotations

import pytest
import torch

from wavespace.errors import ConfigError
from wavespace.features import LogFreqSTFT, MelSpectrogram
from wavespace.models import ConvNet1d, ConvNet2d, UNet

SR, HOP = 22050, 256
SMALL = {
    "unet": (UNet, {"depth": 3, "channels": 4, "max_channels": 16}),
    "convnet2d": (ConvNet2d, {"depth": 3, "channels": 4, "max_channels": 16, "latent_channels": 8}),
    "convnet1d": (ConvNet1d, {"depth": 2, "channels": 32, "latent_channels": 16}),
}
FRONTENDS = {"logfreq": LogFreqSTFT, "mel": MelSpectrogram}


def tones(n: int, frames: int, seed: int = 0) -> torch.Tensor:
    """A batch of harmonic tones at random pitches with noise: [n, samples] for ``frames`` frames."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange((frames - 1) * HOP) / SR
    f0 = 110 * 2 ** (torch.rand(n, 1, generator=g) * 3)
    x = sum(torch.sin(2 * torch.pi * k * f0 * t) / k for k in range(1, 6))
    return 0.2 * x + 0.01 * torch.randn(n, len(t), generator=g)


def features(name: str, n_bins: int, frames: int, n: int = 2) -> torch.Tensor:
    fe = FRONTENDS[name](SR, HOP, n_bins=n_bins, fmin=55.0)
    x = fe(tones(n, frames))
    assert x.shape[-2:] == (n_bins, frames)
    return (x - x.mean()) / x.std()


def build(kind: str, n_bins: int, **over) -> torch.nn.Module:
    cls, kw = SMALL[kind]
    torch.manual_seed(0)
    return cls(in_channels=1, in_bins=n_bins, **{**kw, **over})


@pytest.mark.parametrize("front", sorted(FRONTENDS))
@pytest.mark.parametrize("kind", sorted(SMALL))
def test_output_shape_equals_input_shape_and_every_parameter_learns(kind, front):
    for n_bins, frames in ((256, 173), (96, 44)):
        x = features(front, n_bins, frames)
        net = build(kind, n_bins)
        y = net(x)
        assert y.shape == x.shape, (kind, front, n_bins, frames)
        z = net.encode(x)
        assert z.shape[0] == 2 and z.numel() < x.numel() * 8
    (y - x).abs().mean().backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient reaches {dead}"


def fit(net: torch.nn.Module, x: torch.Tensor, steps: int = 30) -> tuple[float, float]:
    """L1 of the fixed batch x before and after ``steps`` Adam steps.

    Measured with batch statistics (train mode): 30 steps are too few for BatchNorm's running
    averages (momentum 0.1) to settle, and eval mode would then measure those, not the weights.
    """
    def l1() -> float:
        net.train()
        with torch.no_grad():
            return float((net(x) - x).abs().mean())

    before = l1()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.train()
    for _ in range(steps):
        opt.zero_grad()
        (net(x) - x).abs().mean().backward()
        opt.step()
    return before, l1()


@pytest.mark.parametrize("front", sorted(FRONTENDS))
@pytest.mark.parametrize("kind", sorted(SMALL))
def test_a_fixed_batch_reconstructs_better_after_30_steps(kind, front):
    x = features(front, 64, 44, n=4)
    before, after = fit(build(kind, 64), x)
    assert after < 0.7 * before, (before, after)


def test_unet_with_skips_reconstructs_better_than_without():
    x = features("logfreq", 64, 44, n=4)
    _, with_skips = fit(build("unet", 64, skip=True), x)
    _, without = fit(build("unet", 64, skip=False), x)
    assert with_skips < 0.8 * without, (with_skips, without)


def test_a_unet_deeper_than_the_bins_allow_is_refused_with_the_limit():
    with pytest.raises(ConfigError, match=r"depth 7 does not fit 96 frequency bins.*1 to 6"):
        UNet(in_channels=1, in_bins=96, depth=7)
    with pytest.raises(ConfigError, match="unknown norm 'weird'"):
        ConvNet2d(in_channels=1, in_bins=64, norm="weird")
