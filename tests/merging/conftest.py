"""Factories and readers for merge tests: contacts through the pipeline, rows as stored."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from crm.contacts.commands import update_contact
from crm.ingest import build_observation, ingest
from crm.merging import merge_contacts, unmerge_contact
from crm.models import (
    Contact,
    ContactEvent,
    ContactIdentifier,
    DuplicateCandidate,
    Merge,
    Organization,
    SourceRecord,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(days: int) -> datetime:
    """An observation time ``days`` after a fixed start (ties never decide a test)."""
    return T0 + timedelta(days=days)


@pytest.fixture
def add(session: Session, org: Organization) -> Callable[..., Contact]:
    """``add(source=, external_id=, observed_at=, organization=, contact=, **fields)``: one
    record through the ingestion pipeline, committed; returns the contact it landed on."""

    def _add(
        *,
        source: str = "csv",
        external_id: str | None = None,
        observed_at: datetime | None = None,
        organization: Organization | None = None,
        contact: Contact | None = None,
        **fields: Any,
    ) -> Contact:
        target = organization or org
        observation = build_observation(
            fields,
            source=source,
            region=target.default_region,
            external_id=external_id,
            observed_at=observed_at,
            contact_id=contact.id if contact else None,
        )
        outcome = ingest(session, organization=target, observations=[observation])[0]
        found = session.get(Contact, outcome.contact_id)
        assert found is not None
        session.refresh(found)
        # committed last: on SQLite, an open transaction holds the write lock
        session.commit()
        return found

    return _add


@pytest.fixture
def merge(session: Session, org: Organization) -> Callable[..., Contact]:
    """``merge(survivor, *merged, **options)``: merge_contacts, committed."""

    def _merge(survivor: Contact, *merged: Contact, **options: Any) -> Contact:
        options.setdefault("actor", "test")
        result = merge_contacts(
            session,
            organization=options.pop("organization", org),
            survivor_id=survivor.id,
            merge_ids=[m.id for m in merged],
            **options,
        )
        session.commit()
        return result

    return _merge


@pytest.fixture
def unmerge(session: Session, org: Organization) -> Callable[..., Contact]:
    """``unmerge(contact)``: unmerge_contact, committed."""

    def _unmerge(contact: Contact, *, actor: str = "test") -> Contact:
        result = unmerge_contact(session, organization=org, contact_id=contact.id, actor=actor)
        session.commit()
        return result

    return _unmerge


@pytest.fixture
def candidate(session: Session, org: Organization) -> Callable[..., DuplicateCandidate]:
    """``candidate(a, b, score=, status=, reasons=)``: a review-queue row, as the sweep writes."""

    def _candidate(
        a: Contact,
        b: Contact,
        *,
        score: float = 0.8,
        status: str = "pending",
        reasons: list[dict[str, Any]] | None = None,
        organization: Organization | None = None,
    ) -> DuplicateCandidate:
        first, second = sorted([a.id, b.id])
        row = DuplicateCandidate(
            organization_id=(organization or org).id,
            contact_a_id=first,
            contact_b_id=second,
            score=score,
            status=status,
            reasons=reasons if reasons is not None else [{"field": "last_name", "weight": 2.1}],
        )
        session.add(row)
        session.commit()
        return row

    return _candidate


@pytest.fixture
def family(session, org, add) -> dict[str, Contact]:
    """Ann and Annie (one person, two contacts) and Harry, who shares an email with both.

    Ann: a CSV row in two versions, a manual edit, the household email second after Harry,
    a work email second after Annie. Annie: a Cliniko patient, a WhatsApp record, the household
    email third, the work email first.
    """
    harry = add(external_id="h-1", first_name="Harry", last_name="Lee", email="lees@example.com")
    ann = add(
        external_id="row-1",
        observed_at=at(0),
        first_name="Ann",
        last_name="Lee",
        email="ann@example.com",
    )
    ann = add(
        external_id="row-1",
        observed_at=at(2),
        first_name="Ann",
        last_name="Lee",
        email="ann@example.com",
        city="Bondi",
    )
    annie = add(
        source="cliniko",
        external_id="p-9",
        observed_at=at(1),
        first_name="Annabel",
        last_name="Lee",
        phone="0412 345 678",
        date_of_birth="1990-04-01",
        cliniko_id="p-9",
    )
    add(source="whatsapp", external_id="wa-1", observed_at=at(3), contact=annie, city="Coogee")
    add(
        source="webform",
        external_id="w-1",
        observed_at=at(1),
        contact=ann,
        email="lees@example.com",
    )
    add(
        source="webform",
        external_id="w-2",
        observed_at=at(1),
        contact=annie,
        email="lees@example.com",
    )
    add(
        source="webform",
        external_id="w-3",
        observed_at=at(1),
        contact=annie,
        email="work@example.com",
    )
    add(
        source="webform",
        external_id="w-4",
        observed_at=at(1),
        contact=ann,
        email="work@example.com",
    )
    update_contact(
        session,
        organization=org,
        contact_id=ann.id,
        version=None,
        data={"last_name": "Lee-Smith"},
        actor="test",
    )
    session.commit()
    return {"harry": harry, "ann": ann, "annie": annie}


@pytest.fixture
def carol(add) -> Contact:
    return add(
        source="halaxy",
        external_id="x-3",
        observed_at=at(4),
        first_name="Carol",
        last_name="Lee",
        email="ann@example.com",
        halaxy_id="x-3",
    )


class Stored:
    """Rows as they are in the tables now (never the session's cached objects)."""

    def __init__(self, session: Session, org: Organization):
        self.session = session
        self.org = org

    def _rows(self, model: Any, *conditions: Any, order: Any) -> list[dict[str, Any]]:
        table = model.__table__
        stmt = select(table).where(table.c.organization_id == self.org.id, *conditions)
        return [dict(r) for r in self.session.execute(stmt.order_by(*order)).mappings()]

    def contact(self, contact: Contact | uuid.UUID) -> dict[str, Any]:
        contact_id = getattr(contact, "id", contact)
        table = Contact.__table__
        (row,) = self._rows(Contact, table.c.id == contact_id, order=[table.c.id])
        return row

    def identifiers(self, contact: Contact | uuid.UUID | None = None) -> list[dict[str, Any]]:
        table = ContactIdentifier.__table__
        conditions = [table.c.contact_id == getattr(contact, "id", contact)] if contact else []
        return self._rows(ContactIdentifier, *conditions, order=[table.c.id])

    def held(self, namespace: str, value: str) -> list[tuple[uuid.UUID, int]]:
        """(contact id, ordinal) of every holder of a value, primary first."""
        table = ContactIdentifier.__table__
        rows = self._rows(
            ContactIdentifier,
            table.c.namespace == namespace,
            table.c.value == value,
            order=[table.c.ordinal],
        )
        return [(r["contact_id"], r["ordinal"]) for r in rows]

    def records(self, contact: Contact | uuid.UUID | None = None) -> list[dict[str, Any]]:
        table = SourceRecord.__table__
        conditions = [table.c.contact_id == getattr(contact, "id", contact)] if contact else []
        return self._rows(SourceRecord, *conditions, order=[table.c.id])

    def events(self, contact: Contact | uuid.UUID, kind: str | None = None) -> list[ContactEvent]:
        ev = ContactEvent
        stmt = select(ev).where(ev.contact_id == getattr(contact, "id", contact))
        if kind:
            stmt = stmt.where(ev.kind == kind)
        self.session.expire_all()
        return list(self.session.execute(stmt.order_by(ev.id)).scalars())

    def merges(self) -> list[Merge]:
        self.session.expire_all()
        stmt = select(Merge).where(Merge.organization_id == self.org.id).order_by(Merge.id)
        return list(self.session.execute(stmt).scalars())

    def candidates(self) -> list[DuplicateCandidate]:
        self.session.expire_all()
        dc = DuplicateCandidate
        stmt = select(dc).where(dc.organization_id == self.org.id).order_by(dc.id)
        return list(self.session.execute(stmt).scalars())

    def state(self, contact: Contact | uuid.UUID) -> dict[str, Any]:
        """Everything a contact is, but what every change moves (version, updated_at)."""
        row = self.contact(contact)
        for moving in ("version", "updated_at"):
            row.pop(moving)
        return {
            "contact": row,
            "identifiers": self.identifiers(contact),
            "records": self.records(contact),
        }


@pytest.fixture
def stored(session: Session, org: Organization) -> Stored:
    return Stored(session, org)
