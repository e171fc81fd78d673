"""Engines, sessions and every dialect difference, behind plain names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import sqlalchemy as sa
import sqlalchemy.ext.compiler
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, create_engine

from crm.settings import get_settings


def normalize_url(url: str) -> str:
    """Pick the project's own drivers for plain ``sqlite://`` and ``postgresql://`` URLs."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    else:
        raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")
    return parsed.render_as_string(hide_password=False)


# how long a SQLite writer waits for another's write lock before "database is locked"
SQLITE_BUSY_TIMEOUT_MS = 30_000


@contextmanager
def without_lock_wait(connection: Any) -> Iterator[None]:
    """SQLite: statements in the block fail at once ("database is locked") instead of waiting
    for another writer, for a write that may be skipped (a key's last use). Elsewhere: as is."""
    if dialect_name(connection) != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA busy_timeout=0")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is off so that BEGIN IMMEDIATE below takes the write
    # lock up front: a deferred transaction that upgrades to writing fails under concurrency.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock up front (IMMEDIATE). Read-only sessions (``read_only``) open no
    # transaction at all: each statement reads the latest commit, as under PostgreSQL's READ
    # COMMITTED, and a WAL reader never waits for a writer.
    if not conn.get_execution_options().get("sqlite_deferred", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def read_only(engine: Engine) -> Engine:
    """The engine for sessions that only read: each statement sees the latest commit and no
    transaction is opened (SQLite: no BEGIN, so a WAL reader never waits for a writer;
    PostgreSQL: autocommit, no BEGIN/ROLLBACK round trips)."""
    cached = engine.__dict__.get("_crm_read_only")
    if cached is None:
        if engine.dialect.name == "sqlite":
            cached = engine.execution_options(sqlite_deferred=True)
        else:
            cached = engine.execution_options(isolation_level="AUTOCOMMIT")
        engine.__dict__["_crm_read_only"] = cached
    return cached


def _postgres_session_settings(dbapi_connection: Any, _record: Any) -> None:
    # search matches words with typos ("jonh"): the default 0.6 word similarity is too strict
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET pg_trgm.word_similarity_threshold = 0.35")
    dbapi_connection.commit()


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: ``CRM_DATABASE_URL``) with the project's settings."""
    url = normalize_url(url or get_settings().database_url)
    # a failed statement's message (and DEBUG logging) never quotes a person's details
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("pool_timeout", get_settings().db_pool_timeout)
        # no statement timeout here: imports, sweeps and merges run long statements by design
        kwargs["connect_args"] = {
            **postgres_timeouts(url, statement=False),
            **kwargs.get("connect_args", {}),
        }
        kwargs.setdefault("max_overflow", 20)
        # no pre-ping round trip per checkout: a connection the server dropped fails one
        # statement, which invalidates the pool, and is replaced
        kwargs.setdefault("pool_recycle", 1800)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _postgres_session_settings)
    return engine


def postgres_timeouts(url: str, *, statement: bool = True) -> dict[str, Any]:
    """The connect and (with ``statement``) statement timeouts of ``CRM_DB_*`` as libpq
    connection parameters (a ``connect_timeout`` or ``options`` already in ``url`` wins)."""
    settings = get_settings()
    given = make_url(url).query
    params: dict[str, Any] = {}
    if "connect_timeout" not in given:
        params["connect_timeout"] = settings.db_connect_timeout
    if statement and "options" not in given and settings.db_statement_timeout > 0:
        params["options"] = f"-c statement_timeout={round(settings.db_statement_timeout * 1000)}"
    return params


_engine: Engine | None = None


def get_engine() -> Engine:
    """The process-wide engine for ``CRM_DATABASE_URL``."""
    global _engine
    if _engine is None:
        _engine = make_engine()
    return _engine


