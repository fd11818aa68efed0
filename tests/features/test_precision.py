"""Front-ends stay float32 when the model around them is cast to 16 bits.

Found on a GPU: ``trainer.precision=bf16-true`` (Lightning casts the whole LightningModule with
``.to(bfloat16)``) turned the CQT kernels into bf16 while ``Frontend.raw`` feeds float32 audio,
and the first conv1d failed ("Input type (torch.cuda.FloatTensor) and weight type
(CUDABFloat16Type) should be the same"). The same happens on the CPU, so it is tested here.
"""

from __future__ import annotations

import math

import pytest
import torch

from wavespace.features import CQT, HCQT, EncodecLatents, LogFreqSTFT, MelSpectrogram

SR, HOP, FMIN, BPO, NBINS = 22050, 256, 27.5, 36, 264


def make(name: str) -> torch.nn.Module:
    return {
        "cqt": lambda: CQT(SR, HOP, FMIN, BPO, NBINS),
        "hcqt": lambda: HCQT(SR, HOP, FMIN, BPO, NBINS, harmonics=(0.5, 1, 2)),
        "logfreq": lambda: LogFreqSTFT(SR, HOP, n_bins=256, fmin=FMIN, fmax=8000.0),
        "mel": lambda: MelSpectrogram(SR, HOP, n_bins=256, fmin=FMIN, normalize="per_bin"),
        "encodec": lambda: EncodecLatents(24000, 320, weights="random", random_num_filters=8),
    }[name]()


@pytest.mark.parametrize("name", ["cqt", "hcqt", "logfreq", "mel", "encodec"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_cast_keeps_frontend_float32_and_its_output_unchanged(name, dtype):
    torch.manual_seed(0)
    fe = make(name).eval()
    if fe.standardizer is not None:
        fe.standardizer.set_stats(torch.randn(1, fe.n_bins), torch.rand(1, fe.n_bins) + 0.5, 10)
    x = 0.1 * torch.randn(2, fe.sample_rate // 2)
    with torch.no_grad():
        ref = fe(x)
        fe.to(dtype)
        tensors = [*fe.parameters(), *fe.buffers()]
        assert all(t.dtype == torch.float32 for t in tensors if t.is_floating_point())
        assert fe(x).dtype == torch.float32 and torch.equal(fe(x), ref)
        assert torch.equal(fe(x.to(dtype)), fe(x.to(dtype).float()))  # 16-bit audio is accepted
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype)  # what Lightning's *-true precision does around forward
        try:
            out = fe(x)
        finally:
            torch.set_default_dtype(previous)
        assert out.dtype == torch.float32 and torch.equal(out, ref)


def test_bf16_true_precision_trains_and_the_cast_model_predicts(compose_cfg):
    from wavespace.train import train

    cfg = compose_cfg("debug=tiny", "trainer.accelerator=cpu", "trainer.precision=bf16-true",
                      "model=transcriber")
    metrics, objects = train(cfg)
    assert objects["summary"]["global_step"] == 2
    assert math.isfinite(metrics["train/loss_epoch"]) and math.isfinite(metrics["test/frame_f1"])
    model = objects["model"]
    assert next(model.net.parameters()).dtype == torch.bfloat16
    assert all(b.dtype == torch.float32 for b in model.features.buffers() if b.is_floating_point())
    probs = model.predict_audio(0.1 * torch.randn(1, SR))
    assert probs["frame"].shape == (1, 88, SR // HOP + 1)
