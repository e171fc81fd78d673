"""Factories for sweep tests: people through the ingestion pipeline, each from its own source
record, so that only the sweep can find them to be one."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from crm.ingest import build_observation, ingest
from crm.models import Contact, DuplicateCandidate, Organization

_ids = itertools.count(1)


@pytest.fixture
def person(session: Session, org: Organization) -> Callable[..., Contact]:
    """``person(**fields)``: one record from a source of its own, committed; its contact."""

    def make(*, source: str | None = None, **fields: Any) -> Contact:
        n = next(_ids)
        observation = build_observation(
            fields, source=source or f"src{n}", region=org.default_region, external_id=f"e{n}"
        )
        [outcome] = ingest(session, organization=org, observations=[observation], actor="test")
        session.commit()
        contact = session.get(Contact, outcome.contact_id)
        assert contact is not None
        session.commit()  # end the read: on SQLite an open transaction holds the write lock
        return contact

    return make


@pytest.fixture
def candidates(session: Session, org: Organization) -> Callable[[], list[DuplicateCandidate]]:
    def read() -> list[DuplicateCandidate]:
        session.expire_all()
        dc = DuplicateCandidate
        stmt = select(dc).where(dc.organization_id == org.id).order_by(dc.created_at, dc.id)
        rows = list(session.execute(stmt).scalars())
        session.commit()
        return rows

    return read
