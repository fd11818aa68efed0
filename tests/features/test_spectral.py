"""Spectral front-ends (CQT, HCQT, log-frequency STFT, mel): where a pure tone lands, frame grid,
precision, and clear errors for ranges above Nyquist."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wavespace.features import CQT, HCQT, FrontendConfigError, LogFreqSTFT, MelSpectrogram
from wavespace.features.mel import mel_filterbank

SR, HOP, FMIN, BPO, NBINS = 22050, 256, 27.5, 36, 264


def tone(freq: float, seconds: float = 1.0, sr: int = SR) -> torch.Tensor:
    t = np.arange(int(sr * seconds)) / sr
    return torch.tensor(np.sin(2 * np.pi * freq * t), dtype=torch.float32)[None]


def peak_bin(features: torch.Tensor, channel: int = 0) -> int:
    """Bin with the most energy, away from the zero-padded edges."""
    return int(features[0, channel, :, 20:-20].mean(-1).argmax())


def nearest_log_bin(centers: np.ndarray, freq: float) -> int:
    return int(np.argmin(np.abs(np.log2(centers / freq))))


@pytest.fixture(scope="module")
def frontends() -> dict[str, torch.nn.Module]:
    return {
        "cqt": CQT(SR, HOP, FMIN, BPO, NBINS),
        "hcqt": HCQT(SR, HOP, FMIN, BPO, NBINS, harmonics=(0.5, 1, 2)),
        "logfreq": LogFreqSTFT(SR, HOP, n_bins=256, fmin=FMIN, fmax=8000.0),
        "mel": MelSpectrogram(SR, HOP, n_bins=256, fmin=FMIN),
    }


@pytest.mark.parametrize("name", ["cqt", "hcqt", "logfreq", "mel"])
@pytest.mark.parametrize("n_samples", [SR, SR + 1, SR + HOP - 1, 3 * HOP])
def test_frames_are_centered_n_over_hop_plus_one(frontends, name, n_samples):
    fe = frontends[name]
    out = fe(torch.randn(2, n_samples))
    assert out.shape == (2, fe.n_channels, fe.n_bins, n_samples // HOP + 1)
    assert fe.n_frames(n_samples) == out.shape[-1]
    assert fe.frame_rate == pytest.approx(SR / HOP)


@pytest.mark.parametrize("name", ["cqt", "hcqt", "logfreq", "mel"])
def test_fp32_under_autocast_and_nothing_trainable(frontends, name):
    fe = frontends[name]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fe(torch.randn(1, 4096))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert not [n for n, p in fe.named_parameters() if p.requires_grad]


@pytest.mark.parametrize("freq", [41.2, 220.0, 1234.5, 3520.0])
def test_logfreq_pure_tone_peaks_at_its_log_bin(frontends, freq):
    fe = frontends["logfreq"]
    centers = fe.center_frequencies
    expected = nearest_log_bin(centers, freq)
    peak = peak_bin(fe(tone(freq)))
    # Below ~300 Hz log bins are narrower than FFT bins (5.4 Hz at n_fft 4096): there the peak
    # is only as precise as the STFT, half an FFT bin; above, within one log bin.
    half_fft_bin = SR / fe.n_fft / 2
    assert abs(peak - expected) <= 1 or abs(centers[peak] - freq) <= half_fft_bin
    # the grid is geometric: constant ratio between neighbours
    ratios = fe.center_frequencies[1:] / fe.center_frequencies[:-1]
    assert np.allclose(ratios, ratios[0]) and fe.center_frequencies[-1] == pytest.approx(8000.0)


def test_logfreq_low_bins_interpolate_instead_of_going_empty(frontends):
    fb = frontends["logfreq"].filterbank
    assert (fb.sum(1) > 0.99).all()  # every bin reads at least one full FFT bin's worth


@pytest.mark.parametrize("freq", [100.0, 440.0, 1234.5, 5000.0])
def test_mel_pure_tone_peaks_at_librosa_mel_frequency(frontends, freq):
    import librosa
    fe = frontends["mel"]
    centers = librosa.mel_frequencies(fe.n_bins + 2, fmin=FMIN, fmax=SR / 2)[1:-1]
    np.testing.assert_allclose(fe.center_frequencies, centers, rtol=1e-9)
    expected = int(np.argmin(np.abs(centers - freq)))
    assert abs(peak_bin(fe(tone(freq))) - expected) <= 1


def test_mel_filterbank_equals_librosa():
    import librosa
    ours = mel_filterbank(SR, 2048, 256, FMIN, SR / 2)
    ref = librosa.filters.mel(sr=SR, n_fft=2048, n_mels=256, fmin=FMIN, fmax=SR / 2)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("freq", [110.0, 440.0, 1000.0])
@pytest.mark.parametrize("hop,strategy", [(256, "per_harmonic"), (512, "shared")])
def test_hcqt_channel_h_peaks_where_f_over_h_sits(freq, hop, strategy):
    harmonics = (0.5, 1, 2)
    fe = HCQT(SR, hop, FMIN, BPO, NBINS, harmonics=harmonics)
    assert fe.strategy == strategy  # auto picks shared only where it is exact and fast
    out = fe(tone(freq))
    assert out.shape == (1, 3, NBINS, SR // hop + 1)
    base = FMIN * 2.0 ** (np.arange(NBINS) / BPO)
    for c, h in enumerate(harmonics):
        expected = nearest_log_bin(base, freq / h)
        assert abs(peak_bin(out, c) - expected) <= 1, (h, peak_bin(out, c), expected)
        assert fe.center_frequencies[c, expected] == pytest.approx(h * base[expected])


@pytest.mark.parametrize("fmin,n_bins,factor", [(27.5, 264, 1), (13.75, 264, 2), (55.0, 144, 4), (55.0, 72, 16)])
def test_cqt2010_level_matches_direct_cqt_despite_early_downsampling(fmin, n_bins, factor):
    x = tone(110.0)
    fast = CQT(SR, 512, fmin, BPO, n_bins, algorithm="2010", compression="none")
    assert fast.cqt.downsample_factor == factor  # nnAudio downsamples early by this much
    direct = CQT(SR, 512, fmin, BPO, n_bins, algorithm="1992", compression="none")
    peak = lambda y: float(y[0, 0, :, 10:-10].mean(-1).max())  # noqa: E731
    assert peak(fast(x)) == pytest.approx(peak(direct(x)), rel=0.01)


@pytest.mark.parametrize("fmin,n_bins", [(27.5, 264), (55.0, 72)])
def test_fft_decimated_cqt_equals_nnaudios_own_forward(fmin, n_bins):
    """The FFT decimation is a speed-up only: same numbers as nnAudio's conv1d path, with and
    without early downsampling, on an odd-length signal (odd lengths halve with a remainder)."""
    from nnAudio.features import CQT2010v2

    ours = CQT(SR, HOP, fmin, BPO, n_bins, algorithm="2010", compression="none").cqt
    ref = CQT2010v2(sr=SR, hop_length=HOP, fmin=fmin, n_bins=n_bins, bins_per_octave=BPO,
                    output_format="Magnitude", pad_mode="constant", verbose=False)
    assert type(ours) is not CQT2010v2 and ours.earlydownsample == (fmin == 55.0)
    x = torch.randn(2, SR * 3 + 77, generator=torch.Generator().manual_seed(0))
    a, b = ours(x), ref(x)
    assert a.shape == b.shape
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))
    # What export traces: nnAudio's own conv1d path, for that block only.
    from wavespace.features.cqt import direct_decimation

    with direct_decimation(ours):
        torch.testing.assert_close(ours(x), b, rtol=0, atol=0)
    assert ours.fft_decimation


@pytest.mark.parametrize("kwargs", [
    dict(hop=HOP, fmin=27.5, n_bins=264),                          # no early downsampling
    dict(hop=512, fmin=55.0, n_bins=72),                           # early downsampling by 16
    dict(hop=HOP, fmin=27.5, n_bins=264, pad_mode="reflect"),
    dict(hop=HOP, fmin=13.75, n_bins=264, harmonics=(0.5, 1, 2)),  # HCQT, h=0.5 downsampled early
])
def test_a_cqt_restored_from_a_state_dict_is_built_without_nnaudio_and_equals_it(kwargs):
    """What loading a checkpoint builds (kernels_from_checkpoint): the same hop, early
    downsampling and output as nnAudio's build, bit for bit, once the state dict is loaded."""
    from wavespace.features.cqt import CQT2010Restored

    kwargs = dict(kwargs)
    hop, fmin, n_bins = kwargs.pop("hop"), kwargs.pop("fmin"), kwargs.pop("n_bins")
    cls = HCQT if "harmonics" in kwargs else CQT
    built = cls(SR, hop, fmin, BPO, n_bins, **kwargs)
    restored = cls(SR, hop, fmin, BPO, n_bins, kernels_from_checkpoint=True, **kwargs)
    pairs = list(zip(built.cqts, restored.cqts)) if cls is HCQT else [(built.cqt, restored.cqt)]
    for a, b in pairs:
        assert type(b) is CQT2010Restored and type(a) is not CQT2010Restored
        assert (b.hop_length, b.downsample_factor, b.earlydownsample, b.n_octaves) == \
            (a.hop_length, a.downsample_factor, a.earlydownsample, a.n_octaves)
    with pytest.raises(RuntimeError, match="load the state dict"):
        restored(torch.zeros(1, SR))
    restored.load_state_dict(built.state_dict(), strict=True)
    x = torch.randn(2, SR * 2 + 77, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(restored(x), built(x), rtol=0, atol=0)


def test_next_fast_len_equals_scipys():
    from scipy.fft import next_fast_len as scipys

    from wavespace.features.cqt import next_fast_len

    rng = np.random.default_rng(0)
    for n in [*range(1, 3000), *rng.integers(3000, 10**7, 500).tolist()]:
        assert next_fast_len(n) == scipys(n, real=True), n


def test_loading_the_shipped_transcriber_does_not_import_nnaudio():
    """Start-up: nnAudio pulls in scipy.signal (~0.5 s) only to compute kernels a checkpoint
    overwrites; a fresh interpreter loads piano-cpu and transcribes without it."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from wavespace.loading import load_transcriber; "
            "from wavespace.transcription.inference import transcribe_audio; "
            "m = load_transcriber(None); transcribe_audio(m, np.zeros(22050, np.float32)); "
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('nnAudio', 'scipy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = eval(out.stdout.strip().splitlines()[-1])
    assert not [m for m in loaded if m.startswith("nnAudio")], loaded
    assert not [m for m in loaded if m.startswith(("scipy.signal", "scipy.fft"))], loaded


def test_hcqt_strategies_agree():
    x = tone(330.0) + 0.5 * tone(1500.0)
    shared = HCQT(SR, 512, FMIN, BPO, NBINS, strategy="shared", compression="none")(x)
    per = HCQT(SR, 512, FMIN, BPO, NBINS, strategy="per_harmonic", compression="none")(x)
    mid = slice(10, -10)
    rel = (shared[..., mid] - per[..., mid]).norm() / per[..., mid].norm()
    # Measured 0.0018 (channels h=0.5, 1: 0.0024, 0.0021; h=2 is the same slice: 0.0), and the
    # largest single-bin difference 0.0018 of the peak: both CQTs are nnAudio's 2010 algorithm,
    # they differ only in where early downsampling starts. 0.005 leaves 2.5x for BLAS/FFT builds.
    assert rel < 0.005
    assert (shared[..., mid] - per[..., mid]).abs().max() < 0.005 * per[..., mid].abs().max()


def test_hcqt_harmonics_above_nyquist_are_a_clear_error():
    with pytest.raises(FrontendConfigError, match=r"Nyquist.*Harmonics that fit: \[0\.5, 1\.0, 2\.0\]"):
        HCQT(SR, HOP, FMIN, BPO, NBINS, harmonics=(0.5, 1, 2, 3, 4, 5))


def test_hcqt_shared_with_fractional_shift_is_refused():
    with pytest.raises(FrontendConfigError, match="whole bins"):
        HCQT(SR, 512, FMIN, BPO, 180, harmonics=(1, 3), strategy="shared")


def test_stft_frontends_validate_their_range():
    with pytest.raises(FrontendConfigError, match="Nyquist"):
        LogFreqSTFT(SR, HOP, fmax=12000.0)
    with pytest.raises(FrontendConfigError, match="always be zero"):
        MelSpectrogram(SR, HOP, n_bins=512, n_fft=512)
    with pytest.raises(FrontendConfigError, match="normalize"):
        MelSpectrogram(SR, HOP, normalize="global")


def test_cqt_front_end_pickles_into_a_fresh_process():
    """DDP spawn and DataLoader workers pickle the model: the FFT-decimating CQT class must be
    importable by name in a process that never built one."""
    import pickle
    import subprocess
    import sys

    fe = CQT(SR, HOP, FMIN, BPO, NBINS)
    x = tone(440.0, 0.5)
    code = ("import pickle, sys, torch; fe, x = pickle.loads(sys.stdin.buffer.read()); "
            "sys.stdout.buffer.write(pickle.dumps(fe(x)))")
    proc = subprocess.run([sys.executable, "-c", code], input=pickle.dumps((fe, x)), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    torch.testing.assert_close(pickle.loads(proc.stdout), fe(x))
