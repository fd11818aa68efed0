"""Every runtime dependency in pyproject.toml is imported by the package (unused ones are dropped
or moved to an extra), and the installed nnAudio is the one features/cqt.py was written against."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re

import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_distributions() -> set[str]:
    tops = set()
    for path in (REPO / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                tops |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                tops.add(node.module.split(".")[0])
    by_module = md.packages_distributions()
    return {_norm(d) for top in tops for d in by_module.get(top, [])}


def test_every_runtime_dependency_is_imported_by_the_package():
    used = _imported_distributions()
    unused = [r for r in PYPROJECT["project"]["dependencies"] if _norm(Requirement(r).name) not in used]
    assert not unused, f"src/ never imports {unused}: drop them or move them to an optional extra"


def test_installed_nnaudio_satisfies_the_pin():
    [req] = [Requirement(r) for r in PYPROJECT["project"]["dependencies"] if _norm(Requirement(r).name) == "nnaudio"]
    assert req.specifier.contains(md.version("nnAudio")), f"installed nnAudio {md.version('nnAudio')} is not {req}"
