"""Whether the database can serve: the reason it cannot, from an error or from a check.

A sick database must be a fast, clear answer (``/healthz``, a coded GraphQL error, one line
from the CLI), never a traceback or a frozen worker. The reasons are few and stable:

- ``unreachable``: no connection could be made (refused, unknown host, server shutting down,
  out of connections, a file that cannot be opened);
- ``timeout``: the database did not answer in time (connect timeout, statement timeout, no
  pooled connection free in time, SQLite's lock still held after its busy timeout);
- ``not migrated``: it answers, but its schema is not at this code's migration head.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache

import psycopg
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from psycopg_pool import PoolTimeout
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

UNREACHABLE = "unreachable"
TIMEOUT = "timeout"
NOT_MIGRATED = "not migrated"

# SQLSTATE classes of a connection that cannot be used: connection exception (08),
# insufficient resources (53: too many connections), operator intervention (57: shutdown,
# "the database system is starting up"; 57014, a cancelled statement, is a timeout)
_UNREACHABLE_CLASSES = ("08", "53", "57")
_QUERY_CANCELED = "57014"


def unavailable_reason(exc: BaseException) -> str | None:
    """``unreachable`` or ``timeout`` when ``exc`` says the database cannot serve now, None
    for any other error (a bug, a constraint, bad SQL)."""
    if isinstance(exc, PoolTimeoutError | PoolTimeout):  # no pooled connection in time
        return TIMEOUT
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return UNREACHABLE
    if isinstance(orig, psycopg.OperationalError):
        sqlstate = orig.sqlstate
        if sqlstate == _QUERY_CANCELED:
            return TIMEOUT
        if sqlstate is None:  # raised by the client: the connection could not be made or used
            return TIMEOUT if "timeout" in str(orig).lower() else UNREACHABLE
        if sqlstate[:2] in _UNREACHABLE_CLASSES:
            return UNREACHABLE
        return None
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        if "locked" in message or "busy" in message:
            return TIMEOUT
        if "unable to open" in message or "disk i/o" in message:
            return UNREACHABLE
    return None


def database_problem(engine: Engine) -> str | None:
    """None when the database answers and is migrated to head, else the reason it is not
    (``unreachable``, ``timeout``, ``not migrated``). Blocks for up to the connect timeout:
    call it off the event loop."""
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return NOT_MIGRATED
            versions = set(
                connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            )
    except Exception as exc:
        reason = unavailable_reason(exc)
        if reason is None:
            raise
        return reason
    return None if versions == migration_heads() else NOT_MIGRATED


@lru_cache(maxsize=1)
def migration_heads() -> frozenset[str]:
    """The head revision(s) of this code's migration history."""
    from crm.migrate import alembic_config

    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())
