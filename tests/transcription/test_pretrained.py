"""Shipped models: a run published as a slim checkpoint reloads by name with identical outputs,
is the default of both transcribe command forms, and the inference path never imports Lightning."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import wavespace
import wavespace.pretrained as pretrained
from tests.conftest import child_env, run_cli
from tests.data.conftest import needs_fluidsynth
from wavespace.loading import load_transcriber
from wavespace.pretrained.publish import publish


@pytest.fixture
def shelf(tmp_path, monkeypatch):
    """An empty model folder in place of the package's own (WAVESPACE_PRETRAINED_DIR)."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    monkeypatch.setenv(pretrained.ENV, str(folder))
    return folder


def _audio(seconds: float = 2.0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).standard_normal((1, int(22050 * seconds))).astype(np.float32) * 0.1)


def test_a_published_run_reloads_by_name_with_identical_outputs(tiny_run, shelf):
    ckpt, meta_path = publish(tiny_run.run_dir, "tiny-test", bench=None)
    assert (ckpt, meta_path) == (shelf / "tiny-test.ckpt", shelf / "tiny-test.json")
    assert ckpt.stat().st_size < tiny_run.checkpoint.stat().st_size  # no optimizer / loop state
    assert "optimizer_states" not in torch.load(ckpt, weights_only=True)
    x = _audio()
    for load in (wavespace.load, load_transcriber):  # the task, and the inference-only model
        by_run, by_name = load(str(tiny_run.run_dir)), load("tiny-test")
        a, b = by_run.predict_audio(x), by_name.predict_audio(x)
        assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
        assert by_name.decode_params() == by_run.decode_params()
    meta = json.loads(meta_path.read_text())
    stored = torch.load(tiny_run.checkpoint, weights_only=True)["state_dict"]["decode_thresholds"].tolist()
    assert [meta["thresholds"][k] for k in ("frame", "onset", "offset")] == stored and meta["bytes"] == ckpt.stat().st_size
    assert meta["preset"] and meta["code_version"] and "val/note_f1" in meta["metrics"]
    # The checkpoint's own validation scores (stored when it was written), not the last epoch's:
    # its tuned thresholds are the ones validation reported at that epoch.
    saved = torch.load(tiny_run.checkpoint, weights_only=True)["wavespace"]["val_metrics"]
    assert meta["metrics"]["val/note_f1"] == pytest.approx(saved["val/note_f1"])
    assert meta["metrics_source"].startswith("validation when the checkpoint was written")
    for k in ("frame", "onset"):
        if f"val/threshold_{k}" in saved:
            assert meta["thresholds"][k] == pytest.approx(saved[f"val/threshold_{k}"])
    assert "tiny-test" in pretrained.names() and "tiny-test" in pretrained.available()


def test_bench_numbers_are_kept_only_for_the_checkpoint_they_measured(tiny_run, shelf, tmp_path):
    results = tmp_path / "results.json"
    systems = {"wavespace": {"b/all": {"frame_f1": 0.7, "note_f1": 0.8, "note_offset_f1": 0.4, "rtf": 0.02}}}
    results.write_text(json.dumps({"checkpoint": str(tiny_run.run_dir), "systems": systems, "pieces": ["x"]}))
    _, meta_path = publish(tiny_run.run_dir, "tiny-test", bench=results)
    bench = json.loads(meta_path.read_text())["bench"]
    assert bench["systems"] == systems and "pieces" not in bench
    # Benched again by name (the shipped slim copy: the same weights in another file): accepted.
    results.write_text(json.dumps({"checkpoint": "tiny-test", "systems": systems}))
    _, meta_path = publish(tiny_run.run_dir, "tiny-test", bench=results)
    assert json.loads(meta_path.read_text())["bench"]["systems"] == systems
    results.write_text(json.dumps({"checkpoint": str(tmp_path / "other-run"), "systems": systems}))
    with pytest.raises(pretrained.PretrainedError, match="not of the checkpoint being published"):
        publish(tiny_run.run_dir, "tiny-test", bench=results)
    other = tmp_path / "other.ckpt"  # a file with other weights
    state = torch.load(tiny_run.checkpoint, weights_only=True)
    state["state_dict"] = {k: v + 1 if v.is_floating_point() else v for k, v in state["state_dict"].items()}
    torch.save(state, other)
    results.write_text(json.dumps({"checkpoint": str(other), "systems": systems}))
    with pytest.raises(pretrained.PretrainedError, match="not of the checkpoint being published"):
        publish(tiny_run.run_dir, "tiny-test", bench=results)


