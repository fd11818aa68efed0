"""The commands in README.md and docs/*.md work, and the README's config table is complete.

Every command of a shell block (```bash, sh, shell, console; or an unlabeled block of
`python -m wavespace...`, `make ...`, `wavespace-...` lines) is checked without training anything:

* `python -m wavespace.train ...` / `wavespace-train ...`: the config is composed with Hydra's
  compose API from the same overrides (each value of a sweep, and of a preset's
  `hydra.sweeper.params`, in turn), resolved, and passed through `wavespace.train.check_config`;
* the other Hydra entry points (`transcribe`, `evaluate`, `prepare`, ...): their config composed;
* entry points with an argparse parser (`analyze`, `cloud`, transcribe's basic-pitch form): the
  arguments parse, and `analyze`'s key=value options are known ones;
* `make TARGET ...`: `make -n TARGET ...` succeeds, and ARGS of the targets that wrap an entry
  point are checked as that entry point's arguments;
* `--help` of an entry point: run for real (exit status 0).

Anything else (network, Runpod, Docker, long benchmarks, commands that rewrite committed files)
sits in ALLOWED with the reason. Placeholders written `<like-this>` are filled with a word.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CONF, REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_LABELS = {"bash", "sh", "shell", "console"}
COMMAND_PREFIXES = ("python -m wavespace", "make ", "wavespace-")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
PYTHONS = {"python", "python3", ".venv/bin/python"}
HOW_TO_FIX = (
    "Every shell command in README.md and docs/*.md is checked by tests/test_docs.py. Make it one the "
    "test checks (python -m wavespace.<entry point> with Hydra overrides or its parser's arguments, "
    "wavespace-<entry point>, make <target>), or, if it cannot run here (network, Runpod, Docker, a "
    "long benchmark), add it to ALLOWED in tests/test_docs.py with that reason.")

# Commands that cannot be checked here, with why. Exact text (comments stripped), so a new or
# edited command is seen.
ALLOWED = {
    "export RUNPOD_API_KEY=... WANDB_API_KEY=...": "sets secrets in the user's shell",
    "mkdir -p data/medley-solos-db/audio": "datasets.md: unpacking a download the user made",
    "tar -xzf data/medley-solos-db/Medley-solos-DB.tar.gz -C data/medley-solos-db/audio":
        "datasets.md: unpacking a download the user made",
    "unzip maestro-v3.0.0.zip -d data/": "datasets.md: unpacking a download the user made",
}
# Make targets that run an entry point with $(ARGS): the command they stand for.
MAKE_WRAPS = {"train": ["python", "-m", "wavespace.train"], "multirun": ["python", "-m", "wavespace.train", "-m"],
              "search": ["python", "-m", "wavespace.train", "-m", "hparams_search=optuna"],
              "transcribe": ["python", "-m", "wavespace.transcribe"], "evaluate": ["python", "-m", "wavespace.evaluate"],
              "prepare": ["python", "-m", "wavespace.prepare"], "analyze": ["python", "-m", "wavespace.analyze"],
              "export": ["python", "-m", "wavespace.export"]}


class Unchecked(Exception):
    """A command of a kind this test has no check for."""


@dataclass(frozen=True)
class Command:
    where: str        # file:line
    tokens: tuple[str, ...]

    @property
    def text(self) -> str:
        return shlex.join(self.tokens)


def shell_blocks(path: Path) -> list[tuple[int, str]]:
    """(first line number, text) of the blocks that hold shell commands."""
    out, lines, i = [], path.read_text().splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, label = m.groups()
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        text = "\n".join(body)
        if label in SHELL_LABELS or (not label and any(b.lstrip().startswith(COMMAND_PREFIXES) for b in body)):
            out.append((i + 2, text))
        i = j + 1
    return out


def commands(path: Path) -> list[Command]:
    """Each command line of the file's shell blocks, split at &&, || and ;."""
    out = []
    for start, text in shell_blocks(path):
        lines = text.replace("\\\n", " ").splitlines()
        prompt = any(x.startswith("$ ") for x in lines)  # console: `$ ` marks commands, the rest is output
        for n, line in enumerate(lines):
            if prompt and not line.startswith("$ "):
                continue
            line = re.sub(r"<([\w.-]+)>", lambda m: m.group(1).upper().replace("-", "_"), line.removeprefix("$ "))
            tokens = shlex.split(line, comments=True)
            part: list[str] = []
            for tok in [*tokens, "&&"]:
                if tok in ("&&", "||", ";"):
                    if part:
                        out.append(Command(f"{path.relative_to(REPO)}:{start + n}", tuple(part)))
                    part = []
                else:
                    part.append(tok)
    return out


ALL = [c for doc in DOCS for c in commands(doc)]


