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
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import Numeric
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    """The statement for one dialect: its SQL, and what to do to parameters and results."""

    sql: str
    fixed: dict[str, Any]  # values fixed in the statement (a LIMIT), already bind-processed
    binds: dict[str, Callable[[Any], Any]]  # bind processors of the caller's parameters
    results: list[Processor]  # one result processor (or None) per selected column

    def parameters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        binds = self.binds
        out = {k: binds[k](v) if k in binds else v for k, v in params.items()}
        out.update(self.fixed)
        return out

    def row(self, row: tuple | None) -> tuple | None:
        if row is None:
            return None
        return tuple(
            v if p is None or v is None else p(v) for p, v in zip(self.results, row, strict=True)
        )


def _result_processor(column: Any, dialect: Dialect) -> Processor:
    try:
        return column.type._cached_result_processor(dialect, None)
    except TypeError:
        # psycopg's Numeric wants the column's type oid, unknown before a result: psycopg
        # already returns Decimal for NUMERIC, which is what SQLAlchemy would give
        if isinstance(column.type, Numeric) and column.type.asdecimal:
            return None
        raise


class PreparedSelect:
    """One Core ``select`` with named bind parameters, run for its first row (or all rows)."""

    def __init__(self, statement: Select) -> None:
        self.statement = statement
        self._compiled: dict[int, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(id(dialect))
        if found is not None:
            return found
        compiled = self.statement.compile(dialect=dialect)
        processors = compiled._bind_processors
        fixed = {
            compiled.bind_names[bind]: bind.effective_value
            for bind in compiled.binds.values()
            if not bind.required
        }
        entry = _Compiled(
            sql=compiled.string,
            fixed={k: processors[k](v) if k in processors else v for k, v in fixed.items()},
            binds={k: p for k, p in processors.items() if k not in fixed},
            results=[
                _result_processor(column, dialect) for column in self.statement.selected_columns
            ],
        )
        self._compiled[id(dialect)] = entry
        return entry

    async def first_async(
        self, connection: AsyncConnection, dialect: Dialect, params: Mapping[str, Any]
    ) -> tuple | None:
        """:meth:`first` on an asynchronous psycopg connection (``dialect``: the engine's).

        A lost connection raises psycopg's error; ``psycopg_pool`` drops it from the pool.
        """
        compiled = self._for(dialect)
        async with connection.cursor() as cursor:
            await cursor.execute(compiled.sql, compiled.parameters(params), prepare=True)
            return compiled.row(await cursor.fetchone())

    async def all_async(
        self, connection: AsyncConnection, dialect: Dialect, params: Mapping[str, Any]
    ) -> list[tuple]:
        """Every row, as :meth:`first_async` runs the statement."""
        compiled = self._for(dialect)
        async with connection.cursor() as cursor:
            await cursor.execute(compiled.sql, compiled.parameters(params), prepare=True)
            return [compiled.row(r) for r in await cursor.fetchall()]  # type: ignore[misc]

    @staticmethod
    async def pipelined_async(
        connection: AsyncConnection,
        dialect: Dialect,
        runs: list[tuple[PreparedSelect, Mapping[str, Any], bool]],
    ) -> list[Any]:
        """Several statements in one round trip (psycopg's pipeline mode): for each
        ``(statement, params, every_row)``, its rows (``every_row``) or its first row."""
        sent = []
        async with connection.pipeline():
            for statement, params, every_row in runs:
                compiled = statement._for(dialect)
                cursor = connection.cursor()
                await cursor.execute(compiled.sql, compiled.parameters(params), prepare=True)
                sent.append((cursor, compiled, every_row))
            out: list[Any] = []
            for cursor, compiled, every_row in sent:
                if every_row:
                    out.append([compiled.row(r) for r in await cursor.fetchall()])
                else:
                    out.append(compiled.row(await cursor.fetchone()))
                await cursor.close()
        return out

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple]:
        """Every row as a tuple (through SQLAlchemy: the few-row reads beside the hot path)."""
        return [tuple(r) for r in connection.execute(self.statement, dict(params))]

    def first(self, connection: Connection, params: Mapping[str, Any]) -> tuple | None:
        """The first row as a tuple, or None."""
        dialect = connection.dialect
        if dialect.name != "postgresql":
            row = connection.execute(self.statement, dict(params)).first()
            return tuple(row) if row is not None else None
        compiled = self._for(dialect)
        values = compiled.parameters(params)
        dbapi_connection = connection.connection.dbapi_connection
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(compiled.sql, values, prepare=True)
            row = cursor.fetchone()
        except dialect.loaded_dbapi.Error as exc:
            # as SQLAlchemy's own execution does: a lost connection leaves the pool
            invalidated = dialect.is_disconnect(exc, dbapi_connection, cursor)
            if invalidated:
                connection.invalidate(exc)
            raise DBAPIError.instance(
                compiled.sql,
                values,
                exc,
                dialect.loaded_dbapi.Error,
                connection_invalidated=invalidated,
                dialect=dialect,
            ) from exc
        finally:
            cursor.close()
        return compiled.row(row)
