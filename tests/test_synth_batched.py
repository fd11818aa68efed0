"""Synthetic batches rendered on the training device (data.generate_on=device) are the numpy
reference's items: identical labels, audio equal to the reference's own float32 rounding."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from wavespace.data import AudioDataModule, SynthDataset, collate
from wavespace.data.synth_batched import Plans, synthesize
from wavespace.errors import ConfigError

LABELS = ("frame", "onset", "offset", "velocity", "salience")
# The reference rounds every oscillator phase to float32 (up to 4e-3 rad on the highest partials
# of the longest notes) and its float32 sines differ from torch's by an ulp: over 400 items of the
# configurations below, differences measured <= 5.5e-4 (max) and <= 5e-4 (RMS relative to the
# clip's) on clips peaking at 0.3..0.95; a release tail 10 % too fast measures 2e-2.
MAX_ABS, REL_RMS = 1e-3, 1e-3


def _assert_same_items(ref: dict[str, torch.Tensor], out: dict[str, torch.Tensor]) -> None:
    assert list(out) == list(ref)
    for key in LABELS:
        assert out[key].dtype == ref[key].dtype and torch.equal(out[key], ref[key]), key
    a, b = ref["audio"], out["audio"]
    assert b.dtype == torch.float32 and b.shape == a.shape
    assert (a - b).abs().max() <= MAX_ABS
    assert ((a - b).square().mean(1) / a.square().mean(1)).sqrt().max() <= REL_RMS


def _device_batch(ds: SynthDataset, indices: list[int]) -> dict[str, torch.Tensor]:
    plans = Plans(ds)
    return synthesize(plans.collate([plans[i] for i in indices]))


@pytest.mark.parametrize("params", [
    {"seed": 0},
    {"seed": 7, "max_polyphony": 1, "noise_prob": 0.0},
    {"seed": 3, "max_polyphony": 6, "noise_prob": 1.0},
    {"seed": 5, "weak_fundamental": 0.5},
    {"seed": 9, "vibrato_prob": 1.0, "clip_seconds": 1.0, "hop_length": 512, "n_bins": 252},
    {"seed": 2, "vibrato_prob": 0.0, "pitch_range": (80.0, 96.0)},  # few partials below Nyquist
])
def test_batched_items_have_the_references_labels_and_audio(params):
    ds = SynthDataset(length=64, **params)
    indices = [0, 5, 17, 63, 30, 2]
    _assert_same_items(collate([ds[i] for i in indices]), _device_batch(ds, indices))


def test_synthesis_is_deterministic():
    ds = SynthDataset(length=16, seed=4)
    first, second = _device_batch(ds, list(range(8))), _device_batch(ds, list(range(8)))
    assert all(torch.equal(first[k], second[k]) for k in first)
    alone = _device_batch(ds, [3])  # other companions, other block layout: the same item
    assert torch.equal(alone["salience"][0], first["salience"][3])
    assert torch.allclose(alone["audio"][0], first["audio"][3], atol=1e-5)


def _first_batch(compose_cfg, *overrides: str, fit: bool) -> dict[str, torch.Tensor]:
    cfg = compose_cfg("debug=tiny", *overrides)
    L.seed_everything(0, verbose=False)
    dm = instantiate(cfg.data)
    if not fit:
        return next(iter(dm.train_dataloader()))
    seen: list[dict[str, torch.Tensor]] = []

    class FirstBatch(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append({k: v.clone() for k, v in batch.items()})

    model = instantiate(cfg.model, features=instantiate(cfg.features))
    trainer = L.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        callbacks=[FirstBatch()])
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 2 and len(seen) == 2
    return seen[0]


def test_device_mode_trains_on_the_batches_of_workers_mode(compose_cfg):
    device = _first_batch(compose_cfg, "data.generate_on=device", fit=True)
    _assert_same_items(_first_batch(compose_cfg, fit=False), device)


def test_a_restored_device_mode_datamodule_continues_with_the_next_batch():
    def module() -> AudioDataModule:
        return AudioDataModule(train=SynthDataset(length=6, seed=1), batch_size=2, seed=3, generate_on="device")

    loader = module().train_dataloader()
    loader.sampler.set_epoch(1)
    epoch1 = [synthesize(b) for b in loader]
    resumed = module()
    resumed.load_state_dict({"train_epoch": 1, "train_items_done": 2})
    rest = [resumed.on_after_batch_transfer(b, 0) for b in resumed.train_dataloader()]
    assert len(rest) == 2
    for x, y in zip(rest, epoch1[1:], strict=True):
        assert all(torch.equal(x[k], y[k]) for k in x)


def test_device_mode_needs_a_generated_dataset_and_a_known_value():
    with pytest.raises(ConfigError, match="generate_on=device synthesises batches from drawn parameters"):
        AudioDataModule(train=torch.utils.data.TensorDataset(torch.zeros(4)), generate_on="device")
    with pytest.raises(ConfigError, match="data.generate_on='gpu': use 'workers'"):
        AudioDataModule(train=SynthDataset(length=4), generate_on="gpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_synthesis_is_the_cpu_synthesis_without_host_syncs():
    from lightning.pytorch.utilities import move_data_to_device

    ds = SynthDataset(length=64, seed=6, weak_fundamental=0.3)
    plans = Plans(ds)
    batch = plans.collate([plans[i] for i in range(16)])
    cpu = synthesize(batch)
    on_gpu = move_data_to_device(batch, torch.device("cuda"))
    torch.cuda.set_sync_debug_mode("error")  # any wait for the host raises
    try:
        gpu = synthesize(on_gpu)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    _assert_same_items(cpu, {k: v.cpu() for k, v in gpu.items()})
    _assert_same_items(collate([ds[i] for i in range(16)]), {k: v.cpu() for k, v in gpu.items()})
