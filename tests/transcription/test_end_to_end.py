"""Known-answer end to end: a model overfit to one clip transcribes that clip's WAV via the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli
from wavespace.data.midi import load_notes
from wavespace.transcription.metrics import transcription_scores


def test_transcribe_cli_recovers_the_known_notes(overfit, tmp_path):
    out = tmp_path / "midi"
    proc = run_cli("wavespace.transcribe", f"ckpt={overfit.run_dir}", f"input={overfit.wav}",
                   f"output={out}", "save_salience=true", "save_png=true", "chunk_seconds=0.7",
                   tmp_path=tmp_path)
    assert "wrote 1 MIDI file" in proc.stdout
    est = load_notes(out / "clip.mid", sustain=False, allow_empty=True)
    scores = transcription_scores(overfit.notes, est)
    assert scores["note_f1"] >= 0.8, (scores, overfit.notes, est)
    assert scores["frame_f1"] >= 0.8, scores
    sal = np.load(out / "clip.salience.npy")
    assert sal.shape[0] == 264 and (out / "clip.png").stat().st_size > 1000


def test_thresholds_tuned_on_validation_are_in_the_checkpoint(overfit):
    import csv

    import torch

    import wavespace

    ckpt = torch.load(overfit.checkpoint, map_location="cpu", weights_only=True)
    stored = ckpt["state_dict"]["decode_thresholds"].tolist()
    model = wavespace.load(overfit.checkpoint)
    params = model.decode_params()
    assert [params.frame_threshold, params.onset_threshold, params.offset_threshold] == stored
    # The validation pass of the checkpoint's epoch logged the same tuned thresholds.
    [log] = list(overfit.run_dir.glob("csv/*/metrics.csv"))
    rows = [r for r in csv.DictReader(log.open()) if r.get("val/threshold_frame")]
    assert len(rows) == 4  # epochs 24, 49, 74, 99
    [row] = [r for r in rows if int(r["epoch"]) == ckpt["epoch"]]
    assert [float(row[f"val/threshold_{k}"]) for k in ("frame", "onset", "offset")] == stored
    assert stored[:2] != [0.5, 0.5]  # tuning moved at least one of them off the configured default
    assert stored[2] == 0.5  # no offset head: the offset threshold is not tuned
    metrics = json.loads((overfit.run_dir / "metrics.json").read_text())["metrics"]
    assert {"val/note_f1", "val/note_offset_f1", "test/note_f1", "test/note_offset_f1"} <= set(metrics)
    # The frame threshold is chosen on the frames of the decoded notes (what evaluate scores):
    # for a model that knows its clip, those frames match the labels almost everywhere.
    assert metrics["val/frame_f1_notes"] >= 0.8, metrics


def test_evaluate_cli_scores_pieces_and_writes_json(overfit, tmp_path):
    out = tmp_path / "eval.json"
    proc = run_cli("wavespace.evaluate", f"ckpt={overfit.checkpoint}", "data=synth", "split=test",
                   "data.test.length=1", "data.test.seed=7", "data.test.max_polyphony=2",
                   f"output={out}", tmp_path=tmp_path)
    assert "note F1" in proc.stdout and "mean (1)" in proc.stdout
    result = json.loads(out.read_text())
    assert result["split"] == "test" and result["data"] == "synth" and len(result["pieces"]) == 1
    assert result["mean"]["note_f1"] >= 0.8 and result["real_time_factor"] > 0
    from wavespace.models.inference import inference_dtype

    assert result["precision"] == str(inference_dtype("auto", "cpu")).removeprefix("torch.")  # what it ran in
    # The transcriber has a velocity head: note-with-velocity scores (mir_eval) are reported.
    assert "note+vel F1" in proc.stdout and result["velocity"].startswith("note_velocity_")
    mean = result["mean"]
    # mir_eval filters the note (with offset) matching by velocity: never above those F1s.
    assert 0.0 <= mean["note_velocity_f1"] <= mean["note_f1"]
    assert 0.0 <= mean["note_offset_velocity_f1"] <= mean["note_offset_f1"]


def test_evaluate_cli_on_maestro_layout_scores_whole_pieces(overfit, tmp_path):
    """Two test pieces in the MAESTRO layout: the overfit clip itself (44.1 kHz stereo WAV + its
    notes as MIDI: a known answer) and a fixture piece of tones the model never heard."""
    import shutil

    from tests.data.conftest import make_maestro
    from wavespace.data.midi import write_midi

    root = tmp_path / "data" / "maestro-v3.0.0"
    layout = {"train": 1, "validation": 1, "test": 2}
    fx = make_maestro(root, seconds=2.0, broken=False, layout=layout)  # 2 s: the clip's length
    known, unseen = [k for k in fx.notes if k.split("/")[0] in ("2004", "2006")][-2:]
    shutil.copyfile(overfit.wav, root / known)
    write_midi(overfit.notes, root / known.replace(".wav", ".midi"))
    out = tmp_path / "eval.json"
    run_cli("wavespace.evaluate", f"ckpt={overfit.checkpoint}", "data=maestro", "split=test",
            "data.train.cache=off", "data.train.clip_seconds=1.0", f"output={out}", "progress=false",
            tmp_path=tmp_path)
    result = json.loads(out.read_text())
    assert len(result["pieces"]) == 2 and result["data"] == "maestro"
    pieces = {r["piece"]: r for r in result["pieces"]}
    mine, other = pieces[known.removesuffix(".wav")], pieces[unseen.removesuffix(".wav")]
    assert mine["n_ref"] == len(overfit.notes) and other["n_ref"] == len(fx.notes[unseen])
    # The whole-piece path (read, down-mix, resample, chunked inference, decoding) on the clip the
    # model knows. Measured: note F1 1.0 (2 of 2 notes), frame F1 0.997. The clip has 2 notes, so
    # 0.8 allows one spurious note and nothing else; frame F1 0.95 leaves 0.047 for other builds.
    assert mine["note_f1"] >= 0.8 and mine["frame_f1"] >= 0.95, mine
    for r in result["pieces"]:  # every score is mir_eval's F1 of the reported precision/recall
        p, rc = r["note_precision"], r["note_recall"]
        assert r["note_f1"] == pytest.approx(2 * p * rc / (p + rc) if p + rc else 0.0, abs=1e-9)
    assert result["mean"]["note_f1"] == pytest.approx(np.mean([r["note_f1"] for r in result["pieces"]]))


def test_evaluate_can_reuse_the_checkpoints_data_settings(overfit, tmp_path):
    out = tmp_path / "eval.json"
    run_cli("wavespace.evaluate", f"ckpt={overfit.checkpoint}", "data_from_checkpoint=true", "split=val",
            f"output={out}", "progress=false", tmp_path=tmp_path)
    result = json.loads(out.read_text())  # the training run's own 1-clip val split (seed 7)
    assert result["split"] == "val" and [r["piece"] for r in result["pieces"]] == ["synth-7-00000"]
    assert result["mean"]["note_f1"] >= 0.8


def test_evaluate_without_a_velocity_head_says_velocity_f1_is_absent(compose_cfg):
    """The default model (model=cnn) has no velocity head: its note velocities are onset
    probabilities, so no note-with-velocity score is reported, and the table says why."""
    from wavespace.data import SynthDataset
    from wavespace.loading import build_model
    from wavespace.transcription.evaluation import evaluate_model, format_table, iter_pieces

    model = build_model(compose_cfg("debug=tiny")).eval()
    result = evaluate_model(model, iter_pieces(SynthDataset(1, seed=3)), progress=False)
    assert "note_velocity_f1" not in result["mean"] and "note_velocity_f1" not in result["pieces"][0]
    assert result["velocity"].startswith("absent: the model has no velocity head")
    assert "note-with-velocity F1 absent" in format_table(result)
