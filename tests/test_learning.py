"""The default model learns: a fixed, deterministic number of steps on the synthetic set reaches
a frame F1 far above what an untrained net scores (0.05 after the two steps of debug=tiny).

A regression anywhere on the path (synthetic labels, front-end, net, loss, optimizer, schedule,
threshold tuning, metrics) shows up here as a lower F1, not only as a crash.
"""

from __future__ import annotations

STEPS, BATCH = 100, 8
LEARN = [
    # The default model, front-end and data (cnn, cqt, synth); only sizes are made small.
    "trainer.max_epochs=1", f"data.train.length={STEPS * BATCH}", f"data.batch_size={BATCH}",
    "data.num_workers=0", "data.val.length=16", "data.test.length=16",
    "logger=csv", "callbacks.figures=null", "callbacks.progress_bar.refresh_rate=0",
    "trainer.enable_model_summary=false",
]


def test_default_model_reaches_a_measured_frame_f1_in_100_steps(compose_cfg):
    from wavespace.train import train

    metrics, objects = train(compose_cfg(*LEARN))
    assert objects["summary"]["global_step"] == STEPS
    # Measured test/frame_f1 0.6647 (precision 0.725, recall 0.614, threshold tuned on val) on
    # three runs (twice in-process, once by the CLI), and val/frame_f1 0.5191 at the configured
    # threshold 0.5: seed 0, one thread, CPU; about 25 s of CPU time. With the resumable data
    # order (issue 12: epoch-seeded shuffle, per-item seeds) 0.6622 (0.680, 0.645), val 0.5468,
    # test loss 0.520, by the CLI.
    # The margin 0.1 absorbs other BLAS / torch builds; an untrained net scores 0.05.
    assert metrics["test/frame_f1"] >= 0.56, metrics
    assert metrics["val/frame_f1"] >= 0.42, metrics
    assert metrics["test/loss"] < 0.6, metrics  # measured 0.525; 2.07 after two steps
