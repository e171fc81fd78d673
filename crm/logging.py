"""Structured logs: structlog with dotted event names, JSON when stderr is not a terminal.

Every record goes to stderr (stdout belongs to command output such as ids and keys), through
one formatter, so our events, uvicorn's, alembic's and arq's read alike. Log ids and counts,
never a person's details: values under the keys in ``REDACTED_KEYS`` are masked anyway.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from crm.settings import get_settings

# Keys that would carry a person's details or a secret if a call site slipped.
REDACTED_KEYS = frozenset(
    {
        "first_name",
        "last_name",
        "display_name",
        "full_name",
        "email",
        "phone",
        "date_of_birth",
        "address",
        "api_key",
        "password",
        "token",
        "secret",
    }
)

_configured = False


def _redact(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in REDACTED_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]


def _configure_structlog() -> None:
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def make_formatter(*, json: bool) -> logging.Formatter:
    """The formatter every handler uses; also a ``dictConfig`` factory (see ``logging_config``)."""
    # uvicorn's worker processes build their logging from the dict config alone: configuring
    # structlog here makes their structlog events render like the parent's.
    _configure_structlog()
    renderer: Any
    if json:
        renderer = structlog.processors.JSONRenderer()
        tail = [structlog.processors.dict_tracebacks, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        tail = [renderer]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
    )


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class StripQueryString(logging.Filter):
    """Drops the query string from uvicorn access logs: GET /graphql carries variables there."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def _level(level: str | None) -> str:
    name = (level or get_settings().log_level).upper()
    return name if name in logging.getLevelNamesMapping() else "INFO"


def _json(json: bool | None) -> bool:
    return (not sys.stderr.isatty()) if json is None else json


def configure_logging(*, level: str | None = None, json: bool | None = None) -> None:
    """Configure structlog and the stdlib root logger once per process (level: CRM_LOG_LEVEL)."""
    global _configured
    if _configured:
        return
    _configure_structlog()
    handler = StderrHandler()
    handler.setFormatter(make_formatter(json=_json(json)))
    root = logging.getLogger()
    # other handlers (a test runner's capture) stay; only plain stderr printing is ours
    root.addHandler(handler)
    root.setLevel(_level(level))
    logging.getLogger("uvicorn.access").addFilter(StripQueryString())
    _configured = True


def logging_config(*, level: str | None = None, json: bool | None = None) -> dict[str, Any]:
    """The same set-up as a ``dictConfig`` dict, for uvicorn (applied in each worker process)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structlog": {"()": "crm.logging.make_formatter", "json": _json(json)}},
        "filters": {"strip_query": {"()": "crm.logging.StripQueryString"}},
        "handlers": {"stderr": {"class": "crm.logging.StderrHandler", "formatter": "structlog"}},
        "root": {"handlers": ["stderr"], "level": _level(level)},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True, "filters": ["strip_query"]},
        },
    }


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; call it with a dotted event name and keyword fields."""
    return structlog.stdlib.get_logger(name)
