"""Hot-path selects run on the driver's connection, compiled once per dialect.

SQLAlchemy's execution layer (compiled-cache lookup, execution context, result metadata,
``Row`` objects) costs several times a short indexed select's own Python on PostgreSQL. For
the few statements every request runs (API-key authentication, identifier lookup),
:class:`PreparedSelect` compiles the Core statement once, executes it as a server-side
prepared statement on the psycopg connection beneath the SQLAlchemy one, and applies the
column types' bind and result processors itself, so the values are those SQLAlchemy would
return. Other dialects run the statement through SQLAlchemy as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select

Processor = Callable[[Any], Any] | None


class PreparedSelect:
    """One Core ``select`` with named bind parameters, run for its first row."""

    def __init__(self, statement: Select) -> None:
        self.statement = statement
        self._compiled: dict[int, tuple] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, dict[str, Any], list[Processor]]:
        compiled = self.statement.compile(dialect=dialect)
        # values fixed in the statement itself (a LIMIT, a literal), already bind-processed
        fixed = {
            compiled.bind_names[bind]: bind.effective_value
            for bind in compiled.binds.values()
            if not bind.required
        }
        processors = compiled._bind_processors
        fixed = {k: processors[k](v) if k in processors else v for k, v in fixed.items()}
        binds = {k: p for k, p in processors.items() if k not in fixed}
        results = [
            column.type._cached_result_processor(dialect, None)
            for column in self.statement.selected_columns
        ]
        entry = (compiled.string, fixed, binds, results)
        self._compiled[id(dialect)] = entry
        return entry

    async def first_async(
        self, connection: AsyncConnection, dialect: Dialect, params: Mapping[str, Any]
    ) -> tuple | None:
        """:meth:`first` on an asynchronous psycopg connection (``dialect``: the engine's)."""
        sql, fixed, binds, results = self._compiled.get(id(dialect)) or self._compile(dialect)
        params = {k: binds[k](v) if k in binds else v for k, v in params.items()}
        params.update(fixed)
        async with connection.cursor() as cursor:
            await cursor.execute(sql, params, prepare=True)
            row = await cursor.fetchone()
        if row is None:
            return None
        return tuple(
            v if p is None or v is None else p(v) for p, v in zip(results, row, strict=True)
        )

    def first(self, connection: Connection, params: Mapping[str, Any]) -> tuple | None:
        """The first row as a tuple, or None."""
        dialect = connection.dialect
        if dialect.name != "postgresql":
            row = connection.execute(self.statement, dict(params)).first()
            return tuple(row) if row is not None else None
        entry = self._compiled.get(id(dialect)) or self._compile(dialect)
        sql, fixed, binds, results = entry
        params = {k: binds[k](v) if k in binds else v for k, v in params.items()}
        params.update(fixed)
        dbapi_connection = connection.connection.dbapi_connection
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(sql, params, prepare=True)
            row = cursor.fetchone()
        except dialect.loaded_dbapi.Error as exc:
            # as SQLAlchemy's own execution does: a lost connection leaves the pool
            invalidated = dialect.is_disconnect(exc, dbapi_connection, cursor)
            if invalidated:
                connection.invalidate(exc)
            raise DBAPIError.instance(
                sql,
                params,
                exc,
                dialect.loaded_dbapi.Error,
                connection_invalidated=invalidated,
                dialect=dialect,
            ) from exc
        finally:
            cursor.close()
        if row is None:
            return None
        return tuple(
            v if p is None or v is None else p(v) for p, v in zip(results, row, strict=True)
        )
