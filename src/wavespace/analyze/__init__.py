"""Post-processing: sweeps (fit a metric against hyperparameters) and autoencoder latents.

    python -m wavespace.analyze sweep SOURCE x=model.optimizer.lr y=val/loss
    python -m wavespace.analyze latents RUN_OR_CKPT [split=test] [root=DIR]

SOURCE is a local multirun (or runs) directory, or a W&B sweep or group
(``wandb:ENTITY/PROJECT/sweep/ID``, ``wandb:ENTITY/PROJECT/group/NAME``). Modules:
``collect`` (runs -> records), ``fit`` (least-squares families with confidence bands and the
fitted optimum), ``plot`` (one panel per hyperparameter), ``latents`` (encode a labelled split,
PCA figure, probe with controls) and ``probe`` (the linear probe and silhouette), ``__main__``
(the CLI), ``notebook`` (what the notebooks under notebooks/ share: find a run or say which
command makes one, re-compose a run's config).
"""

from wavespace.analyze.collect import RunRecord, collect, lookup
from wavespace.analyze.fit import FAMILIES, Fit, Optimum, fit_curve

__all__ = ["FAMILIES", "Fit", "Optimum", "RunRecord", "collect", "fit_curve", "lookup"]