def strip_prefixes(tokens: list[str]) -> list[str]:
    """Drop `VAR=value`, `nice [-n N]` and `time` in front of a command."""
    while tokens:
        if re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", tokens[0]) or tokens[0] == "time":
            tokens = tokens[1:]
        elif tokens[0] == "nice":
            tokens = tokens[3:] if tokens[1:2] == ["-n"] else tokens[1:]
        else:
            return tokens
    return tokens


def override_values(override) -> list[str]:
    """The values a (possibly sweeping) Hydra override takes: each choice, or an interval's ends."""
    from hydra.core.override_parser.types import IntervalSweep

    if not override.is_sweep_override():
        return [override.get_value_element_as_str()]
    value = override.value()
    if isinstance(value, IntervalSweep):
        return [str(value.start), str(value.end)]
    return list(override.sweep_string_iterator())


def jobs(overrides: list[str]) -> list[list[str]]:
    """Override lists that together take every value of every sweep: job k takes each sweep's
    k-th value (its last once it has no more), so a sweep costs as many jobs as its longest axis."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    options = [[f"{o.get_key_element()}={v}" for v in override_values(o)] if o.is_sweep_override()
               else [o.input_line] for o in parsed]
    return [[opts[min(k, len(opts) - 1)] for opts in options] for k in range(max(map(len, options), default=1))]


COMPOSED: set[tuple[str, tuple[str, ...], bool]] = set()  # README and a study doc often show the same command


def compose_entry(name: str, overrides: list[str], multirun: bool, tmp_path: Path) -> None:
    """Compose conf/<name>.yaml with ``overrides`` as Hydra would, resolve it, and for training run
    wavespace.train.check_config; sweeps (given, or a preset's hydra.sweeper.params) value by value."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf, open_dict

    from wavespace.train import check_config

    key = (name, tuple(overrides), multirun)
    if key in COMPOSED:
        return
    given = jobs(overrides)
    if len(given) > 1 and not multirun:
        raise AssertionError(f"{overrides} sweeps a value, which needs -m (--multirun)")
    with initialize_config_dir(str(CONF), version_base="1.3"):
        todo = list(given)
        for i, job in enumerate(todo):
            cfg = compose(name, overrides=job, return_hydra_config=True)
            params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
            if multirun and i == 0 and params:  # a preset's own sweep: its values too
                todo += [job + extra for extra in jobs([f"{k}={v}" for k, v in params.items()])]
            with open_dict(cfg):
                cfg.hydra.mode = RunMode.MULTIRUN if multirun else RunMode.RUN  # as the CLI sets it
                if "paths" in cfg:
                    cfg.paths.root_dir = str(tmp_path)
            HydraConfig.instance().set_config(cfg)
            if name in ("train", "prepare"):  # the others complete theirs from a checkpoint at run time
                job_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
                OmegaConf.resolve(job_cfg)
                check_config(job_cfg)
    COMPOSED.add(key)


def check_analyze_options(args: list[str]) -> None:
    """`analyze SUB SOURCE key=value ...`: the sub-command's own option check (no data read)."""
    from wavespace.analyze import __main__ as analyze

    ns = analyze.build_parser().parse_args(args)
    if ns.command == "sweep":
        analyze.sweep_options(ns.options)
    elif ns.command == "latents":
        importlib.import_module("wavespace.analyze.latents").parse_options(ns.options)
    else:
        importlib.import_module("wavespace.analyze.salience").parse_args([ns.source, *ns.options])


def check_entry(module: str, args: list[str], tmp_path: Path) -> None:
    """``python -m module args``, checked without doing the work (see the module docstring)."""
    name = module.removeprefix("wavespace.")
    assert importlib.util.find_spec(module) is not None, f"no module {module}"
    if "--help" in args or "-h" in args:
        proc = subprocess.run([sys.executable, "-m", module, *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return
    package = importlib.util.find_spec(module).submodule_search_locations is not None
    mod = importlib.import_module(module + ".__main__" if package else module)
    hydra_form = (CONF / f"{name}.yaml").is_file() and getattr(mod, "looks_like_hydra", lambda a: True)(args)
    if hydra_form:
        flags = {"-m", "--multirun"}
        rest, skip = [], False
        for a in args:
            if skip:
                skip = False
            elif a in ("--cfg", "-c"):
                skip = True  # prints the composed config: what composing checks
            elif a.startswith("-") and a not in flags:
                raise AssertionError(f"unknown Hydra flag {a}")
            elif a not in flags:
                rest.append(a)
        compose_entry(name, rest, any(a in flags for a in args), tmp_path)
    elif name == "analyze":
        check_analyze_options(args)
    elif hasattr(mod, "build_parser"):
        mod.build_parser().parse_args(args)
    else:
        raise AssertionError(f"{module} has no conf/{name}.yaml nor build_parser(): the test cannot check it")


def check_make(args: list[str], tmp_path: Path) -> None:
    """`make -n TARGET VAR=...` plans; ARGS of a target wrapping an entry point are checked too."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    proc = subprocess.run(["make", "--no-print-directory", "-n", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"make -n {shlex.join(args)} failed:\n{proc.stderr}"
    targets = [a for a in args if "=" not in a]
    variables = dict(a.split("=", 1) for a in args if "=" in a)
    if len(targets) == 1 and targets[0] in MAKE_WRAPS and variables.get("ARGS"):
        check(MAKE_WRAPS[targets[0]] + shlex.split(variables["ARGS"]), tmp_path)


def check(tokens: list[str], tmp_path: Path) -> None:
    tokens = strip_prefixes(tokens)
    if tokens[0] in PYTHONS and tokens[1:2] == ["-m"] and tokens[2].startswith("wavespace"):
        check_entry(tokens[2], tokens[3:], tmp_path)
    elif tokens[0].startswith("wavespace-"):
        check_entry("wavespace." + tokens[0].removeprefix("wavespace-"), tokens[1:], tmp_path)
    elif tokens[0] == "make":
        check_make(tokens[1:], tmp_path)
    else:
        raise Unchecked


@pytest.mark.parametrize("command", ALL, ids=[f"{c.where} {c.text[:60]}" for c in ALL])
def test_documented_command_works(command: Command, tmp_path: Path) -> None:
    if command.text in ALLOWED:
        for word in command.tokens:  # a script or benchmark it names must at least exist
            if re.match(r"(scripts|bench)/[\w./-]+\.py$", word):
                assert (REPO / word).is_file(), f"{command.where}: {word} does not exist"
        return
    try:
        check(list(command.tokens), tmp_path)
    except Unchecked:
        pytest.fail(f"{command.where}: `{command.text}` is not checked. {HOW_TO_FIX}")
    except (Exception, SystemExit) as exc:
        pytest.fail(f"{command.where}: `{command.text}` does not work: {type(exc).__name__}: {exc}")


def test_allow_list_has_no_stale_entries() -> None:
    stale = set(ALLOWED) - {c.text for c in ALL}
    assert not stale, f"ALLOWED in tests/test_docs.py names commands no doc shows any more: {sorted(stale)}"


def test_the_docs_have_commands() -> None:
    assert len(ALL) > 30 and any("wavespace.train" in c.text for c in ALL)


def conf_options() -> dict[str, set[str]]:
    """Config group (folder under conf/, e.g. `model`, `hydra`) -> its option names."""
    out: dict[str, set[str]] = {}
    for path in CONF.rglob("*.yaml"):
        rel = path.relative_to(CONF)
        if len(rel.parts) > 1:
            out.setdefault("/".join(rel.parts[:-1]), set()).add(rel.stem)
    return out


def readme_group_table() -> dict[str, set[str]]:
    """The rows of the table in README's "Composing a run": group -> the options it names."""
    section = re.search(r"^## Composing a run\n(.*?)(?=^## )", (REPO / "README.md").read_text(), re.M | re.S)
    assert section, "README.md has no '## Composing a run' section"
    rows = {}
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) >= 2 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = set(re.findall(r"`([^`]+)`", cells[1]))
    return rows


# Options a Hydra plugin provides, not a file under conf/: the README's table may name them.
PLUGIN_OPTIONS = {"hydra/launcher": {"basic", "runpod", "submitit_local", "submitit_slurm"}}


def test_readme_group_table_names_every_option_under_conf() -> None:
    table = readme_group_table()
    missing = {g: sorted(opts - table.get(g, set())) for g, opts in sorted(conf_options().items())}
    missing = {g: o for g, o in missing.items() if o}
    assert not missing, (f"README.md's table in 'Composing a run' lacks these options of conf/: {missing}. "
                         "Add each, in backticks, to its group's row (a new group gets a row).")
    unknown = {g: sorted(table[g] - opts - PLUGIN_OPTIONS.get(g, set()))
               for g, opts in conf_options().items() if table.get(g, set()) - opts - PLUGIN_OPTIONS.get(g, set())}
    assert not unknown, f"README.md's group table names options conf/ does not have: {unknown}"


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file."""
    heads = re.findall(r"^#+\s+(.*)$", path.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_links_stay_inside_the_repository_and_resolve(doc: Path) -> None:
    text = doc.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        dest = (doc.parent / file).resolve() if file else doc
        assert dest.is_relative_to(REPO), f"{doc.name} links {target}, outside the repository"
        assert dest.exists(), f"{doc.name} links {target}, which does not exist"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{doc.name} links {target}: no such heading in {dest.name}"
    for path in re.findall(r"(?<![\w/.])((?:\.\./)+[\w./-]+)", text):
        assert (doc.parent / path).resolve().is_relative_to(REPO), (
            f"{doc.name} points at {path}, outside the repository: a reader of a clone does not have it")
