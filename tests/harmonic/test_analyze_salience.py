"""``python -m wavespace.analyze salience``: table and figures on labelled synth, figures and one
paragraph on unlabelled Medley-format clips, one paragraph and exit 1 for another task's run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.data.fixtures import medley

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["model=harmonic", "debug=tiny", "logger=csv", "model.net.unet.depth=2", "model.net.unet.channels=4"]


def _train(compose_cfg, *overrides: str) -> Path:
    from wavespace.train import train

    _, objects = train(compose_cfg(*overrides))
    return Path(objects["run"].run_dir)


def test_synth_run_gets_the_table_of_three_detectors_and_the_figures(compose_cfg, tmp_path, capsys):
    from wavespace.analyze.__main__ import main

    run = _train(compose_cfg, *TINY, "data.val.length=4", "data.test.length=4", "+data.train.weak_fundamental=0.5")
    assert main(["salience", str(run), "limit=4", "batch_size=2"]) == 0
    out = run / "analysis" / "salience-test"
    summary = json.loads((out / "salience.json").read_text())
    assert summary["clips"] == 4 and summary["split"] == "test"
    assert set(summary["table"]) == {"model", "cqt_peaks", "harmonic_summation"}
    for row in summary["table"].values():
        assert set(row) == {"precision", "recall", "f1", "accuracy", "fraction", "val_f1"}
    # raw CQT peaks on clean synthetic tones find real pitches: a broken scorer would give 0
    assert summary["table"]["cqt_peaks"]["recall"] > 0.3
    for name in ("kernels", "clip", "dual"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
    assert not (out / "channels.png").exists()  # synth has no instrument labels
    printed = capsys.readouterr().out
    assert "harmonic_summation" in printed and "cqt_peaks" in printed


def test_unlabelled_medley_split_gets_figures_and_one_paragraph(compose_cfg, tmp_path, capsys):
    from wavespace.analyze.__main__ import main

    run = _train(compose_cfg, *TINY, "data=medley", *medley(tmp_path))
    assert main(["salience", str(run), "split=val", "out=" + str(tmp_path / "ana")]) == 0
    summary = json.loads((tmp_path / "ana" / "salience.json").read_text())
    assert summary["table"] is None and "carries no pitch labels" in summary["note"]
    for name in ("kernels", "clip", "channels"):
        assert (tmp_path / "ana" / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
    assert "carries no pitch labels" in capsys.readouterr().out


def test_another_tasks_run_and_bad_options_are_one_paragraph(compose_cfg, tmp_path):
    run = _train(compose_cfg, "debug=tiny", "logger=csv", "test=false")  # the default: model=cnn
    proc = run_cli("wavespace.analyze", "salience", str(run), tmp_path=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "SupervisedSalience" in proc.stderr and "model=harmonic" in proc.stderr
    assert not (run / "analysis").exists()
    proc = run_cli("wavespace.analyze", "salience", str(run), "colour=red", tmp_path=tmp_path, check=False)
    assert proc.returncode == 1 and "bad argument 'colour=red'" in proc.stderr


@pytest.mark.parametrize("split", ["dev"])
def test_unknown_split_is_refused(split):
    from wavespace.analyze.salience import SalienceAnalysisError, parse_args

    with pytest.raises(SalienceAnalysisError, match="not a split"):
        parse_args(["run", f"split={split}"])
