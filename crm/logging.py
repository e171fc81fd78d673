"""Structured logs: structlog with dotted event names, JSON when stderr is not a terminal.

Every record goes to stderr (stdout belongs to command output such as ids and keys), through
one formatter, so our events, uvicorn's, alembic's and arq's read alike. Log ids and counts,
never a person's details: values under the keys in ``REDACTED_KEYS`` are masked anyway.

Tracebacks are rendered by :func:`safe_exception`: file, line and function of each frame and
the exception's type, never a frame's local variables (a CSV body, a request's variables) and,
unless ``CRM_LOG_PERSONAL_DATA`` is on, never the exception's message (a database's "Key
(email)=(...) already exists" names a person).
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType
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
_handler: logging.Handler | None = None


def _redact(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in REDACTED_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


# libraries whose DEBUG/INFO records carry SQL parameters or request bodies: they log from
# WARNING on, whatever CRM_LOG_LEVEL says
QUIET_LIBRARIES = ("sqlalchemy", "multipart", "python_multipart", "httpx", "httpcore", "asyncio")

# the most exceptions of one chain (cause, context) a traceback shows
_MAX_CHAIN = 8


def _exc_info(value: Any) -> tuple[type[BaseException], BaseException, TracebackType | None] | None:
    if value is None or value is False:
        return None
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and value[1] is not None:
        return value  # type: ignore[return-value]
    current = sys.exc_info()
    return current if current[1] is not None else None  # type: ignore[return-value]


def format_exception(exc: BaseException, *, messages: bool = False) -> str:
    """A traceback without local variables; without ``messages``, each exception in the chain
    is named by its type (and its ``code``, for the service's coded errors) only."""
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link: str | None = None
    while current is not None and id(current) not in seen and len(chain) < _MAX_CHAIN:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, "direct cause"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "context"
        else:
            current = None
    lines: list[str] = []
    for index, (error, _) in enumerate(reversed(chain)):
        if index:
            link = chain[len(chain) - index][1]
            lines.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
                if link == "direct cause"
                else "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        if error.__traceback__ is not None:
            lines.append("Traceback (most recent call last):\n")
            frames = traceback.extract_tb(error.__traceback__)
            lines.extend(frames.format())
        lines.append(_describe(error, messages=messages) + "\n")
    return "".join(lines).rstrip("\n")


def _describe(error: BaseException, *, messages: bool) -> str:
    kind = type(error)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    if messages:
        return "".join(traceback.format_exception_only(kind, error)).rstrip("\n")
    code = getattr(error, "code", None)
    code = getattr(code, "value", code)
    if isinstance(code, str) and code.isidentifier():
        return f"{name} [{code}] (message not logged)"
    return f"{name} (message not logged)"


def safe_exception(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Render ``exc_info`` as an ``exception`` text without locals (and without messages
    unless CRM_LOG_PERSONAL_DATA is on); drops any other renderer's traceback."""
    info = _exc_info(event_dict.pop("exc_info", None))
    if info is not None:
        event_dict["exception"] = format_exception(
            info[1], messages=get_settings().log_personal_data
        )
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
    else:
        # the exception arrives already rendered (safe_exception): printed as it is
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            safe_exception,
            renderer,
        ],
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
    if json is not None:
        return json
    chosen = get_settings().log_format.lower()
    if chosen in ("json", "console"):
        return chosen == "json"
    return not sys.stderr.isatty()


def _quiet_libraries() -> None:
    for name in QUIET_LIBRARIES:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def configure_logging(
    *, level: str | None = None, json: bool | None = None, stderr_level: str | None = None
) -> None:
    """Configure structlog and the stdlib root logger once per process (level: CRM_LOG_LEVEL).

    ``stderr_level``: what of it this process prints on stderr (a CLI command prints its
    answer and only warnings); set on every call, the rest on the first."""
    global _configured, _handler
    if _configured:
        if _handler is not None:
            _handler.setLevel(stderr_level or logging.NOTSET)
        return
    _configure_structlog()
    handler = StderrHandler()
    handler.setLevel(stderr_level or logging.NOTSET)
    _handler = handler
    handler.setFormatter(make_formatter(json=_json(json)))
    root = logging.getLogger()
    # other handlers (a test runner's capture) stay; only plain stderr printing is ours
    root.addHandler(handler)
    root.setLevel(_level(level))
    _quiet_libraries()
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
            **{name: {"level": "WARNING"} for name in QUIET_LIBRARIES},
        },
    }


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; call it with a dotted event name and keyword fields."""
    return structlog.stdlib.get_logger(name)
