"""The pipeline's last step, **store**: a plan's writes, set-based.

Each table's new rows go in as one statement (``crm.db_write.insert_rows``: COPY on
PostgreSQL), the contacts the plan changes as one ``UPDATE`` (``update_rows``) that only
touches a live contact still at the version the plan read, the superseded record versions
as one ``UPDATE``. Merges write through the same ``crm.db_write`` functions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlmodel import Session

from crm.db import in_values
from crm.db_write import InsertRows, update_rows
from crm.ingest.outcome import ConcurrentUpdate
from crm.models import (
    Contact,
    ContactEvent,
    ContactIdentifier,
    IdentifierRetraction,
    SourceRecord,
)
from crm.webhooks.outbound.outbox import from_contact_events as queue_webhooks

CONTACTS = Contact.__table__
IDENTIFIERS = ContactIdentifier.__table__
RECORDS = SourceRecord.__table__
EVENTS = ContactEvent.__table__
RETRACTIONS = IdentifierRetraction.__table__


@dataclass(slots=True)
class Writes:
    """What a plan writes, table by table; ``store`` sends it in this order."""

    contacts: list[dict[str, Any]] = field(default_factory=list)
    # each changed contact: ``id``, ``version`` (the one read; the row moves on from it),
    # the columns set (the same ones for every row)
    contact_updates: list[dict[str, Any]] = field(default_factory=list)
    identifiers: list[dict[str, Any]] = field(default_factory=list)
    # record versions no longer current
    superseded: list[uuid.UUID] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    # unlinks carried forward to new record versions
    retractions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    # the inserts, once ``render``ed
    rendered: list[InsertRows] | None = None

    def inserts(self) -> list[InsertRows]:
        if self.rendered is not None:
            return self.rendered
        tables = (CONTACTS, IDENTIFIERS, RECORDS, RETRACTIONS, EVENTS)
        rows = (self.contacts, self.identifiers, self.records, self.retractions, self.events)
        return [InsertRows(table, r) for table, r in zip(tables, rows, strict=True)]

    def render(self) -> Writes:
        """Build the inserts' COPY text now (``InsertRows.render``), to send later."""
        self.rendered = [rows.render() for rows in self.inserts()]
        return self


def store(session: Session, writes: Writes) -> None:
    """Send ``writes``; ``ConcurrentUpdate`` when a contact moved on since it was read."""
    contacts, identifiers, records, retractions, events = writes.inserts()
    contacts.send(session)
    update_contacts(session, writes.contact_updates)
    identifiers.send(session)
    supersede(session, writes.superseded)
    records.send(session)
    retractions.send(session)
    events.send(session)
    # outbound webhooks (contact.created / updated), in this transaction
    queue_webhooks(session, writes.events)


def update_contacts(session: Session, rows: list[dict[str, Any]]) -> None:
    """One versioned ``UPDATE`` of these contacts: each must still be at the ``version`` its
    row gives and live (no write lands on a tombstone, whatever version it read)."""
    keys = ("id", "version")
    only = {"status": "active"}
    written = update_rows(session, CONTACTS, rows, keys=keys, bump_version=True, only=only)
    if written != len(rows):
        raise ConcurrentUpdate(f"{len(rows) - written} contacts changed meanwhile")


def supersede(session: Session, record_ids: list[uuid.UUID]) -> None:
    if record_ids:
        session.execute(
            update(RECORDS).where(in_values(RECORDS.c.id, record_ids)).values(is_current=False)
        )
