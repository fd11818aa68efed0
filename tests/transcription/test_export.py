"""``python -m wavespace.export``: the graph computes what PyTorch computes, at lengths it was not
traced at, and ``transcribe`` turns it into the same MIDI as the checkpoint.

Tolerance: 1e-4 on probabilities (measured 4e-6 to 9e-6 for the CQT transcriber, ONNX Runtime
and TorchScript, on 1.3 s and 3.1 s inputs; the trace is at 2.0 s).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import CONF, run_cli

ATOL = 1e-4


def _cfg(entry: str, **values):
    """An entry point's config with overrides, as its CLI would see it (no Hydra run needed)."""
    from omegaconf import OmegaConf

    return OmegaConf.merge(OmegaConf.load(CONF / f"{entry}.yaml"), values)


def _export_cfg(**values):
    return _cfg("export", **values)


def _pytorch(ckpt):
    from wavespace.loading import load_transcriber

    return load_transcriber(str(ckpt))


def _signal(seconds: float, batch: int, seed: int) -> torch.Tensor:
    from wavespace.transcription.exporting import probe_signal

    return probe_signal(22050, seconds, batch, seed)


def _same_notes(a: Path, b: Path) -> int:
    from wavespace.data.midi import load_notes

    x, y = load_notes(a, sustain=False, allow_empty=True), load_notes(b, sustain=False, allow_empty=True)
    for field in ("onset", "offset", "pitch", "velocity"):
        np.testing.assert_array_equal(getattr(x, field), getattr(y, field), err_msg=field)
    return len(x.onset)