def set_engine(engine: Engine | None) -> None:
    """Replace the process-wide engine (tests and the CLI's ``--database`` use this)."""
    global _engine
    _engine = engine


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on error."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_postgres(bind: Any) -> bool:
    """True when ``bind`` (engine, connection or session) talks to PostgreSQL."""
    return dialect_name(bind) == "postgresql"


def dialect_name(bind: Any) -> str:
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return bind.dialect.name


def insert(bind: Any, table: Any) -> Any:
    """A dialect ``INSERT`` that supports ``on_conflict_do_nothing`` and ``returning``."""
    if is_postgres(bind):
        return postgresql.insert(table)
    return sqlite.insert(table)


# serialization failure, deadlock, unique violation (PostgreSQL)
_RETRYABLE_SQLSTATES = ("40001", "40P01", "23505")
# SQLite's extended result codes of a unique or primary-key violation
_SQLITE_UNIQUE = ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


def is_retryable(exc: BaseException) -> bool:
    """A conflict another transaction caused, which running again resolves: a unique
    violation (two writers claimed one identity key), a deadlock or a serialization failure.

    Not retried, because running again cannot help: a foreign-key, NOT NULL or check
    violation (a bug or bad data: it fails the same way every time), and SQLite's "database is
    locked", which comes only once the busy timeout has already waited for the lock.
    """
    orig = getattr(exc, "orig", None) if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:  # psycopg, wrapped by SQLAlchemy or raised by COPY
        return sqlstate in _RETRYABLE_SQLSTATES
    if isinstance(exc, IntegrityError):  # SQLite
        name = getattr(orig, "sqlite_errorname", None)
        if name is not None:
            return name in _SQLITE_UNIQUE
        return str(orig).startswith("UNIQUE constraint failed")
    return False


def analyze(session: Session, tables: list[sa.Table]) -> None:
    """Refresh the planner's statistics (PostgreSQL): a bulk load into tables that were
    empty or small gets sequential-scan plans for its lookups until it does."""
    if is_postgres(session):
        names = ", ".join(f'"{t.name}"' for t in tables)
        session.execute(sa.text(f"ANALYZE {names}"))
    else:
        for table in tables:
            session.execute(sa.text(f'ANALYZE "{table.name}"'))


def estimated_rows(session: Session, table: sa.Table) -> int:
    """The planner's row count for ``table`` (PostgreSQL; 0 elsewhere or never analysed)."""
    if not is_postgres(session):
        return 0
    value = session.execute(
        sa.text("SELECT reltuples FROM pg_class WHERE oid = CAST(:name AS regclass)"),
        {"name": table.name},
    ).scalar()
    return max(int(value or 0), 0)


def in_values(column: Any, values: Any) -> Any:
    """``column IN values``; on PostgreSQL one array parameter (``= ANY``) however many values.

    Thousands of expanded IN parameters cost more to build and parse than the query itself.
    """
    values = list(values)
    if not values:
        return sa.false()
    return _AnyValues(column, values)


class _AnyValues(sa.sql.expression.ColumnElement):
    inherit_cache = False
    type = sa.Boolean()
    # a predicate as it is: without this, dialects with no native boolean render "... = 1",
    # which SQLite cannot answer from an index
    _is_implicitly_boolean = True

    def __init__(self, column: Any, values: list[Any]):
        self.column = column
        self.values = values


@sa.ext.compiler.compiles(_AnyValues)
def _any_values_default(element: _AnyValues, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.column.in_(element.values), **kw)


@sa.ext.compiler.compiles(_AnyValues, "postgresql")
def _any_values_postgresql(element: _AnyValues, compiler: Any, **kw: Any) -> str:
    array = sa.bindparam(None, element.values, type_=postgresql.ARRAY(element.column.type))
    return compiler.process(element.column == sa.func.any(array), **kw)


# datetimes through ``default=str`` as json.dumps wrote them (a space, not a "T")
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def json_dumps(value: Any) -> str:
    """Compact JSON text for a JSON column (orjson; ``str`` for what it cannot encode)."""
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # e.g. non-string keys, which json.dumps accepts
        return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)
