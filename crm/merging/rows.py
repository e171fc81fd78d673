"""Reading, locking and writing the contact rows a merge or an unmerge touches."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import select, update
from sqlmodel import Session

from crm.db import in_values
from crm.db_write import insert_rows as db_insert_rows
from crm.ingest.pipeline import ConcurrentUpdate
from crm.models import (
    CONTACT_FIELDS,
    MAX_MERGE_CHAIN,
    Contact,
    ContactEvent,
    DuplicateCandidate,
    uuid7,
)
from crm.models.base import UTCDateTime
from crm.webhooks.outbound.outbox import from_contact_events as queue_webhooks

CONTACTS = Contact.__table__
EVENTS = ContactEvent.__table__


def lock_contacts(
    session: Session, *, organization_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The organization's contacts with these ids, row-locked (in id order, so two merges
    of overlapping contacts cannot deadlock); SQLite's write lock is already held."""
    rows = as_dicts(
        session.execute(
            select(CONTACTS)
            .where(
                CONTACTS.c.organization_id == organization_id, in_values(CONTACTS.c.id, set(ids))
            )
            .order_by(CONTACTS.c.id)
            .with_for_update()
        )
    )
    return {row["id"]: row for row in rows}


def as_dicts(result: sa.Result[Any]) -> list[dict[str, Any]]:
    """A result's rows as dicts (cheaper than ``dict(mapping)`` row by row)."""
    keys = list(result.keys())
    # fetchall: one call for every row (iterating fetches them one by one)
    return [dict(zip(keys, row, strict=True)) for row in result.fetchall()]


def refresh_loaded(session: Session, contact_ids: Iterable[uuid.UUID]) -> None:
    """Reload the session's objects of these contacts and their candidates: the merge changed
    their rows with plain statements, behind the objects' backs."""
    ids = set(contact_ids)

    def touched(obj: Any) -> bool:
        if isinstance(obj, Contact):
            return obj.id in ids
        if isinstance(obj, DuplicateCandidate):
            return bool({obj.contact_a_id, obj.contact_b_id} & ids)
        return False

    for obj in list(session.identity_map.values()):
        if touched(obj):
            session.refresh(obj)


def merge_chain(
    session: Session, *, organization_id: uuid.UUID, contact_id: uuid.UUID
) -> list[uuid.UUID]:
    """``contact_id`` and every contact it was merged into since, the live one last."""
    chain = [contact_id]
    while len(chain) <= MAX_MERGE_CHAIN:
        target = session.execute(
            select(CONTACTS.c.merged_into_id).where(
                CONTACTS.c.organization_id == organization_id,
                CONTACTS.c.id == chain[-1],
                CONTACTS.c.status == "merged",
            )
        ).scalar_one_or_none()
        if target is None or target in chain:
            return chain
        chain.append(target)
    return chain


def write_contact(
    session: Session, *, row: Mapping[str, Any], values: Mapping[str, Any], now: datetime
) -> None:
    """Update a locked contact, bumping its version (which must not have moved)."""
    result = session.execute(
        update(CONTACTS)
        .where(CONTACTS.c.id == row["id"], CONTACTS.c.version == row["version"])
        .values({**values, "version": row["version"] + 1, "updated_at": now})
    )
    if result.rowcount != 1:
        raise ConcurrentUpdate(str(row["id"]))


def field_events(
    *,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    organization_id: uuid.UUID,
    contact_id: uuid.UUID,
    actor: str | None,
    data: dict[str, Any],
    now: datetime,
) -> list[dict[str, Any]]:
    """A ``field_changed`` event for each contact field that differs."""
    events = []
    for name in CONTACT_FIELDS:
        if before.get(name) != after.get(name):
            provenance = (after.get("field_sources") or {}).get(name) or {}
            events.append(
                event(
                    organization_id=organization_id,
                    contact_id=contact_id,
                    kind="field_changed",
                    actor=actor,
                    now=now,
                    field=name,
                    old_value=jsonable(before.get(name)),
                    new_value=jsonable(after.get(name)),
                    source=provenance.get("source"),
                    data=data,
                )
            )
    return events


def event(
    *,
    organization_id: uuid.UUID,
    contact_id: uuid.UUID,
    kind: str,
    actor: str | None,
    now: datetime,
    data: dict[str, Any],
    field: str | None = None,
    old_value: Any = None,
    new_value: Any = None,
    source: str | None = None,
) -> dict[str, Any]:
    return {
        "id": uuid7(),
        "organization_id": organization_id,
        "contact_id": contact_id,
        "kind": kind,
        "field": field,
        "old_value": old_value,
        "new_value": new_value,
        "source": source,
        "actor": actor,
        "data": data,
        "created_at": now,
    }


def insert_events(session: Session, events: list[dict[str, Any]]) -> None:
    insert_rows(session, EVENTS, events)
    # outbound webhooks (contact.merged / unmerged / updated), in this transaction
    queue_webhooks(session, events)


# snapshots: rows as JSON and back, exactly ------------------------------------------------


def jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def row_to_json(table: sa.Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of ``row`` as JSON values (uuids, dates and instants as strings)."""
    return {
        name: (jsonable(row[name]) if convert else row[name]) for name, convert in _json_plan(table)
    }


@lru_cache(maxsize=32)
def _json_plan(table: sa.Table) -> tuple[tuple[str, bool], ...]:
    """Each column and whether its values need ``jsonable`` (ids, dates, instants): a merge
    snapshots thousands of rows, and most columns are text already."""
    typed = (sa.Uuid, sa.Date, sa.DateTime, UTCDateTime)
    return tuple((c.name, isinstance(c.type, typed)) for c in table.columns)


def row_from_json(table: sa.Table, data: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of ``row_to_json``: column values as the table takes them."""
    values: dict[str, Any] = {}
    for name, value in data.items():
        column = table.c[name]
        if value is not None and isinstance(value, str):
            if isinstance(column.type, sa.Uuid):
                value = uuid.UUID(value)
            elif isinstance(column.type, UTCDateTime):
                value = datetime.fromisoformat(value)
            elif isinstance(column.type, sa.Date):
                value = date.fromisoformat(value)
        values[name] = value
    return values


# many rows in a few statements -------------------------------------------------------------


def insert_rows(session: Session, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows (all with the same keys) through the pipeline's writer
    (``crm.db_write.insert_rows``); JSON values as a one-row insert stores them (``None`` is
    JSON ``null``)."""
    db_insert_rows(session, table, rows, json_null=True)


def json_value(text: str | bytes) -> Any:
    """``json.loads``, through orjson where it can (the merge processes read many rows)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
