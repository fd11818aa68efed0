import numpy as np
import pytest
import torch

from wavespace.features import CQT
from wavespace.labels import bin_frequencies


@pytest.mark.parametrize("freq", [55.0, 220.0, 1234.5])
@pytest.mark.parametrize("hop", [256, 160])  # 160 is not a multiple of 2**7: 1992 fallback
def test_cqt_pure_tone_peaks_at_its_bin(freq, hop):
    sr, fmin, bpo, n_bins = 22050, 27.5, 36, 264
    cqt = CQT(sr, hop, fmin, bpo, n_bins)
    assert cqt.algorithm == ("2010" if hop == 256 else "1992")
    t = np.arange(sr) / sr
    x = torch.tensor(np.sin(2 * np.pi * freq * t), dtype=torch.float32)[None]
    out = cqt(x)
    assert out.shape == (1, 1, n_bins, sr // hop + 1)
    peak = int(out[0, 0, :, 20:-20].mean(-1).argmax())
    expected = int(np.argmin(np.abs(np.log2(bin_frequencies(fmin, bpo, n_bins) / freq))))
    assert abs(peak - expected) <= 1


def test_cqt_runs_in_fp32_under_autocast():
    cqt = CQT(22050, 256, 27.5, 36, 264)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = cqt(torch.randn(2, 22050))
    assert out.dtype == torch.float32


def test_cqt_above_nyquist_is_rejected():
    with pytest.raises(ValueError, match="Nyquist"):
        CQT(8000, 256, 27.5, 36, 264)
