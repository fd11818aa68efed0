"""Hydra launcher plugin ``hydra/launcher=runpod`` (one Runpod pod per multirun job).

Hydra discovers plugins by importing every module under the ``hydra_plugins`` namespace
package; ``config`` registers the launcher config on import. The launcher class lives in
``launcher`` and imports the cloud machinery (and runpod) only when it launches.
"""
