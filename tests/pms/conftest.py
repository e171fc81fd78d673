"""PMS fixtures: a fake Cliniko on loopback, quick settings, a connection to it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from crm.models import Organization, PmsConnection
from crm.pms.connections import create_connection
from crm.pms.fake_cliniko import FakeCliniko
from crm.settings import Settings, get_settings
from graphql_schema.app import create_app

REDIS_URL = os.environ.get("CRM_TEST_REDIS_URL")
REDIS_SKIP = "Redis tests skipped: set CRM_TEST_REDIS_URL to run them"
API_KEY = "MS0xLWl4SzYYYYdtR3V2HNOTAREALKEYwvNHdeW0pd-au2"


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch) -> Iterator[None]:
    for var in ("CRM_REDIS_URL", "CRM_SECRET_KEY", "CRM_PREVIOUS_SECRET_KEYS"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings() -> Settings:
    """Short timeouts and few tries: a fault costs the tests little. The timeout (2 s) is
    long enough that a loaded machine does not turn a normal answer into a retry."""
    return Settings(pms_http_timeout=2.0, pms_http_attempts=3, pms_http_max_wait=5)


@pytest.fixture
def fake() -> Iterator[FakeCliniko]:
    with FakeCliniko(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def connect(
    session: Session, org: Organization, fake: FakeCliniko, settings: Settings
) -> Callable[..., PmsConnection]:
    def make(**kwargs: Any) -> PmsConnection:
        connection = create_connection(
            session,
            organization=kwargs.pop("organization", org),
            type="cliniko",
            credentials={"apiKey": API_KEY},
            base_url=fake.base_url,
            settings=settings,
            **kwargs,
        )
        session.commit()
        return connection

    return make


@pytest.fixture
def queue_name() -> str:
    """A queue of this test's own, so parallel tests never take each other's jobs."""
    import uuid

    return f"crm:test:{uuid.uuid4().hex}"


@pytest.fixture
def api(engine) -> Iterator[TestClient]:
    settings = Settings(env="development", pms_http_timeout=0.5, pms_http_attempts=2)
    with TestClient(create_app(engine=engine, settings=settings)) as client:
        yield client


def gql(client: TestClient, query: str, key: str, **variables) -> dict:
    response = client.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": variables}),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()
