import pytest

from wavespace.errors import ConfigError
from wavespace.features import LogFreqSTFT
from wavespace.geometry import common_frames, frame_rate, n_frames


def test_frame_count_matches_the_2s_spectrogram_of_the_study():
    assert n_frames(44100, 256) == 173
    assert n_frames(48000, 320) == 151
    assert frame_rate(22050, 256) == pytest.approx(86.1328125)


def test_front_ends_count_frames_with_the_same_helper():
    import torch

    fe = LogFreqSTFT(sample_rate=22050, hop_length=256, n_fft=1024, fmin=55.0, fmax=4000.0, n_bins=48)
    assert fe(torch.zeros(1, 22050)).shape[-1] == fe.n_frames(22050) == n_frames(22050, 256) == 87


def test_one_frame_of_rounding_is_cut_more_raises():
    assert common_frames(173, 172, "x") == 172
    assert common_frames(172, 173, "x") == 172
    with pytest.raises(ConfigError, match="173 frames where 87 were expected.*hop length"):
        common_frames(173, 87, "model output 'frame' vs. its labels")


def _logfreq(hop: int) -> LogFreqSTFT:
    return LogFreqSTFT(sample_rate=22050, hop_length=hop, n_fft=1024, fmin=55.0, fmax=4000.0, n_bins=48)


def test_a_feature_cache_on_another_hop_than_the_data_raises(tmp_path):
    """A front-end at hop 512 cached for a dataset at hop 256 would give half the frames."""
    import numpy as np

    from wavespace.data.cache import CacheFile, run_frontend

    f = CacheFile("a", tmp_path / "a.wav", 22050)
    audio = np.zeros(22050, np.float32)
    ok = list(run_frontend(_logfreq(256), [f], lambda _: audio, "cpu", 1, 256))
    assert ok[0][1].shape[0] == n_frames(22050, 256)
    with pytest.raises(ConfigError, match="44 frames where 87 were expected"):
        list(run_frontend(_logfreq(512), [f], lambda _: audio, "cpu", 1, 256))


def test_chunked_inference_refuses_output_on_another_frame_grid():
    import numpy as np
    import torch

    from wavespace.transcription.inference import predict_activations

    class HalfFrames:
        features = _logfreq(256)

        def predict_audio(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"frame": torch.zeros(x.shape[0], 88, x.shape[-1] // 512 + 1)}

    with pytest.raises(ConfigError, match="model output 'frame'"):
        predict_activations(HalfFrames(), np.zeros(22050 * 3, np.float32), chunk_seconds=1.0)
