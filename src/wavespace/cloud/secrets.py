"""Secret values from the environment, and redaction of any text that might contain them.

Why: the Runpod key and the keys passed through to pods (W&B, Hugging Face) must never reach
logs, printed tables, configs or W&B. The code never formats them on purpose; redaction is
the second line of defence for text we do not control (SDK exception messages, which in
runpod 1.12 carry the whole GraphQL mutation, env values included).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping

#: Variables that are always treated as secret, whether or not they are passed to pods.
ALWAYS_SECRET = ("RUNPOD_API_KEY", "WANDB_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
#: Values shorter than this are not redacted: "1" or "true" would shred every log line.
MIN_SECRET_LEN = 8
MASK = "***"


def is_secret_name(name: str) -> bool:
    """A variable is secret if it is a known key or its name says key/token/secret/password."""
    return name in ALWAYS_SECRET or bool(_SECRET_NAME.search(name))


def secret_values(
    extra_names: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> list[str]:
    """Values of secret-looking variables (plus ``extra_names``), longest first."""
    env = os.environ if environ is None else environ
    names = {n for n in env if is_secret_name(n)} | set(extra_names)
    values = {env[n] for n in names if n in env and len(env[n]) >= MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """Replace every secret value in ``text`` with ``***``."""
    for value in secret_values() if secrets is None else secrets:
        if value and value in text:
            text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Logging filter that redacts secret values from formatted messages.

    Installed on the handlers of the launcher's loggers so that even an exception message
    quoting a GraphQL mutation cannot print a key.
    """

    def __init__(self, extra_names: Iterable[str] = ()) -> None:
        super().__init__()
        self._extra = tuple(extra_names)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = secret_values(self._extra)
        if not secrets:
            return True
        message = record.getMessage()
        clean = redact(message, secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, redact(exc_text, secrets)
        return True


def install_redaction(logger: logging.Logger, extra_names: Iterable[str] = ()) -> None:
    """Attach a :class:`RedactingFilter` to ``logger`` and all handlers up its chain."""
    filt = RedactingFilter(extra_names)
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(filt)
        current = current.parent if current.propagate else None
    logger.addFilter(filt)
