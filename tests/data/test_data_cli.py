"""The CLIs as a user runs them on each dataset: real processes, fixture data, tiny runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import assert_frame_f1, run_cli
from tests.data.conftest import needs_fluidsynth

TINY = ["debug=tiny", "data.train.clip_seconds=2.0"]


def _completed(tmp_path: Path) -> dict:
    [result] = list((tmp_path / "outputs").rglob("result.json"))
    data = json.loads(result.read_text())
    assert data["status"] == "COMPLETED", data
    return data


def test_train_without_the_dataset_ends_with_one_paragraph(tmp_path):
    proc = run_cli("wavespace.train", "data=medley", tmp_path=tmp_path, check=False)
    assert proc.returncode == 1
    err = proc.stderr
    assert "wavespace: error: Dataset 'Medley-solos-DB' not found at" in err
    assert str(tmp_path / "data" / "medley-solos-db") in err and "Expected layout" in err
    assert "Medley-solos-DB_metadata.csv" in err and "https://zenodo.org/record/3464194" in err
    assert "Traceback" not in err and "Error executing job" not in err


def test_prepare_without_the_dataset_raises_the_same_error():
    """In-process: prepare's CLI wrapper prints WavespaceErrors like train's (tested above)."""
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF
    from wavespace.errors import DatasetNotFoundError, find_wavespace_error
    from wavespace.prepare import prepare

    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("prepare", overrides=["data=maestro", "paths.data_dir=/nonexistent/data"])
    with pytest.raises(Exception) as err:  # noqa: B017 - Hydra wraps it; main() unwraps it
        prepare(cfg)
    found = find_wavespace_error(err.value)
    assert isinstance(found, DatasetNotFoundError)
    assert "magenta.tensorflow.org/datasets/maestro" in str(found) and "maestro-v3.0.0.csv" in str(found)
    assert "/nonexistent/data/maestro-v3.0.0" in str(found)


def test_prepare_then_train_on_maestro_reads_the_cache(maestro_copy, tmp_path):
    prep = run_cli("wavespace.prepare", "data=maestro", *TINY[1:], tmp_path=tmp_path)
    assert "train" in prep.stdout and "validation" in prep.stdout
    [index] = list((tmp_path / "cache" / "maestro").glob("train-*/index.json"))
    assert len(json.loads(index.read_text())["files"]) == 6
    proc = run_cli("wavespace.train", "data=maestro", *TINY, "data.train.cache=require", tmp_path=tmp_path)
    log = proc.stdout + proc.stderr
    assert "maestro/train: reading features from the cache" in log
    assert f"maestro/train: {len(maestro_copy.broken)} file(s) skipped, 1 fixed" in log
    assert str(index.parent / "bad_files-maestro-train.json") in log
    result = _completed(tmp_path)
    # Measured 0.0528 (precision 0.027, recall 0.98), the same on two runs (fixture seed 1, seed 0).
    assert_frame_f1(result["metrics"], "test", at_least=0.045)


@needs_fluidsynth
def test_train_on_rendered_midi(tmp_path):
    args = ["data=rendered", *TINY, "data.train.n_files=2", "data.val.n_files=1", "data.test.n_files=1",
            "data.train.seconds=3.0"]
    proc = run_cli("wavespace.train", *args, tmp_path=tmp_path)
    assert "val/frame_f1" in proc.stdout
    result = _completed(tmp_path)
    # Measured 0.0323 (precision 0.017, recall 0.61), the same on two runs; a wider margin for
    # FluidSynth / SoundFont builds that render the same MIDI slightly differently.
    assert_frame_f1(result["metrics"], "val", at_least=0.025)
    assert len(list((tmp_path / "data" / "rendered").rglob("*.wav"))) == 4


@needs_fluidsynth
@pytest.mark.slow
def test_train_the_music_preset_on_rendered_music_like_midi(tmp_path):
    """experiment=rendered_music_transcriber at debug=tiny size, as a user runs it: music-like MIDI
    generated for every split, rendered, trained on, decode thresholds tuned on the music-like
    validation split. Slow (~45 s); CI covers the same path in-process at fast_dev_run size
    (tests/test_compositions.py runs every preset) and the splits' generator in test_presets."""
    args = ["experiment=rendered_music_transcriber", *TINY, "data.train.n_files=2", "data.val.n_files=1",
            "data.test.n_files=1", "data.train.seconds=4.0"]
    run_cli("wavespace.train", *args, tmp_path=tmp_path)
    result = _completed(tmp_path)
    assert {result["config"]["data"][s]["generator"] for s in ("train", "val", "test")} == {"music"}
    assert {"val/threshold_frame", "val/threshold_onset"} <= set(result["metrics"])
    # Measured 0.1016 (precision 0.054, recall 1.0); a margin as above for other FluidSynth builds.
    assert_frame_f1(result["metrics"], "val", at_least=0.08)
    assert len(list((tmp_path / "data" / "rendered").rglob("*.wav"))) == 4


def test_medley_with_a_pitch_model_is_one_paragraph_not_a_traceback(tmp_path):
    from tests.data.conftest import make_medley

    make_medley(tmp_path / "data" / "medley-solos-db", broken=False)
    proc = run_cli("wavespace.train", "data=medley", "debug=tiny", tmp_path=tmp_path, check=False)
    assert proc.returncode == 1
    assert "wavespace: error: The dataset gives no target this model can learn from" in proc.stderr
    assert "instrument labels only" in proc.stderr and "Traceback" not in proc.stderr
