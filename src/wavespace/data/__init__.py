"""Datasets (waveform crops + targets) and the LightningDataModule that batches them."""

from wavespace.data.datamodule import AudioDataModule, collate
from wavespace.data.synth import SynthDataset

__all__ = ["AudioDataModule", "SynthDataset", "collate"]

# File-backed datasets and the feature cache (imported lazily by Hydra through these names).
from wavespace.data.cache import FeatureCache, FeatureCacheError  # noqa: E402
from wavespace.data.maestro import MaestroDataset  # noqa: E402
from wavespace.data.medley import MedleySolosDataset  # noqa: E402
from wavespace.data.rendered import RenderedPianoDataset  # noqa: E402
from wavespace.data.solos import SolosDataset  # noqa: E402

__all__ += ["FeatureCache", "FeatureCacheError", "MaestroDataset", "MedleySolosDataset",
            "RenderedPianoDataset", "SolosDataset"]
