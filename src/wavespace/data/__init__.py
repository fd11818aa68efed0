"""Datasets (waveform crops + targets), the feature cache and the LightningDataModule.

Configs name datasets through this package (``_target_: wavespace.data.MaestroDataset``), so
importing it imports every dataset module (with Lightning, soundfile and soxr); the MIDI
libraries load when a MIDI file is read or written, FluidSynth runs only when MIDI is rendered.
"""

from wavespace.data.cache import FeatureCache, FeatureCacheError
from wavespace.data.datamodule import AudioDataModule, collate
from wavespace.data.maestro import MaestroDataset
from wavespace.data.medley import MedleySolosDataset
from wavespace.data.rendered import RenderedPianoDataset
from wavespace.data.solos import SolosDataset
from wavespace.data.synth import SynthDataset

__all__ = ["AudioDataModule", "FeatureCache", "FeatureCacheError", "MaestroDataset",
           "MedleySolosDataset", "RenderedPianoDataset", "SolosDataset", "SynthDataset", "collate"]
