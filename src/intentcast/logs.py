"""Logging for every intentcast process: one configuration, text or JSON lines, request ids.

``configure_logging(settings, process=...)`` is called once at the start of each process (the
CLI commands do it); ``logging_config`` is the same configuration as a ``dictConfig``, which
is also what granian applies in its own workers (``log_dictconfig``), so the HTTP server's
lines look like everyone else's.

Text lines (the default) are ``time LEVEL logger: message request_id=...``.
``INTENTCAST_LOG_FORMAT=json`` writes one JSON object per line: ``time`` (UTC, ISO 8601),
``level``, ``logger``, ``message``, ``process`` (``api``, ``worker:matcher``, ...),
``request_id`` when the line was logged on behalf of a request, any ``extra={...}`` fields
the call passed, and ``exception`` (the traceback) when there is one.

The request id lives in a context variable (``request_id``): the API sets it per request
(``api.observability``), it travels with outbox rows and stream messages, and the workers set
it again while they handle what that request caused, so one id follows an intent from the
``POST`` to the matcher and the webhook. ``RequestContext`` adds it to every record.

What is logged is chosen by the callers; nothing here inspects messages. The rule they follow:
ids, counts, outcomes and durations, never tokens, persona values, free text or message
bodies. ``httpx`` logs full URLs at INFO (a webhook URL may carry the vendor's token), so its
logger is held at WARNING.
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import secrets
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import msgspec

from intentcast.config import Settings

__all__ = [
    "JsonFormatter",
    "RequestContext",
    "TextFormatter",
    "announce",
    "configure_logging",
    "current_request_id",
    "logging_config",
    "new_request_id",
    "request_id",
    "using_request_id",
    "valid_request_id",
]

MAX_REQUEST_ID_LENGTH = 200

request_id: ContextVar[str | None] = ContextVar("intentcast_request_id", default=None)
"""The id of the request this code runs for (set by the API, restored by the workers)."""

_QUIET_LOGGERS = {"httpx": "WARNING", "httpcore": "WARNING", "asyncio": "WARNING"}

# Attributes every LogRecord has; anything else on a record came from ``extra={...}``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "process_role",
    "taskName",
}


def valid_request_id(value: str | None) -> bool:
    """A client's ``X-Request-ID`` is kept if it is 1-200 printable ASCII characters."""
    return (
        value is not None
        and 0 < len(value) <= MAX_REQUEST_ID_LENGTH
        and all(" " <= ch <= "~" for ch in value)
    )


def new_request_id() -> str:
    """A fresh request id: 32 hex digits (128 random bits)."""
    return secrets.token_hex(16)


def current_request_id() -> str | None:
    return request_id.get()


def adopt_request_id(value: str) -> None:
    """Log under ``value`` from here on in this context (a task handling one message, inside
    ``using_request_id``, which restores the previous id when it ends)."""
    request_id.set(value)


@contextlib.contextmanager
def using_request_id(value: str | None) -> Iterator[None]:
    """Log under ``value`` (a request id carried by a message; ``None``: none) in this block."""
    token = request_id.set(value)
    try:
        yield
    finally:
        request_id.reset(token)


class RequestContext(logging.Filter):
    """Adds ``request_id`` (the context variable's value) and ``process_role`` to every
    record passing a handler; filters nothing out."""

    def __init__(self, process: str = "") -> None:
        super().__init__()
        self.process = process

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        if not getattr(record, "process_role", None):
            record.process_role = self.process
        return True


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if role := getattr(record, "process_role", None):
            out["process"] = role
        out["pid"] = record.process
        if rid := getattr(record, "request_id", None):
            out["request_id"] = rid
        for key, value in _extra_fields(record).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return msgspec.json.encode(out, enc_hook=str).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [request_id=...]`` (the structured fields are for JSON;
    a message says what they hold in words)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = getattr(record, "request_id", None)
        if not rid:
            return text
        head, newline, rest = text.partition("\n")  # after the message, before a traceback
        return f"{head} request_id={rid}{newline}{rest}"


def logging_config(settings: Settings, *, process: str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a process (granian takes it as it is)."""
    level = settings.log_level.upper()
    formatter = "json" if settings.log_format == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": RequestContext, "process": process}},
        "formatters": {
            "json": {"()": JsonFormatter},
            "text": {"()": TextFormatter},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": formatter,
                "filters": ["context"],
            }
        },
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            # granian's own loggers (it sets ``_granian``'s level from its log_level)
            "_granian": {"level": level, "handlers": ["console"], "propagate": False},
            "granian.access": {"level": level, "handlers": ["console"], "propagate": False},
            # Litestar configures these itself unless told otherwise; here they propagate
            "litestar": {"level": level, "handlers": [], "propagate": True},
            **{name: {"level": quiet} for name, quiet in _QUIET_LOGGERS.items()},
        },
    }


def configure_logging(settings: Settings, *, process: str) -> None:
    """Set up this process's logging (idempotent: a second call replaces the first)."""
    logging.config.dictConfig(logging_config(settings, process=process))


_announce_log = logging.getLogger("intentcast")


def announce(settings: Settings, text: str, message: str | None = None, **fields: Any) -> None:
    """What a command tells the person who started it (``serving on ...``): ``text`` on
    standard output in text mode; in JSON mode an INFO record (``message``, default
    ``text``, with ``fields``) so that every line of the output is JSON."""
    if settings.log_format == "json":
        _announce_log.info(message or text, extra=fields)
    else:
        print(text, file=sys.stdout, flush=True)
