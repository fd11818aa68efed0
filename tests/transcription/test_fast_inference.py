"""CPU inference choices of the transcriber: the net run in tiles of time, and bfloat16. Both
must leave what a user gets unchanged, up to float rounding (tiles) or a bounded drift that does
not move the notes (bfloat16)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.data.conftest import needs_fluidsynth
from wavespace.loading import load_transcriber
from wavespace.models.inference import inference_dtype, native_bf16, temporal_reach, tiled_forward
from wavespace.transcription.inference import TranscribeError, predict_activations, transcribe_audio


@pytest.fixture(scope="module")
def net():
    from wavespace.models import ConvTranscriber

    torch.manual_seed(0)
    return ConvTranscriber(in_channels=1, in_bins=96, n_bins=96, bins_per_octave=12, fmin=27.5, n_keys=88,
                           channels=4, key_channels=4, onset_channels=4, offset=True, velocity=True).eval()


def test_the_reach_bounds_the_receptive_field(net):
    """A change at one input frame moves outputs only within ``temporal_reach`` frames of it."""
    reach = temporal_reach(net)
    x = torch.randn(1, 1, 96, 200, generator=torch.Generator().manual_seed(1))
    bumped = x.clone()
    bumped[..., 100] += 5.0
    with torch.no_grad():
        a, b = net(x), net(bumped)
    moved = set()
    for k in a:
        moved |= set(torch.nonzero((a[k] - b[k]).abs().amax(dim=tuple(range(a[k].dim() - 1))) > 0).flatten().tolist())
    assert moved and max(abs(t - 100) for t in moved) <= reach
    assert max(abs(t - 100) for t in moved) >= reach // 2  # the bound is not vacuous either


def test_tiles_give_the_whole_chunks_outputs_and_too_little_context_does_not(net):
    reach = temporal_reach(net)
    x = torch.randn(2, 1, 96, 301, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole, tiled = net(x), tiled_forward(net, x, 64, reach)
        short = tiled_forward(net, x, 64, 1)
    assert set(tiled) == set(whole)
    for k in whole:
        assert tiled[k].shape == whole[k].shape
        torch.testing.assert_close(tiled[k], whole[k], rtol=0, atol=1e-5)
    assert max((short[k] - whole[k]).abs().max().item() for k in whole) > 1e-3  # seams show


def test_a_net_not_declared_local_in_time_is_not_tiled():
    assert temporal_reach(torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3, padding=1))) is None
    strided = torch.nn.Conv1d(1, 1, 3, stride=2)
    strided.local_in_time = True
    assert temporal_reach(strided) is None


def test_the_loaded_transcriber_tiles_on_cpu_with_the_same_activations(tiny_run):
    model = load_transcriber(str(tiny_run.run_dir))
    audio = np.random.default_rng(0).standard_normal(22050 * 4).astype(np.float32) * 0.1
    model.tile_frames = None
    whole = predict_activations(model, audio)
    model.tile_frames = 50
    tiled = predict_activations(model, audio)
    for k in whole:
        np.testing.assert_allclose(tiled[k], whole[k], rtol=0, atol=1e-5, err_msg=k)


def test_precision_names_and_errors():
    assert inference_dtype("fp32", "cpu") == torch.float32
    assert inference_dtype("bf16", "cpu") == torch.bfloat16
    assert inference_dtype("auto", "cpu") == (torch.bfloat16 if native_bf16("cpu") else torch.float32)
    assert inference_dtype("auto", "meta") == torch.float32
    with pytest.raises(TranscribeError, match="precision=fp16: unknown precision 'fp16' .*auto, fp32, bf16"):
        load_transcriber(None, "cpu", "fp16")


@needs_fluidsynth
def test_bf16_moves_the_shipped_models_probabilities_little_and_its_notes_not_at_all(tmp_path):
    """bfloat16 (the default where the CPU runs it natively) against float32 on a rendered piano
    piece (a melody over block chords, 40 notes): probabilities within 0.05, and the decoded
    notes nearly all the same (mir_eval note F1 of one against the other >= 0.95). Measured:
    largest probability difference 0.013, F1 1.0 over 39 notes."""
    import mir_eval

    from wavespace.data.midi import write_midi
    from wavespace.data.rendered import DEFAULT_SOUNDFONT, render_file
    from wavespace.labels import Notes
    from wavespace.transcription.outputs import read_audio

    rng = np.random.default_rng(5)
    onset, pitch = [], []
    for bar in range(4):
        root = int(rng.integers(45, 57))
        onset += [bar * 1.6] * 3
        pitch += [root, root + 4, root + 7]
        for i in range(7):
            onset.append(bar * 1.6 + 0.2 * i)
            pitch.append(int(rng.integers(67, 84)))
    onset = np.array(onset)
    notes = Notes(onset=onset, offset=onset + 0.18 + 1.2 * (np.array(pitch) < 60), pitch=np.array(pitch),
                  velocity=np.full(len(pitch), 80))
    write_midi(notes, tmp_path / "piece.mid")
    render_file(tmp_path / "piece.mid", tmp_path / "piece.wav", DEFAULT_SOUNDFONT, 44100)
    fp32, bf16 = load_transcriber(None, "cpu", "fp32"), load_transcriber(None, "cpu", "bf16")
    audio = read_audio(tmp_path / "piece.wav", int(fp32.features.sample_rate))
    assert next(bf16.net.parameters()).dtype == torch.bfloat16
    (n32, p32), (n16, p16) = transcribe_audio(fp32, audio), transcribe_audio(bf16, audio)
    for k in p32:
        assert p16[k].dtype == np.float32 and np.abs(p16[k] - p32[k]).max() < 0.05, k
    hz = lambda p: 440.0 * 2.0 ** ((np.asarray(p, float) - 69) / 12)  # noqa: E731
    assert len(n32.onset) >= 30
    _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        np.stack([n32.onset, n32.offset], 1), hz(n32.pitch), np.stack([n16.onset, n16.offset], 1),
        hz(n16.pitch), offset_ratio=None)
    assert f1 >= 0.95
