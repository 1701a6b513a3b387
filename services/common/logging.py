"""Structured JSON logs with a correlation id bound per request, Slack event or task."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from pythonjsonlogger.json import JsonFormatter

_correlation_id: ContextVar[str | None] = ContextVar("deskpilot_correlation_id", default=None)

LOG_FORMAT = "%(levelname)s %(name)s %(message)s %(correlation_id)s"
# Fields some libraries attach that only make sense on a terminal.
_DROPPED_FIELDS = ("color_message",)


def get_correlation_id() -> str | None:
    """The correlation id bound to the current context, if any."""
    return _correlation_id.get()


def new_correlation_id() -> str:
    """A fresh random correlation id (hex uuid4)."""
    return uuid.uuid4().hex


def set_correlation_id(correlation_id: str | None) -> Token[str | None]:
    """Bind ``correlation_id`` until :func:`reset_correlation_id` (for hooks that cannot use a ``with``)."""
    return _correlation_id.set(correlation_id)


def reset_correlation_id(token: Token[str | None]) -> None:
    """Restore the correlation id that was bound before the matching :func:`set_correlation_id`."""
    _correlation_id.reset(token)


@contextmanager
def bind_correlation_id(correlation_id: str | None = None) -> Iterator[str]:
    """Bind a correlation id (given, or a new one) for the duration of the block."""
    value = correlation_id or new_correlation_id()
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)


class CorrelationIdFilter(logging.Filter):
    """Stamp every record with the current correlation id (None outside a bound context)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = _correlation_id.get()
        for name in _DROPPED_FIELDS:
            record.__dict__.pop(name, None)
        return True


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (it may be replaced after configuration)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def build_log_handler(*, json_format: bool, stream: object = None) -> logging.Handler:
    """A stream handler writing JSON (or plain text) lines with the correlation id (stderr by default)."""
    handler = (
        logging.StreamHandler(stream)  # type: ignore[call-overload]
        if stream is not None
        else _CurrentStderrHandler()
    )
    handler.addFilter(CorrelationIdFilter())
    if json_format:
        handler.setFormatter(
            JsonFormatter(
                LOG_FORMAT, rename_fields={"levelname": "level", "name": "logger"}, timestamp="time"
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s")
        )
    return handler


def configure_logging(*, level: str = "INFO", json_format: bool = True) -> None:
    """Install one handler on the root logger; safe to call more than once."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_deskpilot", False):
            root.removeHandler(existing)
    handler = build_log_handler(json_format=json_format)
    handler._deskpilot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn installs its own handlers; route its records through ours so every line is JSON.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
