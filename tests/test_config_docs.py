"""docs/config.md is generated from conf/: every config says what it is for in its first
comment, and the committed page matches what the generator writes today."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "gen_config_docs.py"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_config_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_config_starts_with_a_comment_saying_what_it_is_for():
    missing = _generator().undocumented()
    assert not missing, f"start these configs with a one-line comment saying what they are for: {missing}"


def test_config_reference_is_up_to_date():
    gen = _generator()
    page = (REPO / "docs" / "config.md").read_text()
    assert page == gen.render(), f"docs/config.md is out of date: run `{gen.COMMAND}` and commit it"
    assert "| `unet` |" in page and "## `model`" in page and "Default: `model=cnn`." in page
