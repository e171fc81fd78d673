"""Writing many rows at once, and the dialects' differences in it.

``insert_rows``: PostgreSQL ``COPY ... FROM STDIN`` (text built here), one multi-row
``INSERT`` elsewhere. ``update_rows``: one ``UPDATE ... FROM`` a set of rows on PostgreSQL,
one prepared statement executed per row elsewhere. The ingestion pipeline's store and the
merges write through them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import update
from sqlmodel import Session

from crm.db import is_postgres, json_dumps


def _copy_text(value: Any) -> str:
    # COPY text format: backslash, tab, newline and carriage return are escaped
    if value is None:
        return "\\N"
    if type(value) is not str:
        value = value.value if isinstance(value, Enum) else str(value)
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


def _copy_uuid(value: Any) -> str:
    # 32 hex digits: PostgreSQL reads a uuid without its dashes too, and it is 5x cheaper
    return value.hex if type(value) is uuid.UUID else _copy_text(value)


def _copy_bool(value: Any) -> str:
    return "\\N" if value is None else ("t" if value else "f")


def _copy_json(value: Any) -> str:
    return "\\N" if value is None else _copy_text(json_dumps(value))


def _copy_date(value: Any) -> str:
    if value is None or type(value) is str:
        return _copy_text(value)
    return value.isoformat()


# (instant, its text): replaced as one tuple, so that threads never see half of a pair
_last_datetime: tuple[Any, str] = (None, "\\N")


def _copy_datetime(value: Any) -> str:
    global _last_datetime
    # a batch stamps most rows with one instant: format it once
    last = _last_datetime
    if value is last[0]:
        return last[1]
    if value is None or type(value) is str:
        return _copy_text(value)
    text = value.isoformat() if value.tzinfo is not None else value.replace(tzinfo=UTC).isoformat()
    _last_datetime = (value, text)
    return text


def _copy_kind(column: sa.Column) -> str:
    column_type = column.type
    if isinstance(column_type, sa.TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, sa.JSON):
        return "json"
    if isinstance(column_type, sa.Uuid):
        return "uuid"
    if isinstance(column_type, sa.Boolean):
        return "bool"
    if isinstance(column_type, sa.DateTime):
        return "datetime"
    if isinstance(column_type, sa.Date):
        return "date"
    return "text"


_COPY_FORMATTERS = {
    "json": _copy_json,
    "uuid": _copy_uuid,
    "bool": _copy_bool,
    "datetime": _copy_datetime,
    "date": _copy_date,
    "text": _copy_text,
}


def _copy_json_null(value: Any) -> str:
    return _copy_text(json_dumps(value))


@lru_cache(maxsize=64)
def _copy_formatters(
    table: sa.Table, columns: tuple[str, ...], json_null: bool = False
) -> tuple[Any, ...]:
    kinds = [_copy_kind(table.c[name]) for name in columns]
    return tuple(
        _copy_json_null if json_null and kind == "json" else _COPY_FORMATTERS[kind]
        for kind in kinds
    )


# stands for NULL while a line is built; counted, so a value that holds one is never taken
# for a NULL (such a line goes through the general formatters)
_NULL_MARK = "\x00"


@lru_cache(maxsize=64)
def _copy_line_function(table: sa.Table, columns: tuple[str, ...], json_null: bool) -> Any:
    """A function of one row that returns its COPY line, made once per table and columns.

    The line is one f-string of the values as they are; a line in which escaping would
    change anything (a backslash, tab, newline or carriage return in a value, or a NUL) is
    built again by the general formatters, cell by cell.
    """
    loads, cells, nullable = [], [], []
    for index, name in enumerate(columns):
        column = table.c[name]
        kind = _copy_kind(column)
        value = f"c{index}"
        loads.append(f"    {value} = row[{name!r}]")
        if kind == "uuid":
            # 32 hex digits (PostgreSQL reads a uuid without its dashes), from the int in C
            text = f"{value}.int:032x" if not column.nullable else f"_hex({value}.int)"
        elif kind == "json":
            text = f"_json({value})"
        elif kind == "datetime":
            text = f"_datetime({value})"
        elif kind == "bool":
            text = f"('t' if {value} else 'f')"
        else:  # text, numbers, dates: their str()
            text = value
        if json_null and kind == "json":
            pass  # None is JSON null
        elif column.nullable or kind != "uuid":
            nullable.append(f"({value} is None)")
            text = f"_NULL if {value} is None else {text}"
        cells.append("{" + text + "}")
    nulls = " + ".join(nullable) or "0"
    source = "\n".join(
        [
            "def line(row):",
            *loads,
            f"    nulls = {nulls}",
            "    text = f" + repr("\t".join(cells)),
            "    if (",
            f"        text.count('\\t') != {len(columns) - 1}",
            "        or text.count(_NULL) != nulls",
            "        or '\\\\' in text or '\\n' in text or '\\r' in text",
            "    ):",
            "        return _general(row)",
            "    return (text.replace(_NULL, '\\\\N') if nulls else text) + '\\n'",
        ]
    )
    formatters = _copy_formatters(table, columns, json_null)
    pairs = list(zip(columns, formatters, strict=True))

    def general(row: dict[str, Any]) -> str:
        return "\t".join([fmt(row[name]) for name, fmt in pairs]) + "\n"

    namespace: dict[str, Any] = {
        "_NULL": _NULL_MARK,
        "_json": json_dumps,
        "_datetime": _copy_datetime,
        "_hex": "{:032x}".format,
        "_general": general,
    }
    exec(compile(source, f"<copy {table.name}>", "exec"), namespace)
    return namespace["line"]


def copy_lines(
    table: sa.Table,
    columns: tuple[str, ...],
    rows: list[dict[str, Any]],
    json_null: bool = False,
) -> str:
    """``rows`` as PostgreSQL ``COPY ... FROM STDIN`` text (every row has ``columns``).

    A JSON column's ``None`` is SQL ``NULL``, or with ``json_null`` JSON ``null`` (as a
    one-row insert through SQLAlchemy stores it)."""
    line = _copy_line_function(table, columns, json_null)
    try:
        return "".join([line(row) for row in rows])
    except AttributeError:  # an id that is not a uuid.UUID: the general formatters
        formatters = _copy_formatters(table, columns, json_null)
        pairs = list(zip(columns, formatters, strict=True))
        return "".join("\t".join([fmt(row[name]) for name, fmt in pairs]) + "\n" for row in rows)


# sent in pieces, so that the server works on one while the next is built
COPY_CHUNK_ROWS = 250


def copy_statement(table: sa.Table, columns: tuple[str, ...]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'COPY "{table.name}" ({names}) FROM STDIN'


@dataclass(slots=True)
class InsertRows:
    """Rows to insert into one table (all with the same keys), in one statement.

    ``render`` builds their PostgreSQL ``COPY`` text ahead of ``send``: the Python work of
    the insert without the database's, so that another thread can send it while this one
    goes on. Unrendered, ``send`` builds the text in pieces while the server stores the
    ones before. Elsewhere (SQLite) ``send`` is one multi-row ``INSERT``.
    """

    table: sa.Table
    rows: list[dict[str, Any]]
    # a JSON column's None as JSON null rather than SQL NULL (``copy_lines``)
    json_null: bool = False
    chunks: list[str] | None = field(default=None)

    def render(self) -> InsertRows:
        if self.rows and self.chunks is None:
            self.chunks = list(self._chunks())
        return self

    def _chunks(self) -> Any:
        columns = tuple(self.rows[0])
        for start in range(0, len(self.rows), COPY_CHUNK_ROWS):
            rows = self.rows[start : start + COPY_CHUNK_ROWS]
            yield copy_lines(self.table, columns, rows, self.json_null)

    def send(self, session: Session) -> None:
        if not self.rows:
            return
        if not is_postgres(session):
            session.execute(self.table.insert(), self.rows)
            return
        statement = copy_statement(self.table, tuple(self.rows[0]))
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for text in self.chunks if self.chunks is not None else self._chunks():
                copy.write(text)


def insert_rows(
    session: Session, table: sa.Table, rows: list[dict[str, Any]], *, json_null: bool = False
) -> None:
    """Insert many rows at once (all with the same keys): PostgreSQL ``COPY``, a multi-row
    ``INSERT`` elsewhere. ``json_null``: a JSON column's ``None`` is JSON ``null`` on
    PostgreSQL too (as SQLAlchemy's ``INSERT`` stores it), not SQL ``NULL``."""
    InsertRows(table, rows, json_null).send(session)


def update_rows(
    session: Session,
    table: sa.Table,
    rows: list[dict[str, Any]],
    *,
    keys: tuple[str, ...] = ("id",),
    bump_version: bool = False,
    only: dict[str, Any] | None = None,
) -> int:
    """Set each row's other columns where its ``keys`` columns match; the rows updated.

    PostgreSQL: one ``UPDATE ... FROM jsonb_to_recordset(...)`` per call, however many rows;
    elsewhere one prepared statement executed per row. Every row has the same keys. With
    ``bump_version``, ``version`` moves on by one (put ``version`` in ``keys`` to match it).
    ``only``: columns every updated row must also have these values in (e.g. a status).
    """
    if not rows:
        return 0
    only = only or {}
    columns = [c for c in rows[0] if c not in keys]
    if is_postgres(session):
        return _update_rows_postgres(session, table, rows, keys, columns, bump_version, only)
    stmt = update(table).where(
        *(table.c[k] == sa.bindparam(f"k_{k}") for k in keys),
        *(table.c[k] == v for k, v in only.items()),
    )
    values: dict[str, Any] = {c: sa.bindparam(f"v_{c}") for c in columns}
    if bump_version:
        values["version"] = table.c.version + 1
    params = [
        {**{f"k_{k}": row[k] for k in keys}, **{f"v_{c}": row[c] for c in columns}} for row in rows
    ]
    result = session.execute(stmt.values(values), params)
    return result.rowcount


def _update_rows_postgres(
    session: Session,
    table: sa.Table,
    rows: list[dict[str, Any]],
    keys: tuple[str, ...],
    columns: list[str],
    bump_version: bool,
    only: dict[str, Any],
) -> int:
    dialect = session.get_bind().dialect
    names = [*keys, *columns]
    record = ", ".join(f'"{n}" {table.c[n].type.compile(dialect=dialect)}' for n in names)
    sets = [f'"{c}" = v."{c}"' for c in columns]
    if bump_version:
        sets.append('"version" = t."version" + 1')
    match = [f't."{k}" = v."{k}"' for k in keys]
    match += [f't."{k}" = :only_{k}' for k in only]
    sql = (
        # the table's name unquoted: our tables' names are plain lower-case words
        f"UPDATE {table.name} AS t SET {', '.join(sets)} "
        f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v({record}) "
        f"WHERE {' AND '.join(match)}"
    )
    payload = json_text([{n: row[n] for n in names} for row in rows])
    params = {"rows": payload, **{f"only_{k}": v for k, v in only.items()}}
    return session.execute(sa.text(sql), params).rowcount


def json_text(value: Any) -> str:
    """JSON text with uuids, dates and instants in ISO form (orjson encodes them so,
    natively: several times cheaper than ``json.dumps``); ``json.dumps`` for what orjson
    refuses (non-string keys, integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, default=_json_default).decode()
    except TypeError:
        return json.dumps(value, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime | date):
        return value.isoformat() if not isinstance(value, uuid.UUID) else str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
