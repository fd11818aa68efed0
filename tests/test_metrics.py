import mir_eval
import numpy as np
import torch

from wavespace.transcription.metrics import FrameMetrics, frame_scores, roll_to_frequencies


def _rolls(seed=0):
    rng = np.random.default_rng(seed)
    ref = rng.random((88, 100)) < 0.05
    est = ref.copy()
    est[:, :20] = False
    est[5, 50:] = True
    return ref, est


def test_frame_scores_equal_mir_eval_multipitch():
    ref, est = _rolls()
    times = np.arange(100) / 100.0
    p, r, acc = mir_eval.multipitch.metrics(times, roll_to_frequencies(ref), times, roll_to_frequencies(est))[:3]
    s = frame_scores(ref, est)
    assert np.isclose(s["precision"], p) and np.isclose(s["recall"], r) and np.isclose(s["accuracy"], acc)
    assert np.isclose(s["f1"], 2 * p * r / (p + r))


def test_perfect_and_empty_estimates():
    ref, _ = _rolls()
    assert frame_scores(ref, ref)["f1"] == 1.0
    empty = frame_scores(ref, np.zeros_like(ref))
    assert empty["precision"] == 0.0 and empty["recall"] == 0.0 and empty["f1"] == 0.0


def test_metric_accumulates_counts_over_batches_not_ratios():
    ref1, est1 = _rolls(1)
    ref2, est2 = _rolls(2)
    est2[:] = False  # a batch with no estimates must weigh by its pitch count
    metric = FrameMetrics()
    metric.update(torch.tensor(est1[None], dtype=torch.float32), torch.tensor(ref1[None], dtype=torch.float32))
    metric.update(torch.tensor(est2[None], dtype=torch.float32), torch.tensor(ref2[None], dtype=torch.float32))
    both = frame_scores(np.concatenate([ref1, ref2], 1), np.concatenate([est1, est2], 1))
    got = {k: float(v) for k, v in metric.compute().items()}
    assert np.isclose(got["f1"], both["f1"]) and np.isclose(got["recall"], both["recall"])
