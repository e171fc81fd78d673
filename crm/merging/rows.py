"""Reading, locking and writing the contact rows a merge or an unmerge touches."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select, update
from sqlmodel import Session

from crm.db import in_values
from crm.ingest.pipeline import ConcurrentUpdate
from crm.models import CONTACT_FIELDS, Contact, ContactEvent, DuplicateCandidate, uuid7
from crm.models.base import UTCDateTime

CONTACTS = Contact.__table__
EVENTS = ContactEvent.__table__
# a chain of merges longer than this is a cycle or corruption, never real data
MAX_CHAIN = 100


def lock_contacts(
    session: Session, *, organization_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The organization's contacts with these ids, row-locked (in id order, so two merges
    of overlapping contacts cannot deadlock); SQLite's write lock is already held."""
    rows = session.execute(
        select(CONTACTS)
        .where(CONTACTS.c.organization_id == organization_id, in_values(CONTACTS.c.id, set(ids)))
        .order_by(CONTACTS.c.id)
        .with_for_update()
    ).mappings()
    return {row["id"]: dict(row) for row in rows}


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
    while len(chain) <= MAX_CHAIN:
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
    if events:
        session.execute(EVENTS.insert(), events)


# snapshots: rows as JSON and back, exactly ------------------------------------------------


def jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def row_to_json(table: sa.Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of ``row`` as JSON values (uuids, dates and instants as strings)."""
    return {column.name: jsonable(row[column.name]) for column in table.columns}


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
