"""Presets for outgrowing one machine: multi-node DDP and SLURM through hydra-submitit-launcher.

There is no cluster here: the presets are composed and their launcher built (nothing is
submitted), and a real multirun goes through submitit's local executor, which runs each job
the way a SLURM job runs it (pickled task function, a process per job, results read back).
"""

from __future__ import annotations

import json

from tests.conftest import run_cli


def test_ddp_multinode_preset_spans_nodes_and_keeps_the_run_id(compose_cfg):
    from wavespace.run import config_hash, to_plain

    cfg = compose_cfg("trainer=ddp_multinode", "trainer.num_nodes=4")
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.num_nodes == 4
    assert isinstance(cfg.trainer.devices, int) and cfg.trainer.devices > 0  # SLURM needs a number
    # Where a run executes does not change what it computes: a run started with trainer=ddp on
    # one machine continues in the same run directory on several.
    one_node = compose_cfg("trainer=ddp")
    assert config_hash(to_plain(cfg), list(cfg.run_hash_ignore)) == config_hash(
        to_plain(one_node), list(one_node.run_hash_ignore))


def test_slurm_preset_asks_for_what_the_trainer_uses(compose_cfg):
    from hydra.utils import instantiate

    cfg = compose_cfg("hydra/launcher=slurm", "trainer=ddp_multinode", "hydra.launcher.partition=gpu")
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.nodes == cfg.trainer.num_nodes == 2
    assert launcher.tasks_per_node == launcher.gpus_per_node == cfg.trainer.devices  # a task per GPU
    assert launcher.partition == "gpu" and launcher.max_num_timeout > 0  # requeued jobs resume
    built = instantiate(launcher)  # the plugin accepts every key (nothing is submitted)
    assert built.params["nodes"] == 2 and built.params["timeout_min"] == launcher.timeout_min

    single = compose_cfg("hydra/launcher=slurm").hydra.launcher  # default trainer: one task
    assert (single.nodes, single.tasks_per_node, single.gpus_per_node) == (1, 1, 1)


def test_submitit_local_executor_runs_a_multirun_job(tmp_path):
    proc = run_cli("wavespace.train", "-m", "hydra/launcher=submitit_local", "debug=tiny", "seed=3",
                   "hydra.launcher.timeout_min=10", tmp_path=tmp_path)
    [sweep_dir] = (tmp_path / "outputs" / "multirun").glob("*/*")
    result = json.loads((sweep_dir / "0" / "result.json").read_text())
    assert result["status"] == "COMPLETED" and "seed=3" in result["overrides"]
    assert "val/frame_f1" in result["metrics"]
    assert list((sweep_dir / ".submitit").glob("*/*_result.pkl")), "the job ran through submitit"
    assert "1 of 1 job(s) completed" in proc.stdout