def test_onnx_export_matches_pytorch_and_transcribes_to_the_same_midi(overfit, tmp_path):
    import onnxruntime as ort

    from wavespace.transcribe import run as transcribe

    model = tmp_path / "shipped" / "model.onnx"
    proc = run_cli("wavespace.export", f"ckpt={overfit.run_dir}", "format=onnx", f"output={model}", tmp_path=tmp_path)
    assert "CQT front-end included" in proc.stdout
    side = json.loads(model.with_name("model.onnx.json").read_text())
    task = _pytorch(overfit.run_dir)
    assert side["format"] == "onnx" and side["frontend"]["included"] is True
    assert (side["sample_rate"], side["hop_length"], side["input"]["name"]) == (22050, 256, "audio")
    assert side["decoding"] == task.decode_params().as_dict()  # the tuned thresholds travel along
    assert side["checkpoint"]["path"] == str(overfit.checkpoint.resolve())
    frame = next(o for o in side["outputs"] if o["name"] == "frame")
    assert frame["shape"] == ["batch", 88, "frames"] and frame["midi_of_row_0"] == 21

    # ONNX Runtime on its own (not through wavespace), at two lengths and batch sizes.
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert names == [o["name"] for o in side["outputs"]]
    for seconds, batch in ((1.1, 1), (2.6, 2)):
        audio = _signal(seconds, batch, seed=5)
        got = dict(zip(names, session.run(None, {"audio": audio.numpy()})))
        want = task.predict_audio(audio)
        assert got["frame"].shape == (batch, 88, audio.shape[-1] // 256 + 1)
        for name in names:
            np.testing.assert_allclose(got[name], want[name].numpy(), rtol=0, atol=ATOL, err_msg=name)

    # The user's command on the exported model; the checkpoint through the same code in-process.
    run_cli("wavespace.transcribe", f"ckpt={model}", f"input={overfit.wav}", f"output={tmp_path / 'from-onnx'}",
            "progress=false", tmp_path=tmp_path)
    transcribe(_cfg("transcribe", ckpt=str(overfit.checkpoint), input=str(overfit.wav),
                    output=str(tmp_path / "from-ckpt"), progress=False))
    assert _same_notes(tmp_path / "from-onnx" / "clip.mid", tmp_path / "from-ckpt" / "clip.mid") > 0


def test_torchscript_export_matches_pytorch_and_gives_the_same_notes(overfit, tmp_path):
    from wavespace.export import run
    from wavespace.loading import load_transcriber
    from wavespace.transcription.inference import transcribe_audio
    from wavespace.transcription.outputs import read_audio

    model = tmp_path / "model.pt"
    summary = run(_export_cfg(ckpt=str(overfit.checkpoint), format="torchscript", output=str(model)))
    assert summary["frontend_included"] and max(summary["check"]["max_abs_diff"].values()) <= ATOL
    traced = torch.jit.load(str(model))  # plain torch: no wavespace model code
    task = _pytorch(overfit.checkpoint)
    names = [o["name"] for o in json.loads(Path(f"{model}.json").read_text())["outputs"]]
    for seconds, batch in ((0.7, 2), (3.3, 1)):
        audio = _signal(seconds, batch, seed=6)
        with torch.no_grad():
            got = dict(zip(names, traced(audio)))
        want = task.predict_audio(audio)
        for name in names:
            torch.testing.assert_close(got[name], want[name], rtol=0, atol=ATOL)
    audio = read_audio(overfit.wav, 22050)
    exported, _ = transcribe_audio(load_transcriber(str(model)), audio)
    reference, _ = transcribe_audio(task, audio)
    assert len(reference.onset) > 0
    for field in ("onset", "offset", "pitch", "velocity"):
        np.testing.assert_array_equal(getattr(exported, field), getattr(reference, field))


def test_a_graph_that_disagrees_with_pytorch_is_not_written(overfit, tmp_path):
    from wavespace.errors import WavespaceError
    from wavespace.export import run

    out = tmp_path / "new" / "model.onnx"
    with pytest.raises(WavespaceError, match="differs from PyTorch by .* Nothing was written"):
        run(_export_cfg(ckpt=str(overfit.checkpoint), output=str(out), frontend="include", atol=1e-12))
    assert not out.parent.exists()


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> dict[str, Path]:
    """Checkpoints the overfit fixture does not cover: a transcriber on mel features (an STFT
    front-end, which the ONNX exporter refuses) and an autoencoder (another task)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from wavespace.train import train

    out = tmp_path_factory.mktemp("export-runs")
    runs = {}
    for key, args in {"mel": ["model=transcriber", "model.net.channels=4", "model.net.key_channels=4",
                              "model.net.onset_channels=4", "model.net.frame_dilations=[1]"],
                      "autoencoder": ["model=convnet1d", "model.net.channels=8"]}.items():
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=[*args, "features=mel", "debug=tiny", "logger=csv", "test=false",
                                              "callbacks.figures=null", f"paths.output_dir={out}"],
                          return_hydra_config=True)
            HydraConfig.instance().set_config(cfg)
            runs[key] = Path(train(cfg)[1]["summary"]["run_dir"])
        GlobalHydra.instance().clear()
    return runs


def test_a_front_end_the_exporter_refuses_stays_in_python(tiny_runs, tmp_path):
    from wavespace.errors import WavespaceError
    from wavespace.export import run
    from wavespace.loading import load_transcriber
    from wavespace.transcription.inference import predict_activations

    model = tmp_path / "mel.onnx"
    with pytest.raises(WavespaceError, match="STFT"):
        run(_export_cfg(ckpt=str(tiny_runs["mel"]), output=str(model), frontend="include"))
    assert list(tmp_path.iterdir()) == []
    summary = run(_export_cfg(ckpt=str(tiny_runs["mel"]), output=str(model)))
    side = json.loads(Path(f"{model}.json").read_text())
    assert not summary["frontend_included"] and side["frontend"]["included"] is False
    assert side["input"]["name"] == "features" and side["input"]["shape"] == ["batch", 1, 256, "frames"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mel.onnx", "mel.onnx.frontend.pt", "mel.onnx.json"]
    audio = _signal(4.0, 1, seed=8)[0].numpy()
    exported = predict_activations(load_transcriber(str(model)), audio, chunk_seconds=1.5, context_seconds=0.5)
    reference = predict_activations(_pytorch(tiny_runs["mel"]), audio, chunk_seconds=1.5, context_seconds=0.5)
    for name, value in reference.items():
        np.testing.assert_allclose(exported[name], value, rtol=0, atol=ATOL, err_msg=name)


@pytest.mark.parametrize(("args", "message"), [
    (["ckpt=RUN", "format=tflite"], "Unknown export format 'tflite'"),
    (["ckpt=/nonexistent/best.ckpt"], "/nonexistent/best.ckpt' is not an existing checkpoint file or run directory"),
    (["ckpt=AUTOENCODER"], "not a transcription model"),
])
def test_bad_requests_are_one_paragraph_and_write_nothing(args, message, tiny_runs, tmp_path):
    args = [a.replace("RUN", str(tiny_runs["mel"])).replace("AUTOENCODER", str(tiny_runs["autoencoder"]))
            for a in args]
    out = tmp_path / "out" / "model.onnx"
    proc = run_cli("wavespace.export", *args, f"output={out}", tmp_path=tmp_path, check=False)
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not out.parent.exists()


def test_a_shipped_model_exports_by_name_into_the_working_directory(tmp_path):
    """`export ckpt=piano-cpu` finds the packaged checkpoint and, with no output=, writes
    ./piano-cpu.onnx (never into the installed package)."""
    from wavespace.pretrained import checkpoint

    proc = run_cli("wavespace.export", "ckpt=piano-cpu", "format=onnx", tmp_path=tmp_path)
    assert (tmp_path / "piano-cpu.onnx").is_file() and (tmp_path / "piano-cpu.onnx.json").is_file(), proc.stdout
    meta = json.loads((tmp_path / "piano-cpu.onnx.json").read_text())
    assert meta["checkpoint"]["path"] == str(checkpoint("piano-cpu").resolve())
    assert not list(checkpoint("piano-cpu").parent.glob("*.onnx"))
