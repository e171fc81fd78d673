"""Readers for contact service tests."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from crm.models import ContactEvent, ContactIdentifier, Organization


class History:
    """The organization's events and identifiers, read straight from the tables."""

    def __init__(self, session: Session, org: Organization):
        self.session = session
        self.org = org

    def events(self, kind: str | None = None) -> list[ContactEvent]:
        ev = ContactEvent
        stmt = select(ev).where(ev.organization_id == self.org.id)
        if kind:
            stmt = stmt.where(ev.kind == kind)
        return list(self.session.execute(stmt.order_by(ev.id)).scalars())

    def identifiers(self, namespace: str | None = None) -> list[ContactIdentifier]:
        ci = ContactIdentifier
        stmt = select(ci).where(ci.organization_id == self.org.id)
        if namespace:
            stmt = stmt.where(ci.namespace == namespace)
        return list(self.session.execute(stmt.order_by(ci.namespace, ci.ordinal)).scalars())

    def held(self, namespace: str) -> list[tuple[Any, int]]:
        return [(i.contact_id, i.ordinal) for i in self.identifiers(namespace)]


@pytest.fixture
def history(session: Session, org: Organization) -> History:
    return History(session, org)
