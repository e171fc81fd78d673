"""What every ``crm`` command shares: exit statuses, the consoles, a unit of work.

Kept apart from ``crm/cli.py`` so that command modules living with their domain (``crm
import``, ``crm export``, ``crm dedup``) can import these helpers while ``crm/cli.py`` imports
them to register their commands, without an import cycle.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session

from crm.db import get_engine, session_scope
from crm.db_health import unavailable_reason
from crm.errors import ErrorCode, ServiceError
from crm.settings import get_settings


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


def database(*, create: bool = False) -> Engine:
    """The configured engine; a malformed CRM_DATABASE_URL is bad usage.

    Only ``create`` (``crm db upgrade``, ``crm demo``) may open a SQLite file that does not
    exist: SQLite would create an empty one, and a command run from the wrong directory would
    leave an empty ``crm.db`` there and fail on its missing tables. Anything else names the
    file it looked for and says what to do.
    """
    try:
        engine = get_engine()
    except (ArgumentError, ValueError) as exc:
        fail(f"CRM_DATABASE_URL is not a usable database URL: {exc}", ExitStatus.USAGE)
    path = sqlite_file(engine)
    if not create and path is not None and not path.exists():
        fail(
            f"no database at {path} (CRM_DATABASE_URL={_configured_url()}, run from "
            f"{Path.cwd()}): run `crm db upgrade` (or `crm demo`) to create it there, or "
            "point CRM_DATABASE_URL at your database (sqlite:////absolute/path/crm.db)",
            ExitStatus.USAGE,
        )
    return engine


def _configured_url() -> str:
    return make_url(get_settings().database_url).render_as_string(hide_password=True)


def sqlite_file(engine: Engine) -> Path | None:
    """The absolute path of the engine's SQLite file; None for PostgreSQL or in memory."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    name = url.database or ""
    if not name or name == ":memory:" or name.startswith("file:") or url.query.get("uri"):
        return None
    return Path(name).expanduser().absolute()


def describe_database(engine: Engine) -> str:
    """The database as a person can find it: a SQLite file's absolute path, else the URL
    without its password."""
    path = sqlite_file(engine)
    if path is not None:
        return f"SQLite {path}"
    return engine.url.render_as_string(hide_password=True)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session that commits on success; service errors become exit statuses."""
    with reported_errors(), session_scope(database()) as session:
        yield session
