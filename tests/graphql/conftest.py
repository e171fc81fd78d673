"""GraphQL API fixtures: the ASGI app on the `engine` fixture, a key per role, data factories.

Factories are fixtures returning keyword-only functions bound to the test's session and
organization. Each commits before returning: on SQLite an open write transaction would make
the request that follows wait for the lock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from crm.ingest import build_observation, ingest
from crm.models import ApiKey, Contact, Organization
from crm.settings import Settings
from crm.tenancy.service import hash_key, revoke_api_key
from graphql_schema.app import create_app
from tests.conftest import make_key

# every contact of the organization, whatever its status: what "nothing changed" compares
SNAPSHOT = """
query Snapshot {
  contacts(first: 500, filter: {status: null}) {
    totalCount
    edges {
      node {
        id version status firstName lastName email phone dateOfBirth
        identifiers { channel value primary }
        sources { system externalId version }
      }
    }
  }
}
"""


@dataclass
class Api:
    """A client of ``/graphql`` that speaks GraphQL over HTTP with an API key."""

    client: TestClient

    def post(
        self,
        query: str,
        *,
        key: str | None,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        sent = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        # ASCII-escaped JSON: a lone surrogate ("\\ud83d") is valid JSON text a client may send
        return self.client.post("/graphql", content=json.dumps(body), headers=sent)

    def execute(
        self, query: str, *, key: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The JSON body of a request that reached GraphQL (HTTP 200, errors or not)."""
        response = self.post(query, key=key, variables=variables)
        assert response.status_code == 200, response.text
        return response.json()

    def data(
        self, query: str, *, key: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The ``data`` of a request that must succeed without any top-level error."""
        body = self.execute(query, key=key, variables=variables)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def snapshot(self, *, key: str) -> dict[str, Any]:
        """Every contact of the key's organization with what mutations can change."""
        return self.data(SNAPSHOT, key=key)["contacts"]


def top_level_error(body: dict[str, Any]) -> dict[str, Any]:
    """The one top-level error of a response body."""
    assert len(body.get("errors") or []) == 1, body
    return body["errors"][0]


@pytest.fixture
def settings() -> Settings:
    # explicit, so that a CRM_ENV=production in the shell does not change what tests see
    return Settings(env="development")


@pytest.fixture
def production_settings() -> Settings:
    return Settings(env="production")


@pytest.fixture
def api(engine: Engine, settings: Settings) -> Iterator[Api]:
    with TestClient(create_app(engine=engine, settings=settings)) as client:
        yield Api(client)


@pytest.fixture
def production_api(engine: Engine, production_settings: Settings) -> Iterator[Api]:
    with TestClient(create_app(engine=engine, settings=production_settings)) as client:
        yield Api(client)


@pytest.fixture
def admin_key(session: Session, org: Organization) -> str:
    return make_key(session, org, "admin")


@pytest.fixture
def editor_key(session: Session, org: Organization) -> str:
    return make_key(session, org, "editor")


@pytest.fixture
def reader_key(session: Session, org: Organization) -> str:
    return make_key(session, org, "reader")


@pytest.fixture
def foreign_key(session: Session, other_org: Organization) -> str:
    """An admin key of another organization."""
    return make_key(session, other_org, "admin")


@pytest.fixture
def revoke(session: Session) -> Callable[[str], None]:
    """``revoke(plain_key)``: the key stops working."""

    def _revoke(key: str) -> None:
        row = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).scalar_one()
        revoke_api_key(session, organization_id=row.organization_id, key_id=row.id)
        session.commit()

    return _revoke


@pytest.fixture
def import_contact(session: Session, org: Organization) -> Callable[..., Contact]:
    """``import_contact(source=, external_id=, observed_at=, organization=, **fields)``.

    One record through the ingestion pipeline, as a CSV row, a PMS or a channel sends it.
    """

    def _import(
        *,
        organization: Organization | None = None,
        source: str = "csv",
        external_id: str | None = None,
        observed_at: datetime | None = None,
        **fields: Any,
    ) -> Contact:
        target = organization or org
        observation = build_observation(
            fields,
            source=source,
            region=target.default_region,
            external_id=external_id,
            observed_at=observed_at,
        )
        outcome = ingest(session, organization=target, observations=[observation])[0]
        contact = session.get(Contact, outcome.contact_id)
        assert contact is not None
        session.refresh(contact)
        session.commit()
        return contact

    return _import


@pytest.fixture
def import_batch(session: Session, org: Organization) -> Callable[..., list[uuid.UUID]]:
    """``import_batch(records=[...], source=)``: many records in one batch (the bulk path)."""

    def _import(*, records: list[dict[str, Any]], source: str = "csv") -> list[uuid.UUID]:
        observations = [
            build_observation(dict(record), source=source, region=org.default_region)
            for record in records
        ]
        outcomes = ingest(session, organization=org, observations=observations)
        session.commit()
        return [outcome.contact_id for outcome in outcomes]

    return _import


@pytest.fixture
def set_status(session: Session) -> Callable[..., None]:
    """``set_status(contact, status=, merged_into=)`` (merging and erasing have no API yet)."""

    def _set(contact: Contact, *, status: str, merged_into: Contact | None = None) -> None:
        session.execute(
            update(Contact)
            .where(Contact.id == contact.id)
            .values(
                status=status,
                merged_into_id=merged_into.id if merged_into else None,
                version=Contact.version + 1,
                updated_at=datetime.now(UTC),
            )
        )
        session.commit()

    return _set
