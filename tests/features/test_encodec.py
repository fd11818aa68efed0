"""EnCodec latents front-end: shape and 75 Hz grid, frozen/eval, weights from a local directory.

Random weights only: nothing is downloaded. The pretrained path is exercised on a small model
written with ``save_pretrained``.
"""

from __future__ import annotations

import pytest
import torch

from wavespace.features import EncodecLatents, FrontendConfigError

SR, HOP = 24000, 320


@pytest.fixture(scope="module")
def encodec() -> EncodecLatents:
    return EncodecLatents(SR, HOP, weights="random", center=False)


def test_random_latents_are_128_by_t_over_320_at_75_hz(encodec):
    out = encodec(torch.randn(2, 2 * SR))
    assert out.shape == (2, 1, 128, 2 * SR // HOP) and out.dtype == torch.float32
    assert encodec.frame_rate == 75.0 and encodec.n_bins == 128 and encodec.n_channels == 1
    assert torch.isfinite(out).all() and out.std() > 0


def test_centered_frames_match_the_label_grid(encodec):
    centered = EncodecLatents(SR, HOP, weights="random", center=True)
    for n in (2 * SR, 2 * SR + 100, 2 * SR + 200, 7 * HOP - 1):
        out = centered(torch.randn(1, n))
        assert out.shape[-1] == n // HOP + 1 == centered.n_frames(n)
    # centring = the raw encoder on audio delayed by half a hop: frame i then covers
    # [i*hop - hop/2, i*hop + hop/2), centered on the label time i*hop
    x = torch.randn(1, SR)
    delayed = encodec(torch.nn.functional.pad(x, (HOP // 2, 0)))
    torch.testing.assert_close(centered(x), delayed[..., : SR // HOP + 1])


def test_frozen_and_stays_in_eval_mode_under_train(encodec):
    encodec.train()
    assert encodec.training and not encodec.encoder.training
    assert not any(m.training for m in encodec.encoder.modules())
    assert not any(p.requires_grad for p in encodec.parameters())
    x = torch.randn(1, SR, requires_grad=True)
    assert not encodec(x).requires_grad  # no graph through the encoder
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert encodec(torch.randn(1, SR)).dtype == torch.float32


def test_random_weights_are_seeded_and_leave_the_global_rng_alone(encodec):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    again = EncodecLatents(SR, HOP, weights="random", seed=0)  # the fixture's seed
    after = torch.rand(1)
    assert torch.equal(before, after)
    pairs = zip(encodec.state_dict().values(), again.state_dict().values(), strict=True)
    assert all(torch.equal(x, y) for x, y in pairs)


def test_weights_load_from_a_local_save_pretrained_directory(tmp_path):
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(0)
    small = EncodecModel(EncodecConfig(num_filters=4, hidden_size=16, codebook_dim=16))
    small.save_pretrained(tmp_path / "encodec")
    x = torch.randn(1, SR // 2)
    with torch.no_grad():
        expected = small.encoder(x[:, None])
    fe = EncodecLatents(SR, HOP, weights=str(tmp_path / "encodec"), center=False)
    assert fe.n_bins == 16
    torch.testing.assert_close(fe(x)[:, 0], expected)
    # 'pretrained' goes through the same loader with a hub name; a local name works offline
    fe2 = EncodecLatents(SR, HOP, weights="pretrained", model_name=str(tmp_path / "encodec"))
    assert all(torch.equal(a, b) for a, b in zip(fe.state_dict().values(), fe2.state_dict().values()))


def test_missing_weights_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FrontendConfigError, match="does not exist.*save_pretrained"):
        EncodecLatents(SR, HOP, weights=str(tmp_path / "nope"))


def test_wrong_geometry_names_the_geometry_to_use():
    with pytest.raises(FrontendConfigError, match="geometry=encodec24k"):
        EncodecLatents(22050, 256, weights="random")


def test_pretrained_weights_offline_and_not_cached_is_a_clear_error_at_once():
    """HF_HUB_OFFLINE=1 (set by conftest): a hub name that is not in the cache fails with the
    message, without trying the network."""
    with pytest.raises(FrontendConfigError, match="not in the Hugging Face cache, and offline mode is on"):
        EncodecLatents(SR, HOP, weights="pretrained", model_name="wavespace-tests/not-cached")


def _closed_port() -> int:
    """A local port nothing listens on: a connection to it is refused at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pretrained_weights_without_network_are_a_clear_error_before_any_hub_request(monkeypatch):
    """Offline mode off, hub unreachable (HF_ENDPOINT on a closed local port: no real network):
    the error comes from one refused connection, and the hub client's download (which retries
    for ~30 s) is never called."""
    import transformers
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    calls = []
    original = transformers.EncodecModel.from_pretrained.__func__

    def spy(cls, name, *args, **kwargs):
        calls.append(kwargs.get("local_files_only"))
        return original(cls, name, *args, **kwargs)

    monkeypatch.setattr(transformers.EncodecModel, "from_pretrained", classmethod(spy))
    with pytest.raises(FrontendConfigError, match=r"not in the Hugging Face cache, and the hub at "
                       r"http://127\.0\.0\.1:\d+ cannot be reached .*features\.weights=DIR"):
        EncodecLatents(SR, HOP, weights="pretrained", model_name="wavespace-tests/not-cached")
    assert calls == [True], "only the cache was read"


@pytest.mark.slow  # the in-process test above covers the logic; this one is the user's command
def test_features_encodec_without_network_fails_at_once_through_train(tmp_path):
    """Offline mode unset and the hub unreachable (HF_ENDPOINT on a closed local port: no real
    network is touched): `train features=encodec` stops with the message and no run directory,
    before the hub client's retry loop (~30 s of 'Retrying in Ns' lines) ever starts."""
    from tests.conftest import child_env, run_cli

    env = child_env(tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}", HF_HOME=str(tmp_path / "hf"))
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(key, None)
    proc = run_cli("wavespace.train", "debug=tiny", "features=encodec", tmp_path=tmp_path, env=env, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "not in the Hugging Face cache, and the hub at http://127.0.0.1" in proc.stderr
    assert "cannot be reached" in proc.stderr and "features.weights=DIR" in proc.stderr
    assert "Retrying" not in proc.stdout + proc.stderr
    assert not (tmp_path / "outputs" / "runs").exists()  # stopped before the run directory


def test_cpu_groups_of_clips_give_the_whole_batch_encoder_output():
    """On the CPU the convolutions run on groups of clips (cache), the LSTM on the batch: the
    latents are those of transformers' own encoder forward on the whole batch."""
    from wavespace.features.encodec import CPU_TILE_SAMPLES

    fe = EncodecLatents(SR, HOP, weights="random", center=False, random_num_filters=8)
    x = torch.randn(3, CPU_TILE_SAMPLES // 2 + 1)  # one clip per group: three groups
    with torch.no_grad():
        torch.testing.assert_close(fe(x)[:, 0], fe.encoder(x.unsqueeze(1)))