def test_unknown_and_unbuilt_names_say_what_exists_and_how_to_make_it(shelf):
    with pytest.raises(pretrained.PretrainedError, match=r"'piano-cpu' is not in this installation yet .*`make pretrained`"):
        wavespace.load("piano-cpu")
    (shelf / "mine.json").write_text("{}")
    with pytest.raises(pretrained.PretrainedError, match="shipped model by name: mine, piano-cpu"):
        wavespace.load("piano")


def test_transcribe_without_a_checkpoint_uses_the_default_shipped_model(tiny_run, shelf, tmp_path, capsys):
    """Both command forms: `python -m wavespace.transcribe input= output=` (Hydra) and
    `wavespace-transcribe OUT IN.wav` (basic-pitch's), neither naming a checkpoint."""
    import soundfile as sf

    from wavespace.transcribe import cli

    publish(tiny_run.run_dir, pretrained.DEFAULT)
    wav = tmp_path / "song.wav"
    sf.write(wav, _audio(1.0)[0].numpy(), 22050)
    run_cli("wavespace.transcribe", f"input={wav}", f"output={tmp_path / 'hydra'}", "progress=false",
            tmp_path=tmp_path, env=child_env(tmp_path, WAVESPACE_PRETRAINED_DIR=str(shelf)))
    assert cli([str(tmp_path / "bp"), str(wav), "--quiet"]) == 0
    assert "wrote 1 MIDI file" in capsys.readouterr().out
    assert (tmp_path / "hydra" / "song.mid").is_file() and (tmp_path / "bp" / "song.mid").is_file()


def test_inference_loads_no_lightning(tiny_run):
    """Start-up: loading a transcriber and reading/writing files imports neither Lightning nor
    torchmetrics (seconds of imports on a small CPU); wavespace.load (the task) still can."""
    code = ("import sys; from wavespace.loading import load_transcriber; import wavespace.transcribe; "
            "import wavespace.transcription.outputs, wavespace.data.midi; "
            f"m = load_transcriber({str(tiny_run.run_dir)!r}); "
            "print(type(m).__name__, sorted({n.split('.')[0] for n in sys.modules} & {'lightning', 'torchmetrics', 'wandb'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.split() == ["Transcriber", "[]"], out.stderr


@needs_fluidsynth
def test_the_shipped_piano_cpu_is_intact_and_transcribes_a_rendered_piano_piece(tmp_path):
    """The model in the package is the one its JSON describes (size, SHA-256), and the default
    `transcribe` (no ckpt=) finds the notes of a rendered piano piece: a melody over two triads
    (14 notes, chords and repeated pitches), scored with mir_eval (onsets within 50 ms)."""
    import hashlib

    import mir_eval
    import pretty_midi

    from wavespace.data.midi import write_midi
    from wavespace.data.rendered import DEFAULT_SOUNDFONT, render_file
    from wavespace.labels import Notes

    meta = pretrained.metadata("piano-cpu")
    data = pretrained.checkpoint("piano-cpu").read_bytes()
    assert len(data) == meta["bytes"] and hashlib.sha256(data).hexdigest() == meta["sha256"]

    melody = [72, 74, 76, 77, 79, 77, 76, 74]
    onset = [0.25 + 0.4 * i for i in range(8)] + [0.25] * 3 + [1.85] * 3
    offset = [t + 0.35 for t in onset[:8]] + [1.75] * 3 + [3.35] * 3
    pitch = melody + [48, 55, 64, 53, 57, 60]
    ref = Notes(onset=np.array(onset), offset=np.array(offset), pitch=np.array(pitch), velocity=np.full(14, 80))
    write_midi(ref, tmp_path / "piece.mid")
    render_file(tmp_path / "piece.mid", tmp_path / "in" / "piece.wav", DEFAULT_SOUNDFONT, 44100)
    env = child_env(tmp_path)  # no WAVESPACE_PRETRAINED_DIR: the package's own folder
    run_cli("wavespace.transcribe", f"input={tmp_path / 'in'}", f"output={tmp_path / 'out'}", "progress=false",
            tmp_path=tmp_path, env=env)
    [midi] = sorted((tmp_path / "out").glob("*.mid"))
    est = [n for inst in pretty_midi.PrettyMIDI(str(midi)).instruments for n in inst.notes]
    hz = lambda p: 440.0 * 2.0 ** ((np.asarray(p, dtype=float) - 69) / 12)  # noqa: E731
    _, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        np.stack([ref.onset, ref.offset], 1), hz(ref.pitch),
        np.array([[n.start, n.end] for n in est]).reshape(-1, 2), hz([n.pitch for n in est]), offset_ratio=None)
    assert recall >= 0.9 and f1 >= 0.85, (recall, f1, sorted((n.pitch, round(n.start, 2)) for n in est))
