"""The transcription presets compose to the model / front-end / data they promise."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tests.conftest import CONF

EXPECTED = {
    "synth_mlp_encodec": ("LocalMLP", "EncodecLatents", "SynthDataset"),
    "synth_tcn_encodec": ("TCN", "EncodecLatents", "SynthDataset"),
    "synth_transformer_encodec": ("FrameTransformer", "EncodecLatents", "SynthDataset"),
    "synth_cqt_transformer": ("FrameTransformer", "CQT", "SynthDataset"),
    "synth_transcriber": ("ConvTranscriber", "CQT", "SynthDataset"),
    "maestro_mlp_encodec": ("LocalMLP", "EncodecLatents", "MaestroDataset"),
    "maestro_tcn_encodec": ("TCN", "EncodecLatents", "MaestroDataset"),
    "maestro_transformer_encodec": ("FrameTransformer", "EncodecLatents", "MaestroDataset"),
    "maestro_cqt_transformer": ("FrameTransformer", "CQT", "MaestroDataset"),
    "maestro_transcriber": ("ConvTranscriber", "CQT", "MaestroDataset"),
    "maestro_transcriber_hcqt": ("ConvTranscriber", "HCQT", "MaestroDataset"),
    "rendered_transcriber": ("ConvTranscriber", "CQT", "RenderedPianoDataset"),
    "rendered_music_transcriber": ("ConvTranscriber", "CQT", "RenderedPianoDataset"),
    "sweep_transformer_encodec": ("FrameTransformer", "EncodecLatents", "SynthDataset"),
    "sweep_cqt_transformer": ("FrameTransformer", "CQT", "SynthDataset"),
    "sweep_transcriber": ("ConvTranscriber", "CQT", "SynthDataset"),
}


@pytest.mark.parametrize("experiment", sorted(EXPECTED))
def test_preset_composes(experiment, compose_cfg):
    assert (CONF / "experiment" / f"{experiment}.yaml").is_file()
    cfg = compose_cfg(f"experiment={experiment}")
    got = (cfg.model.net._target_.rsplit(".", 1)[1], cfg.features._target_.rsplit(".", 1)[1],
           cfg.data.train._target_.rsplit(".", 1)[1])
    assert got == EXPECTED[experiment]
    if experiment.startswith("maestro"):
        assert cfg.data.train.clip_seconds == 10.0
    if experiment.startswith("rendered"):  # music-like material in every split, or random in every one
        want = "music" if "music" in experiment else "random"
        assert {cfg.data[s].generator for s in ("train", "val", "test")} == {want}
    if experiment == "rendered_music_transcriber":  # the same budget as rendered_transcriber
        assert cfg.model.net.offset and cfg.model.loss_weights.offset > 0  # note ends from an offset head
        base = compose_cfg("experiment=rendered_transcriber")
        for key in ("trainer.max_epochs", "trainer.max_time", "data.train.n_files", "data.train.seconds",
                    "data.train.clip_seconds", "data.batch_size", "model.optimizer.lr"):
            assert OmegaConf.select(cfg, key) == OmegaConf.select(base, key), key
    if experiment.startswith("sweep"):
        params = cfg.hydra.sweeper.params
        assert set(params) == {"model.optimizer.lr", "model.optimizer.weight_decay", "model.net.dropout"}
