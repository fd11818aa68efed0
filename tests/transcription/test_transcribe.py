"""Chunked inference without seams, and how the CLI treats bad input."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import child_env, run_cli
from wavespace.transcription.inference import plan_chunks, predict_activations


def test_chunks_tile_every_frame_once():
    for n_samples in (1, 255, 256, 10_000, 100_000):
        chunks = plan_chunks(n_samples, 256, 7, 3)
        kept = np.concatenate([np.arange(c.keep_from, c.keep_to) for c in chunks])
        np.testing.assert_array_equal(kept, np.arange(n_samples // 256 + 1))
        assert all(c.start % 256 == 0 and c.first_frame <= c.keep_from for c in chunks)


def test_chunked_inference_equals_whole_file_inference(compose_cfg):
    from hydra.utils import instantiate

    from wavespace.data import SynthDataset

    cfg = compose_cfg("model=transcriber", "debug=tiny")
    model = instantiate(cfg.model, features=instantiate(cfg.features)).eval()
    audio = SynthDataset(1, clip_seconds=5.0, seed=3).generate(0)[0]
    whole = predict_activations(model, audio, chunk_seconds=60.0, context_seconds=0.0)
    chunked = predict_activations(model, audio, chunk_seconds=0.8, context_seconds=1.5, batch_size=3)
    assert whole["frame"].shape == (88, len(audio) // 256 + 1)
    for name in whole:
        np.testing.assert_allclose(chunked[name], whole[name], atol=1e-3, err_msg=name)
    # Without context the chunk borders do show: the test can tell seams apart.
    seamy = predict_activations(model, audio, chunk_seconds=0.8, context_seconds=0.0)
    assert np.abs(seamy["frame"] - whole["frame"]).max() > 1e-2


def test_bad_files_are_reported_and_skipped(overfit, tmp_path):
    import shutil

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(overfit.wav, src / "sub" / "good.wav")
    (src / "broken.wav").write_bytes(b"RIFF\x00\x00 definitely not audio")
    (src / "notes.txt").write_text("not audio")
    out = tmp_path / "out"
    proc = run_cli("wavespace.transcribe", f"ckpt={overfit.checkpoint}", f"input={src}", f"output={out}",
                   "progress=false", tmp_path=tmp_path)
    assert (out / "sub" / "good.mid").is_file() and not (out / "broken.mid").exists()
    assert "skipped 1 unreadable file" in proc.stdout and "broken.wav" in proc.stdout
    assert "ignored 1 file" in proc.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["input=IN", "output=OUT"], "No checkpoint given (ckpt=PATH), so the default shipped model 'piano-cpu'"),
    (["ckpt=/nonexistent.ckpt", "input=IN", "output=OUT"], "is not an existing checkpoint file or run directory"),
    (["ckpt=piano-gpu", "input=IN", "output=OUT"], "shipped model by name: piano-cpu"),
])
def test_cli_errors_are_one_paragraph(args, message, tmp_path):
    """Without ckpt= the default shipped model is used; where it is not built yet (an empty
    model folder here), the message names the make target that produces it."""
    (tmp_path / "IN").mkdir()
    (tmp_path / "IN" / "x.wav").write_bytes(b"")
    env = child_env(tmp_path, WAVESPACE_PRETRAINED_DIR=str(tmp_path / "no-models"))
    proc = run_cli("wavespace.transcribe", *args, tmp_path=tmp_path, check=False, env=env)
    if "ckpt=" not in args[0]:
        assert "`make pretrained` produces it" in proc.stderr
    assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr


def test_output_names_keep_the_whole_stem_and_refuse_collisions(tmp_path):
    """``bwv93.7.wav`` -> ``bwv93.7.mid`` (not ``bwv93.mid``); two inputs that would write one
    output (.mid, .salience.npy or .png) are refused before anything is written, naming both."""
    from wavespace.transcription.inference import TranscribeError
    from wavespace.transcription.outputs import output_paths

    root, out = tmp_path / "in", tmp_path / "out"
    files = [root / "bwv93.7.wav", root / "a.v1.wav", root / "a.v2.wav", root / "sub" / "b.flac"]
    plans = output_paths(files, root, out, [".mid", ".salience.npy", ".png"])
    assert [p[".mid"] for p in plans] == [out / "bwv93.7.mid", out / "a.v1.mid", out / "a.v2.mid", out / "sub" / "b.mid"]
    assert plans[0][".salience.npy"] == out / "bwv93.7.salience.npy" and plans[0][".png"] == out / "bwv93.7.png"
    with pytest.raises(TranscribeError) as err:
        output_paths([root / "b.flac", root / "b.wav", root / "sub" / "b.wav"], root, out, [".mid"])
    assert f"{root / 'b.flac'} and {root / 'b.wav'} would both write {out / 'b.mid'}" in str(err.value)
    assert "sub" not in str(err.value)


def test_the_collision_folder_writes_nothing(overfit, tmp_path):
    """The issue's folder: before, 7 inputs reported 7 files written and left 3."""
    import soundfile as sf

    src = tmp_path / "in"
    src.mkdir()
    audio, sr = sf.read(overfit.wav)
    for name in ("a.v1.wav", "a.v2.wav", "b.wav", "b.flac", "piano.flac", "piano.mp3", "piano.ogg"):
        fmt = {"mp3": "MP3", "ogg": "OGG"}.get(name.rsplit(".", 1)[1])
        sf.write(src / name, audio, sr, **({"format": fmt} if fmt else {}))
    out = tmp_path / "out"
    proc = run_cli("wavespace.transcribe", f"ckpt={overfit.checkpoint}", f"input={src}", f"output={out}",
                   "progress=false", tmp_path=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"{src / 'b.flac'} and {src / 'b.wav'} would both write {out / 'b.mid'}" in proc.stderr
    assert f"{src / 'piano.flac'} and {src / 'piano.ogg'} would both write {out / 'piano.mid'}" in proc.stderr
    assert "a.v1" not in proc.stderr and not out.exists()
    (src / "b.flac").unlink()
    for name in ("piano.mp3", "piano.ogg"):
        (src / name).unlink()
    run_cli("wavespace.transcribe", f"ckpt={overfit.checkpoint}", f"input={src}", f"output={out}",
            "progress=false", tmp_path=tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["a.v1.mid", "a.v2.mid", "b.mid", "piano.mid"]


def test_basic_pitch_style_cli_writes_one_midi_per_input(overfit, tmp_path):
    """`wavespace-transcribe OUT_DIR A.wav B.wav --ckpt RUN` (basic-pitch's form): one OUT_DIR/<name>.mid
    per input, flat, whatever folder each came from; --save-note-events adds the notes as CSV."""
    import csv
    import shutil

    from wavespace.data.midi import load_notes
    from wavespace.transcription.metrics import note_scores

    a, b = tmp_path / "a" / "clip.wav", tmp_path / "b" / "again.wav"
    for dst in (a, b):
        dst.parent.mkdir()
        shutil.copy(overfit.wav, dst)
    out = tmp_path / "midi"
    proc = run_cli("wavespace.transcribe", str(out), str(a), str(b), "--ckpt", str(overfit.run_dir),
                   "--save-note-events", "--quiet", tmp_path=tmp_path)
    assert "wrote 2 MIDI file(s)" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["again.mid", "again.notes.csv", "clip.mid", "clip.notes.csv"]
    notes = load_notes(out / "clip.mid", sustain=False, allow_empty=True)
    assert note_scores(overfit.notes, notes)["note_f1"] >= 0.8  # the known answer, as the Hydra form gives
    rows = list(csv.DictReader((out / "again.notes.csv").open()))
    assert len(rows) == len(notes) and set(rows[0]) == {"start_time_s", "end_time_s", "pitch_midi", "velocity"}
    assert sorted(int(r["pitch_midi"]) for r in rows) == sorted(int(p) for p in notes.pitch)


def test_basic_pitch_style_cli_errors(tmp_path, capsys, monkeypatch):
    """No --ckpt and no default model built: one paragraph naming the make target and --ckpt,
    exit 1. Missing arguments: argparse's usage, exit 2. Words with '=' (or Hydra's flags) go
    to the Hydra form."""
    from wavespace.transcribe import cli, looks_like_hydra

    monkeypatch.setenv("WAVESPACE_PRETRAINED_DIR", str(tmp_path / "no-models"))
    (tmp_path / "in.wav").write_bytes(b"")
    with pytest.raises(SystemExit) as info:
        cli([str(tmp_path / "out"), str(tmp_path / "in.wav")])
    err = capsys.readouterr().err
    assert info.value.code == 1 and "`make pretrained` produces it" in err and "--ckpt PATH" in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as info:
        cli([str(tmp_path / "out")])
    assert info.value.code == 2 and "audio_paths" in capsys.readouterr().err
    assert looks_like_hydra(["ckpt=x", "input=a.wav", "output=o"]) and looks_like_hydra(["--cfg", "job"])
    assert not looks_like_hydra(["out", "a.wav", "--ckpt", "x", "--onset-threshold=0.4"])
