"""LightningModules: what is trained, its losses, metrics and logged samples (no Hydra here)."""

from wavespace.tasks.supervised import SupervisedSalience

__all__ = ["SupervisedSalience"]
