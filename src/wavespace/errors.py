"""Errors a user can act on.

Every error here carries a complete, one-paragraph explanation. The CLI entry points print the
message alone (no traceback) for these, so the message must name what went wrong, where, and
what to do about it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class WavespaceError(Exception):
    """Base class: a problem the user can fix (bad input, bad config, diverged run)."""


class ConfigError(WavespaceError):
    """A configuration value is inconsistent or unusable."""


class DatasetNotFoundError(WavespaceError):
    """A dataset directory is missing or not laid out as distributed."""

    def __init__(self, name: str, root: str, layout: str, url: str, problem: str = "") -> None:
        self.name, self.root, self.layout, self.url = name, root, layout, url
        why = problem or "it does not exist"
        super().__init__(
            f"Dataset '{name}' not found at {root} ({why}). Expected layout:\n{layout}\n"
            f"Download it from {url} and point paths.data_dir (or the environment variable "
            f"WAVESPACE_DATA_DIR) at the folder that contains it."
        )


class NonFiniteLossError(WavespaceError):
    """The training loss became NaN or infinite."""


def find_wavespace_error(exc: BaseException) -> WavespaceError | None:
    """Return the first WavespaceError in an exception's cause/context chain.

    Hydra's instantiate and Lightning's loops wrap exceptions; the user-facing message is the
    innermost error we raised ourselves.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, WavespaceError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


@contextmanager
def reported_errors() -> Iterator[None]:
    """CLI guard: a WavespaceError (however deeply wrapped) becomes one paragraph on stderr and
    exit status 1; any other exception propagates with its traceback, since that is a bug."""
    try:
        yield
    except Exception as exc:
        err = find_wavespace_error(exc)
        if err is None:
            raise
        print(f"\nwavespace: error: {err}\n", file=sys.stderr)
        raise SystemExit(1) from None
