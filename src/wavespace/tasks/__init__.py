"""LightningModules: what is trained, its losses, metrics and logged samples (no Hydra here).

Every task subclasses :class:`wavespace.tasks.base.Task`.
"""

from wavespace.tasks.autoencode import Autoencode
from wavespace.tasks.base import Task, build_net
from wavespace.tasks.harmonic import HarmonicSalience
from wavespace.tasks.supervised import SupervisedSalience

__all__ = ["Autoencode", "HarmonicSalience", "SupervisedSalience", "Task", "build_net"]
