"""The [0, 1] map shared by the autoencoder's BCE and the harmonic model's target."""

from __future__ import annotations

import pytest
import torch

from wavespace.errors import ConfigError
from wavespace.tasks.unit_range import UnitRange, accept_legacy_names


def test_maps_to_unit_and_back_and_clips_outside_the_fitted_range():
    r = UnitRange(fixed=(-10.0, 0.0))
    x = torch.tensor([-20.0, -5.0, 0.0, 5.0])
    torch.testing.assert_close(r.to_unit(x), torch.tensor([0.0, 0.5, 1.0, 1.0]))
    torch.testing.assert_close(r.from_unit(torch.tensor([0.0, 0.25, 1.0])), torch.tensor([-10.0, -7.5, 0.0]))


def test_min_max_is_exact_and_inner_quantiles_follow_the_config():
    batches = [torch.arange(0.0, 50.0).reshape(1, 1, 5, 10), torch.arange(50.0, 101.0)]
    assert UnitRange((0.0, 1.0)).fit(batches) == (0.0, 100.0)
    assert UnitRange((0.5, 0.9)).fit(batches) == pytest.approx((50.0, 90.0))


def test_a_constant_training_split_is_an_error_unless_allowed():
    with pytest.raises(ConfigError, match="constant"):
        UnitRange(name="model.bce_range").fit([torch.zeros(4, 4)])
    r = UnitRange((0.5, 0.999), allow_constant=True)
    assert r.fit([torch.full((4, 4), -3.0)]) == (-3.0, -2.0)
    with pytest.raises(ConfigError, match="no batch"):
        UnitRange().fit([])


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="floor < ceiling"):
        UnitRange(fixed=(1.0, 0.0), name="model.bce_range")
    with pytest.raises(ConfigError, match="quantiles"):
        UnitRange((0.9, 0.1))


def test_bounds_travel_in_the_state_dict_and_old_buffer_names_still_load():
    holder = torch.nn.Module()
    holder.unit_range = UnitRange()
    holder.unit_range.set(-4.0, 2.0)
    fresh = torch.nn.Module()
    fresh.unit_range = UnitRange()
    accept_legacy_names(fresh)
    fresh.load_state_dict(holder.state_dict())
    assert fresh.unit_range.is_fitted and fresh.unit_range.bounds.tolist() == [-4.0, 2.0]
    # Autoencode checkpoints of 2026-11-28 kept `bce_range` (floor == ceiling: unfitted) ...
    fresh.load_state_dict({"bce_range": torch.tensor([-1.0, 3.0])})
    assert fresh.unit_range.is_fitted and fresh.unit_range.bounds.tolist() == [-1.0, 3.0]
    fresh.load_state_dict({"bce_range": torch.tensor([0.0, 0.0])})
    assert not fresh.unit_range.is_fitted
    # ... and HarmonicSalience ones `target_range` + `target_fitted`.
    fresh.load_state_dict({"target_range": torch.tensor([-8.0, 0.0]), "target_fitted": torch.tensor(1)})
    assert fresh.unit_range.is_fitted and fresh.unit_range.bounds.tolist() == [-8.0, 0.0]
