"""Factories for pipeline tests: build observations the way sources do and read back rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from crm.ingest import Observation, Outcome, build_observation, ingest
from crm.models import Contact, ContactEvent, ContactIdentifier, Organization, SourceRecord


@pytest.fixture
def observe(org: Organization) -> Callable[..., Observation]:
    """``observe(source=..., external_id=..., observed_at=..., **raw)``: one observation."""

    def make(
        *,
        source: str = "csv",
        external_id: str | None = None,
        observed_at: datetime | None = None,
        **raw: Any,
    ) -> Observation:
        return build_observation(
            raw,
            source=source,
            region=org.default_region,
            external_id=external_id,
            observed_at=observed_at,
        )

    return make


@pytest.fixture
def run(session: Session, org: Organization) -> Callable[..., list[Outcome]]:
    """``run(*observations)``: one batch through the pipeline, committed."""

    def go(*observations: Observation) -> list[Outcome]:
        outcomes = ingest(session, organization=org, observations=observations, actor="test")
        session.commit()
        return outcomes

    return go


class Rows:
    """What the pipeline wrote, read straight from the tables."""

    def __init__(self, session: Session, org: Organization):
        self.session = session
        self.org = org

    def _all(self, model: Any, *conditions: Any, order: Any) -> list[Any]:
        self.session.expire_all()
        stmt = select(model).where(model.organization_id == self.org.id, *conditions)
        return list(self.session.execute(stmt.order_by(*order)).scalars())

    def contacts(self) -> list[Contact]:
        return self._all(Contact, order=[Contact.id])

    def contact(self, contact_id: Any) -> Contact:
        self.session.expire_all()
        contact = self.session.get(Contact, contact_id)
        assert contact is not None
        return contact

    def identifiers(self, namespace: str | None = None) -> list[ContactIdentifier]:
        ci = ContactIdentifier
        conditions = [ci.namespace == namespace] if namespace else []
        return self._all(ci, *conditions, order=[ci.namespace, ci.value, ci.ordinal])

    def records(self, source: str | None = None) -> list[SourceRecord]:
        sr = SourceRecord
        conditions = [sr.source_system == source] if source else []
        return self._all(sr, *conditions, order=[sr.source_system, sr.source_id, sr.version])

    def events(self, kind: str | None = None, contact_id: Any = None) -> list[ContactEvent]:
        ev = ContactEvent
        conditions = []
        if kind:
            conditions.append(ev.kind == kind)
        if contact_id:
            conditions.append(ev.contact_id == contact_id)
        return self._all(ev, *conditions, order=[ev.id])


@pytest.fixture
def rows(session: Session, org: Organization) -> Rows:
    return Rows(session, org)
