"""Per-bin standardization: exact streaming statistics, mean 0 / std 1 after fitting, buffers in
the state dict, and a loud error when used unfitted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wavespace.features import (
    LogFreqSTFT,
    MelSpectrogram,
    NormalizationNotFittedError,
    Standardize,
    fit_normalization,
)
from wavespace.features.normalize import RunningStats


def test_running_stats_equal_the_two_pass_answer_over_uneven_batches():
    rng = np.random.default_rng(0)
    # per-(channel, bin) offsets and scales far from 0/1, batches of different sizes and lengths
    loc = rng.uniform(-50, 50, (2, 5, 1))
    scale = rng.uniform(0.01, 20, (2, 5, 1))
    batches = [loc + scale * rng.standard_normal((b, 2, 5, t)) for b, t in [(3, 7), (1, 50), (4, 2)]]
    stats = RunningStats()
    for b in batches:
        stats.update(torch.tensor(b, dtype=torch.float32))
    mean, std, count = stats.result()
    flat = np.concatenate([b.astype(np.float32).transpose(1, 2, 0, 3).reshape(2, 5, -1)
                           for b in batches], axis=-1).astype(np.float64)
    assert count == flat.shape[-1] == 3 * 7 + 50 + 4 * 2
    np.testing.assert_allclose(mean.numpy(), flat.mean(-1), rtol=1e-10)
    np.testing.assert_allclose(std.numpy(), flat.std(-1), rtol=1e-8)


def waveforms(n_batches: int = 3, batch: int = 2, n: int = 11025) -> list[torch.Tensor]:
    """Noise with a different colour and level per clip, so bins have unequal statistics."""
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n_batches):
        x = torch.randn(batch, n, generator=g).cumsum(-1) * 0.01 + torch.randn(batch, n, generator=g)
        out.append(x * torch.rand(batch, 1, generator=g) * 3)
    return out


def test_after_fitting_every_bin_has_mean_0_and_std_1_on_the_fitted_data():
    fe = LogFreqSTFT(22050, 256, n_bins=64, fmin=30.0, fmax=8000.0, normalize="per_bin")
    batches = waveforms()
    raw = torch.cat([fe.raw(b) for b in batches])  # [B, 1, 64, T]
    assert raw.mean(dim=(0, 3)).std() > 0.5  # unnormalized bins really differ
    assert fit_normalization(fe, batches, progress=False)
    out = torch.cat([fe(b) for b in batches]).double()
    torch.testing.assert_close(out.mean(dim=(0, 3)), torch.zeros(1, 64, dtype=torch.float64),
                               atol=1e-4, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 3), unbiased=False),
                               torch.ones(1, 64, dtype=torch.float64), atol=1e-4, rtol=0)
    assert int(fe.standardizer.count) == raw.shape[0] * raw.shape[-1]


def test_stats_live_in_the_state_dict_and_reload_into_a_fresh_frontend():
    fe = MelSpectrogram(22050, 256, n_bins=32, normalize="per_bin")
    fit_normalization(fe, [{"audio": b} for b in waveforms()], progress=False)
    state = fe.state_dict()
    assert {"standardize.mean", "standardize.std", "standardize.count"} <= set(state)
    assert "filterbank" not in state  # derived from config, not stored
    fresh = MelSpectrogram(22050, 256, n_bins=32, normalize="per_bin")
    fresh.load_state_dict(state)
    x = waveforms(1)[0]
    torch.testing.assert_close(fresh(x), fe(x))


def test_fitting_reads_cached_raw_features_and_honours_max_batches():
    fe = MelSpectrogram(22050, 256, n_bins=32, normalize="per_bin")
    batches = waveforms(4)
    cached = [{"features": fe.raw(b)} for b in batches]
    fit_normalization(fe, cached, max_batches=2, progress=False)
    from_cache = fe.standardizer.mean.clone()
    fit_normalization(fe, batches[:2], progress=False)
    torch.testing.assert_close(fe.standardizer.mean, from_cache)
    assert int(fe.standardizer.count) == 2 * 2 * fe.n_frames(11025)


def test_unfitted_normalization_raises_instead_of_passing_raw_features():
    fe = LogFreqSTFT(22050, 256, n_bins=32, normalize="per_bin")
    with pytest.raises(NormalizationNotFittedError, match="never fitted.*FitNormalization"):
        fe(torch.randn(1, 4096))
    assert fe.raw(torch.randn(1, 4096)).shape[2] == 32  # raw features need no statistics


def test_no_normalization_means_no_buffers_and_fit_is_a_no_op():
    fe = LogFreqSTFT(22050, 256, n_bins=32)
    assert fe.standardizer is None and not fe.state_dict()
    assert fit_normalization(fe, waveforms(1), progress=False) is False


def test_standardize_floors_the_std_of_constant_bins():
    std = Standardize(1, 3)
    std.set_stats(torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 2.0]]), count=10)
    out = std(torch.ones(1, 1, 3, 4))
    assert torch.isfinite(out).all()
