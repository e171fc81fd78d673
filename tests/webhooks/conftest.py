"""Webhook fixtures: the real ASGI app on the `engine` fixture, endpoints, signed posts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from crm.models import Organization, WebhookDelivery, WebhookEndpoint
from crm.settings import Settings
from crm.webhooks.inbox import create_endpoint, endpoint_path
from crm.webhooks.signatures import sign
from graphql_schema.app import create_app


@dataclass
class Hook:
    """An endpoint of the test's organization and the secret its provider signs with."""

    endpoint: WebhookEndpoint
    secret: str

    @property
    def path(self) -> str:
        return endpoint_path(self.endpoint)


@pytest.fixture
def settings() -> Settings:
    return Settings(env="development")


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine, settings=settings)) as test_client:
        yield test_client


@pytest.fixture
def make_hook(session: Session, org: Organization) -> Callable[..., Hook]:
    def make(provider: str = "careportals", *, secret: str | None = None) -> Hook:
        endpoint, plain = create_endpoint(
            session, organization=org, provider=provider, display_name="test", secret=secret
        )
        session.commit()
        return Hook(endpoint, plain)

    return make


def post_signed(
    client: TestClient,
    hook: Hook,
    payload: Any,
    *,
    header: str = "X-CarePortals-Signature",
    signature: str | None = None,
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", header: signature or sign(hook.secret, body)}
    return client.post(hook.path, content=body, headers=headers)


def deliveries(engine: Engine) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookDelivery).order_by(WebhookDelivery.received_at)))
