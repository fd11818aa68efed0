"""A tiny transcriber overfit to one synthetic clip with known notes, trained once per session.

It is the known-answer fixture of the end-to-end tests: its audio is written as a 44.1 kHz
stereo WAV (so reading, down-mixing and resampling are exercised), and its notes are the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CONF

CLIP_SEED = 7


OVERFIT = [
    "model=transcriber", "logger=csv", "data.num_workers=0", "data.batch_size=1",
    *[f"data.{s}.{k}={v}" for s in ("train", "val", "test")
      for k, v in (("length", 1), ("seed", CLIP_SEED), ("max_polyphony", 2))],
    "trainer.max_epochs=100", "trainer.check_val_every_n_epoch=25", "optimized_metric=val/note_f1", "callbacks.figures=null",
    "callbacks.progress_bar.refresh_rate=0",
    "model.net.channels=8", "model.net.key_channels=8", "model.net.onset_channels=8",
    "model.net.octave_kernel=7", "model.net.frame_dilations=[1,2,4]", "model.net.onset_dilations=[1]",
    "model.net.dropout=0", "model.optimizer.lr=1e-2", "model.scheduler.warmup_steps=10",
]


def _train_in(tmp: Path, overrides: list[str]) -> dict:
    """``wavespace.train.train`` on the composed train config, outputs under ``tmp``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from wavespace.train import train

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp / "outputs")
        _, objects = train(cfg)
    GlobalHydra.instance().clear()
    return objects


@dataclass
class Overfit:
    run_dir: Path
    checkpoint: Path
    wav: Path
    notes: object  # wavespace.labels.Notes, pitches rounded to keys


@pytest.fixture(scope="session")
def overfit(tmp_path_factory) -> Overfit:
    import soundfile as sf
    import soxr

    from wavespace.data import SynthDataset
    from wavespace.labels import Notes

    tmp = tmp_path_factory.mktemp("overfit")
    objects = _train_in(tmp, OVERFIT)
    run = objects["run"]
    ds = SynthDataset(1, seed=CLIP_SEED, max_polyphony=2)
    audio, notes, _ = ds.generate(0)
    stereo = soxr.resample(audio, ds.sample_rate, 44100)
    stereo = np.stack([stereo, 0.8 * stereo], axis=1)
    wav = tmp / "audio" / "clip.wav"
    wav.parent.mkdir()
    sf.write(wav, stereo, 44100, subtype="PCM_16")
    keys = Notes(notes.onset, notes.offset, np.round(notes.pitch), notes.velocity)
    return Overfit(run.run_dir, Path(objects["summary"]["best_checkpoint"]), wav, keys)


TINY = ["model=transcriber", "debug=tiny", "logger=csv", "callbacks.figures=null",
        "model.net.channels=4", "model.net.key_channels=4", "model.net.onset_channels=4",
        "model.net.octave_kernel=5", "model.net.frame_dilations=[1]", "model.net.onset_dilations=[1]",
        "model.net.offset=true", "+model.loss_weights.offset=1.0"]


@dataclass
class TinyRun:
    run_dir: Path
    checkpoint: Path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> TinyRun:
    """A debug=tiny transcriber with an offset head (2 training steps): real checkpoint files
    for the offset decoding, lean-loading and shipped-model tests, not a model that knows anything."""
    objects = _train_in(tmp_path_factory.mktemp("tiny"), TINY)
    return TinyRun(objects["run"].run_dir, Path(objects["summary"]["best_checkpoint"]))
