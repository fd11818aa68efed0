"""Datasets (waveform crops + targets), the feature cache and the LightningDataModule.

Configs name datasets through this package (``_target_: wavespace.data.MaestroDataset``). The
names below load their module on first use (PEP 562), so a reader of audio or MIDI files
(``wavespace.data.audio_io``, ``wavespace.data.midi``: what ``transcribe`` needs) never pays for
Lightning, which ``datamodule`` imports; the MIDI libraries load when a MIDI file is read or
written, FluidSynth runs only when MIDI is rendered.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_WHERE = {
    "FeatureCache": "cache", "FeatureCacheError": "cache",
    "AudioDataModule": "datamodule", "collate": "datamodule",
    "MaestroDataset": "maestro", "MedleySolosDataset": "medley", "RenderedPianoDataset": "rendered",
    "SolosDataset": "solos", "SynthDataset": "synth",
}

__all__ = ["AudioDataModule", "FeatureCache", "FeatureCacheError", "MaestroDataset",
           "MedleySolosDataset", "RenderedPianoDataset", "SolosDataset", "SynthDataset", "collate"]

if TYPE_CHECKING:
    from wavespace.data.cache import FeatureCache, FeatureCacheError
    from wavespace.data.datamodule import AudioDataModule, collate
    from wavespace.data.maestro import MaestroDataset
    from wavespace.data.medley import MedleySolosDataset
    from wavespace.data.rendered import RenderedPianoDataset
    from wavespace.data.solos import SolosDataset
    from wavespace.data.synth import SynthDataset


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'wavespace.data' has no attribute '{name}'")
    value = getattr(import_module(f"wavespace.data.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
