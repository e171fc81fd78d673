"""Engines, sessions and every dialect difference, behind plain names."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is off so that BEGIN IMMEDIATE below takes the write
    # lock up front: a deferred transaction that upgrades to writing fails under concurrency.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock up front (IMMEDIATE); read-only sessions (``read_only``) don't,
    # so that WAL readers never wait for a writer.
    deferred = conn.get_execution_options().get("sqlite_deferred", False)
    conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def read_only(engine: Engine) -> Engine:
    """The engine for sessions that only read: on SQLite they start deferred transactions."""
    return engine.execution_options(sqlite_deferred=True)


def _postgres_session_settings(dbapi_connection: Any, _record: Any) -> None:
    # search matches words with typos ("jonh"): the default 0.6 word similarity is too strict
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET pg_trgm.word_similarity_threshold = 0.35")
    dbapi_connection.commit()


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: ``CRM_DATABASE_URL``) with the project's settings."""
    url = normalize_url(url or get_settings().database_url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _postgres_session_settings)
    return engine


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


def is_retryable(exc: BaseException) -> bool:
    """A conflict another transaction caused: unique violation, deadlock, serialization, lock."""
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, OperationalError) and "locked" in str(exc).lower():
        return True
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
        return sqlstate in ("40001", "40P01", "23505")
    return False
