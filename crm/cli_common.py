"""What every ``crm`` command shares: exit statuses, the consoles, a unit of work.

Kept apart from ``crm/cli.py`` so that command modules living with their domain (``crm
import``, ``crm export``, ``crm dedup``) can import these helpers while ``crm/cli.py`` imports
them to register their commands, without an import cycle.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session

from crm.db import get_engine, session_scope
from crm.db_health import unavailable_reason
from crm.errors import ErrorCode, ServiceError


class ExitStatus(enum.IntEnum):
    OK = 0
    FAILED = 1  # the work failed
    USAGE = 2  # bad usage: wrong arguments, unknown organization, invalid values


# Service errors that mean "the caller asked for something wrong"; the rest mean the work failed.
USAGE_ERRORS = frozenset(
    {
        ErrorCode.INVALID_PHONE,
        ErrorCode.INVALID_EMAIL,
        ErrorCode.INVALID_HANDLE,
        ErrorCode.INVALID_EXTERNAL_ID,
        ErrorCode.INVALID_DATE,
        ErrorCode.INVALID_NAME,
        ErrorCode.INVALID_REGION,
        ErrorCode.INVALID_INPUT,
        ErrorCode.UNSUPPORTED_CHANNEL,
        ErrorCode.NOTHING_TO_IDENTIFY,
        ErrorCode.NOT_FOUND,
        ErrorCode.NAME_TAKEN,
        ErrorCode.SOURCE_NOT_ALLOWED,
    }
)


def stdout() -> Console:
    """Rich output for people; machine-readable values go through ``typer.echo``."""
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, status: ExitStatus = ExitStatus.FAILED) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``status``."""
    stderr().print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(int(status))


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn expected failures into a message on stderr and the matching exit status."""
    try:
        yield
    except ServiceError as exc:
        status = ExitStatus.USAGE if exc.code in USAGE_ERRORS else ExitStatus.FAILED
        where = f" ({exc.field})" if exc.field else ""
        fail(f"{exc.message}{where} [{exc.code.value}]", status)
    except (OperationalError, PoolTimeoutError) as exc:
        orig = getattr(exc, "orig", None) or exc
        detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        reason = unavailable_reason(exc) or "error"
        fail(f"the database did not answer ({reason}): {detail}")
    except DBAPIError as exc:  # e.g. a connection option libpq does not know
        detail = (str(exc.orig or exc).strip().splitlines() or [type(exc).__name__])[0]
        fail(f"the database refused: {detail}")


def database() -> Engine:
    """The configured engine; a malformed CRM_DATABASE_URL is bad usage."""
    try:
        return get_engine()
    except (ArgumentError, ValueError) as exc:
        fail(f"CRM_DATABASE_URL is not a usable database URL: {exc}", ExitStatus.USAGE)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session that commits on success; service errors become exit statuses."""
    with reported_errors(), session_scope(database()) as session:
        yield session
