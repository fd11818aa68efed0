"""Write docs/config.md, the table of every config under conf/, from the configs themselves.

Each YAML file's leading comment is its documentation: the first sentence of it becomes the
option's line in the table, so the reference cannot drift from what the files say. Defaults
come from the `defaults` list of conf/train.yaml. tests/test_config_docs.py regenerates the page
and fails when the committed one differs.

    python scripts/gen_config_docs.py           # rewrite docs/config.md
    python scripts/gen_config_docs.py --check   # exit 1 if docs/config.md is stale
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
OUT = REPO / "docs" / "config.md"
COMMAND = "python scripts/gen_config_docs.py"
# A sentence ends at . ! or ? followed by a space, except after "e.g." / "i.e.".
SENTENCE_END = re.compile(r"(?<!e\.g\.)(?<!i\.e\.)(?<=[.!?])\s+(?=\S)")
# Configs whose group is read by another tool than Hydra's defaults list.
NOT_HYDRA = {"sweep": "W&B sweep specifications, read by `wandb sweep conf/sweep/NAME.yaml` (`make sweep SWEEP=NAME`)."}


def leading_comment(path: Path) -> str:
    """The file's first comment block (Hydra's `# @package` directive skipped), joined.

    A line that is a command (`python -m ...`, as entry configs start) becomes inline code
    followed by a colon, so it reads as the subject of the next sentence.
    """
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("# @package"):
            continue
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        lines.append(f"`{text}`:" if text.startswith("python ") else text)
    return " ".join(x for x in lines if x)


def summary(path: Path) -> str:
    """First sentence of the leading comment; empty when the file has none."""
    text = leading_comment(path)
    first = SENTENCE_END.split(text, maxsplit=1)[0] if text else ""
    return first.replace("|", "\\|")


def train_defaults() -> dict[str, str | None]:
    """Group -> option picked by conf/train.yaml's defaults list (None: nothing by default)."""
    out: dict[str, str | None] = {}
    for item in yaml.safe_load((CONF / "train.yaml").read_text()).get("defaults", []):
        if isinstance(item, dict):
            for key, value in item.items():
                out[key.split()[-1].lstrip("/")] = value
    return out


def undocumented(conf: Path = CONF) -> list[str]:
    """YAML files under conf/ without a leading comment (relative paths)."""
    return [str(p.relative_to(conf)) for p in sorted(conf.rglob("*.yaml")) if not summary(p)]


def render(conf: Path = CONF) -> str:
    """The Markdown page for the configs under ``conf``."""
    defaults = train_defaults()
    out = [
        "# Configuration reference",
        "",
        f"<!-- Generated from conf/ by `{COMMAND}`: edit the YAML files' first comment, not this page. -->",
        "",
        "Every option below is one YAML file under `conf/`, documented by its first comment. Pick an",
        "option with `group=option` on the command line (`python -m wavespace.train model=unet",
        "data=solos features=logfreq`) and change single values with `key=value`; presets in",
        "`experiment` set several groups at once. `python -m wavespace.train --cfg job` prints the",
        "composed result.",
        "",
        "## Entry configs",
        "",
        "| config | what |",
        "| --- | --- |",
    ]
    out += [f"| `{p.name}` | {summary(p)} |" for p in sorted(conf.glob("*.yaml"))]
    groups = sorted({p.parent.relative_to(conf).as_posix() for p in conf.rglob("*.yaml")} - {"."})
    for group in groups:
        files = sorted((conf / group).glob("*.yaml"))
        out += ["", f"## `{group}`", ""]
        if group in NOT_HYDRA:
            out += [NOT_HYDRA[group], ""]
        elif group in defaults:
            picked = defaults[group]
            out += [f"Default: `{group}={picked}`." if picked else "Default: none (opt in with `"
                    f"{group}=NAME`).", ""]
        out += ["| option | what |", "| --- | --- |"]
        out += [f"| `{p.stem}` | {summary(p)} |" for p in files]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/config.md is stale")
    args = parser.parse_args(argv)
    missing = undocumented()
    if missing:
        print("These configs have no leading comment; start each with one line saying what the "
              "option is for:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    page = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text() != page:
            print(f"{OUT.relative_to(REPO)} is out of date: run `{COMMAND}`.", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(page)
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
