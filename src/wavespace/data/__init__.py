"""Datasets (waveform crops + targets) and the LightningDataModule that batches them."""

from wavespace.data.datamodule import AudioDataModule, collate
from wavespace.data.synth import SynthDataset

__all__ = ["AudioDataModule", "SynthDataset", "collate"]
