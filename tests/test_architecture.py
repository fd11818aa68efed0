"""The house rules of ARCHITECTURE.md, checked on the source: four layers, imports only downwards
(or sideways without cycles), no entry point importing another, no file past ~400 lines."""

from __future__ import annotations

import ast
from collections import defaultdict

from tests.conftest import REPO

SRC = REPO / "src"
MAX_LINES = 400
# Layer of each top-level part of the package (wavespace.<part>); higher layers import lower ones.
LAYERS = {
    4: {"train", "prepare", "transcribe", "evaluate", "analyze", "export", "cloud", "hydra_plugins"},
    3: {"tasks", "callbacks", "nonfinite", "loading", "tuning", "__init__"},
    2: {"models", "features", "transcription"},
    1: {"data", "labels", "errors", "config", "run", "provenance", "figures", "loggers", "utils", "geometry", "files",
        "pretrained"},
}
LAYER_OF = {part: layer for layer, parts in LAYERS.items() for part in parts}
# Entry points and families that must not import each other even though they share a layer.
FORBIDDEN = {("evaluate", "transcribe"), ("transcribe", "evaluate"), ("cloud", "hydra_plugins"),
             ("train", "transcribe"), ("train", "evaluate"), ("export", "transcribe"),
             ("transcribe", "export"), ("evaluate", "export")}


def _part(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "hydra_plugins":
        return "hydra_plugins"
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> dict[str, set[str]]:
    """Every wavespace module -> the wavespace modules it imports (function-level imports too)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        module = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            edges[module] |= {n for n in names if n.startswith(("wavespace", "hydra_plugins.wavespace"))}
    return edges


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(m) for m in _imports()}
    assert parts - set(LAYER_OF) == set(), "give new packages a layer in LAYERS (and ARCHITECTURE.md)"


def test_imports_never_run_up_the_layers_nor_between_entry_points():
    bad = []
    for module, targets in _imports().items():
        for target in targets:
            a, b = _part(module), _part(target)
            if a == b:
                continue
            if LAYER_OF.get(b, 0) > LAYER_OF.get(a, 0) or (a, b) in FORBIDDEN:
                bad.append(f"{module} (layer {LAYER_OF.get(a)}) imports {target} (layer {LAYER_OF.get(b)})")
    assert bad == []


def test_parts_of_one_layer_import_each_other_without_cycles():
    graph: dict[str, set[str]] = defaultdict(set)
    for module, targets in _imports().items():
        for target in targets:
            a, b = _part(module), _part(target)
            if a != b and LAYER_OF.get(a) == LAYER_OF.get(b):
                graph[a].add(b)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    assert [p for p in list(graph) if reaches(p, p, {p})] == []


def test_no_source_file_is_too_long_to_read_in_one_sitting():
    long = {str(p.relative_to(REPO)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
