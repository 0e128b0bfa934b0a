"""Logs a service manager can keep: plain lines by default, JSON lines when asked
(``HEADROOM_LOG_FORMAT=json``), each carrying the ids of what it is about.

Code says what a line is about by wrapping work in :func:`logged`; every line logged inside,
on that thread, carries those ids (the run, the play, the delivery, the cycle's day):

>>> import io
>>> out = io.StringIO()
>>> handler = logging.StreamHandler(out)
>>> handler.setFormatter(JsonLines())
>>> demo = logging.getLogger("headroom.demo")
>>> demo.addHandler(handler)
>>> with logged(run="12", delivery="d-7"):
...     demo.warning("retrying in %s s", 30)
>>> line = json.loads(out.getvalue())
>>> line["message"], line["run"], line["delivery"]
('retrying in 30 s', '12', 'd-7')
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from headroom.config import environ

_ids: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("headroom_log_ids")

#: The formats ``HEADROOM_LOG_FORMAT`` takes.
FORMATS = ("text", "json")
#: The loggers :func:`configure` sets up: headroom's and the web server's.
LOGGERS = ("headroom", "uvicorn", "uvicorn.error", "uvicorn.access")


@contextmanager
def logged(**ids: object) -> Iterator[None]:
    """Every line logged in the block (on this thread) carries ``ids``."""
    token = _ids.set({**_ids.get({}), **{k: str(v) for k, v in ids.items()}})
    try:
        yield
    finally:
        _ids.reset(token)


def current_ids() -> dict[str, str]:
    """The ids the lines logged here carry."""
    return dict(_ids.get({}))


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids, and the error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **current_ids(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextLines(logging.Formatter):
    """``time level logger: message [ids]``: for a person reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = current_ids()
        return text + (" [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]" if ids else "")


def log_format() -> str:
    """``text`` or ``json``, from ``HEADROOM_LOG_FORMAT`` (a wrong value is said, not ignored)."""
    from headroom.errors import ConfigError

    chosen = (environ("HEADROOM_LOG_FORMAT") or "text").strip().lower()
    if chosen not in FORMATS:
        raise ConfigError(
            f"HEADROOM_LOG_FORMAT is {chosen!r}",
            fix=f"set it to {' or '.join(FORMATS)}, or leave it unset for text",
        )
    return chosen


def formatter() -> logging.Formatter:
    return JsonLines() if log_format() == "json" else TextLines()


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged (a test may swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure() -> None:
    """Send headroom's logs (and the web server's) to stderr in the chosen format, at INFO."""
    handler = _Stderr()
    handler.setFormatter(formatter())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
