"""Two CPU processes with DDP (ddp_spawn): training steps run, and the synced metrics equal the
metrics one process computes over the whole validation set with the same weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from tests.conftest import run_cli


def test_ddp_two_processes_train_and_agree_on_metrics(tmp_path, compose_cfg):
    args = ["debug=tiny", "trainer=ddp_sim", "trainer.limit_val_batches=null", "test=false",
            "data.val.length=8", "data.eval_batch_size=2"]
    run_cli("wavespace.train", *args, tmp_path=tmp_path, timeout=400)
    [run] = list((tmp_path / "outputs" / "runs").glob("*"))
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["global_step"] == 2  # the two tiny train batches per rank were stepped
    ddp_f1 = summary["metrics"]["val/frame_f1"]

    import lightning as L

    import wavespace
    from wavespace.data import AudioDataModule

    model = wavespace.load(Path(run) / "checkpoints" / "last.ckpt")
    config = model.run_config
    from hydra.utils import instantiate

    val = instantiate(config["data"]["val"])
    dm = AudioDataModule(train=val, val=val, batch_size=2, num_workers=0)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_checkpointing=False)
    with torch.no_grad():
        [res] = trainer.validate(model, datamodule=dm, verbose=False)
    assert np.isclose(res["val/frame_f1"], ddp_f1, atol=1e-6)
    assert np.isclose(res["val/loss"], summary["metrics"]["val/loss"], rtol=1e-4)
