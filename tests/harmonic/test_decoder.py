"""The harmonic-kernel decoder and net: known answers, non-negativity, gradients, bad sizes."""

from __future__ import annotations

import math

import pytest
import torch

from wavespace.errors import ConfigError
from wavespace.models.harmonic import HarmonicKernelDecoder, HarmonicSalienceNet, kernel_length


@pytest.mark.parametrize("bpo", [36, 24, 31.17])
def test_comb_kernel_maps_a_delta_to_its_harmonics(bpo):
    n_harmonics, decay, b = 6, 0.7, 10
    dec = HarmonicKernelDecoder(1, bpo, n_harmonics, "comb", decay, init_value=1.0, floor=1e-4)
    expected = [b + round(bpo * math.log2(h)) for h in range(1, n_harmonics + 1)]
    assert dec.length == round(bpo * math.log2(n_harmonics)) + 1 == kernel_length(bpo, n_harmonics)
    s = torch.zeros(1, 1, 160, 5)
    s[0, 0, b, 2] = 2.0
    recon = dec(s)[0, 0]
    assert recon.shape == (160, 5)
    peaks = torch.nonzero(recon[:, 2] > 1e-2).flatten().tolist()
    assert peaks == expected
    heights = recon[expected, 2]
    torch.testing.assert_close(heights, 2.0 * decay ** torch.arange(n_harmonics, dtype=torch.float32),
                               rtol=1e-4, atol=1e-4)
    assert recon[:, [0, 1, 3, 4]].abs().max() < 1e-6  # frames without salience stay empty
    assert recon[:b, 2].abs().max() < 1e-6  # nothing below the fundamental (causal in frequency)


def test_channels_are_summed_and_contributions_add_up():
    torch.manual_seed(0)
    dec = HarmonicKernelDecoder(3, 36, 4, "random", init_value=0.5)
    s = torch.rand(2, 3, 80, 7)
    total = dec(s)
    parts = dec.contributions(s)
    assert parts.shape == (2, 3, 80, 7) and total.shape == (2, 1, 80, 7)
    torch.testing.assert_close(parts.sum(1, keepdim=True), total, rtol=1e-5, atol=1e-5)
    # channel 1 alone, by a direct sum over offsets
    w = dec.kernels[1].detach()
    ref = sum(w[j] * torch.nn.functional.pad(s[:, 1], (0, 0, j, 0))[:, :80] for j in range(dec.length))
    torch.testing.assert_close(parts[:, 1], ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("init", ["comb", "constant", "random"])
def test_kernels_stay_non_negative_under_a_loss_pushing_them_down(init):
    dec = HarmonicKernelDecoder(2, 36, 8, init, init_value=0.3)
    assert (dec.kernels >= 0).all()
    opt = torch.optim.SGD(dec.parameters(), lr=10.0)
    for _ in range(20):
        opt.zero_grad()
        dec(torch.rand(1, 2, 120, 3)).sum().backward()  # gradient: make every weight smaller
        opt.step()
    w = dec.kernels
    assert (w >= 0).all() and w.max() < 0.3  # it did move down, and never below zero


def test_init_values():
    assert torch.allclose(HarmonicKernelDecoder(2, 36, 4, "constant", init_value=0.2).kernels,
                          torch.full((2, 73), 0.2))
    comb = HarmonicKernelDecoder(1, 12, 4, "comb", decay=0.5, init_value=1.0, floor=1e-3).kernels[0]
    torch.testing.assert_close(comb[[0, 12, 19, 24]], torch.tensor([1.0, 0.5, 0.25, 0.125]))
    assert float(comb[1]) == pytest.approx(1e-3, rel=1e-3)


@pytest.mark.parametrize("kwargs", [dict(n_channels=0), dict(n_harmonics=0), dict(init="sine"),
                                    dict(init_value=0.0), dict(bins_per_octave=0)])
def test_bad_decoder_settings_raise(kwargs):
    args = dict(n_channels=2, bins_per_octave=36, n_harmonics=4) | kwargs
    with pytest.raises(ConfigError):
        HarmonicKernelDecoder(**args)


def test_net_shapes_non_negative_salience_and_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    net = HarmonicSalienceNet(in_channels=1, in_bins=64, bins_per_octave=12, n_salience=3,
                              n_harmonics=4, unet=dict(depth=2, channels=4))
    x = torch.randn(2, 1, 64, 43)
    out = net(x)
    assert out["salience"].shape == (2, 3, 64, 43) and out["recon"].shape == (2, 1, 64, 43)
    assert (out["salience"] >= 0).all()
    (out["recon"].mean() + out["salience"].std()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_net_refuses_multichannel_input_and_fixed_unet_keys():
    with pytest.raises(ConfigError, match="features=cqt or features=logfreq"):
        HarmonicSalienceNet(in_channels=3, in_bins=64, bins_per_octave=12)
    with pytest.raises(ConfigError, match="out_channels"):
        HarmonicSalienceNet(in_channels=1, in_bins=64, bins_per_octave=12, unet={"out_channels": 2})
