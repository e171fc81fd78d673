"""Managing endpoints and subscriptions as an admin would: over GraphQL and the CLI, list,
disable (deliveries answer 404 and nothing is stored), enable, rotate the secret (shown once),
delete. Deliveries go through the real HTTP app."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from crm.cli import app as cli
from crm.models import WebhookDelivery, WebhookEndpoint, WebhookOutbox
from crm.settings import Settings
from crm.webhooks.signatures import sign
from tests.conftest import make_key
from tests.webhooks.test_contact_context import CONTEXT
from tests.webhooks.test_graphql import CREATE, gql, order

ENDPOINTS = "{ webhookEndpoints { id provider url secret enabled rejectedSignatures } }"
CHANGE = """
mutation Change($id: ID!) {
  %s(input: {id: $id}) {
    webhookEndpoint { id enabled secret }
    errors { code field }
  }
}
"""
DELETE = """
mutation Delete($id: ID!) {
  deleteWebhookEndpoint(input: {id: $id}) { deletedId errors { code field } }
}
"""
SUBSCRIPTION_CHANGE = """
mutation Change($id: ID!) {
  %s(input: {id: $id}) {
    webhookSubscription { id enabled secret }
    errors { code field }
  }
}
"""


@pytest.fixture
def settings() -> Settings:
    # events stay queued for the test to see (no background sender)
    return Settings(env="development", webhook_send_interval_seconds=0)


def _create(client, admin) -> dict:
    out = gql(client, admin, CREATE, {"input": {"provider": "CAREPORTALS"}})
    return out["data"]["createWebhookEndpoint"]["webhookEndpoint"]


def _post(client, endpoint: dict, secret: str, event_id: str):
    body = order(event_id, f"ord-{event_id}", f"{event_id}@example.com")
    return client.post(
        endpoint["url"], content=body, headers={"X-CarePortals-Signature": sign(secret, body)}
    )


def _stored(engine) -> list[WebhookDelivery]:
    with Session(engine) as s:
        return list(s.exec(select(WebhookDelivery)))


class TestEndpointsOverGraphql:
    def test_list_never_shows_the_secret(self, client, session, org):
        admin = make_key(session, org, "admin")
        made = _create(client, admin)
        assert made["secret"]
        listed = gql(client, admin, ENDPOINTS)["data"]["webhookEndpoints"]
        assert listed == [
            {
                "id": made["id"],
                "provider": "CAREPORTALS",
                "url": made["url"],
                "secret": None,
                "enabled": True,
                "rejectedSignatures": 0,
            }
        ]

    def test_a_disabled_endpoint_answers_404_and_stores_nothing_until_enabled(
        self, client, engine, session, org
    ):
        admin = make_key(session, org, "admin")
        made = _create(client, admin)
        # when disabled
        out = gql(client, admin, CHANGE % "disableWebhookEndpoint", {"id": made["id"]})
        assert out["data"]["disableWebhookEndpoint"]["webhookEndpoint"] == {
            "id": made["id"],
            "enabled": False,
            "secret": None,
        }
        # then a correctly signed delivery is refused and nothing is kept
        assert _post(client, made, made["secret"], "e1").status_code == 404
        assert _stored(engine) == []
        # and enabled again it receives
        gql(client, admin, CHANGE % "enableWebhookEndpoint", {"id": made["id"]})
        assert _post(client, made, made["secret"], "e2").status_code == 200
        assert [d.event_id for d in _stored(engine)] == ["e2"]

    def test_a_disabled_whatsapp_endpoint_fails_the_handshake(self, client, session, org):
        admin = make_key(session, org, "admin")
        out = gql(client, admin, CREATE, {"input": {"provider": "WHATSAPP", "secret": "app-s"}})
        made = out["data"]["createWebhookEndpoint"]["webhookEndpoint"]
        params = {"hub.mode": "subscribe", "hub.verify_token": "app-s", "hub.challenge": "42"}
        assert client.get(made["url"], params=params).text == "42"
        gql(client, admin, CHANGE % "disableWebhookEndpoint", {"id": made["id"]})
        assert client.get(made["url"], params=params).status_code == 404

    def test_a_rotated_secret_is_shown_once_and_the_old_one_is_refused(
        self, client, engine, session, org
    ):
        admin = make_key(session, org, "admin")
        made = _create(client, admin)
        out = gql(client, admin, CHANGE % "rotateWebhookEndpointSecret", {"id": made["id"]})
        new = out["data"]["rotateWebhookEndpointSecret"]["webhookEndpoint"]["secret"]
        assert new and new != made["secret"]
        assert _post(client, made, made["secret"], "old").status_code == 401
        assert _post(client, made, new, "new").status_code == 200
        listed = gql(client, admin, ENDPOINTS)["data"]["webhookEndpoints"]
        assert listed[0]["secret"] is None and listed[0]["rejectedSignatures"] == 1

    def test_a_deleted_endpoint_is_gone_with_its_raw_deliveries(self, client, engine, session, org):
        admin = make_key(session, org, "admin")
        made = _create(client, admin)
        assert _post(client, made, made["secret"], "e1").status_code == 200
        out = gql(client, admin, DELETE, {"id": made["id"]})
        assert out["data"]["deleteWebhookEndpoint"] == {"deletedId": made["id"], "errors": []}
        assert _post(client, made, made["secret"], "e2").status_code == 404
        assert _stored(engine) == []
        assert gql(client, admin, ENDPOINTS)["data"]["webhookEndpoints"] == []

    def test_another_organizations_endpoint_is_not_found(self, client, session, org):
        from crm.tenancy.service import create_organization

        other = create_organization(session, name="Elsewhere")
        session.commit()
        theirs = _create(client, make_key(session, other, "admin"))
        admin = make_key(session, org, "admin")
        for name in ("disableWebhookEndpoint", "rotateWebhookEndpointSecret"):
            out = gql(client, admin, CHANGE % name, {"id": theirs["id"]})
            assert out["data"][name] == {
                "webhookEndpoint": None,
                "errors": [{"code": "NOT_FOUND", "field": "id"}],
            }
        assert gql(client, admin, DELETE, {"id": theirs["id"]})["data"]["deleteWebhookEndpoint"][
            "errors"
        ] == [{"code": "NOT_FOUND", "field": "id"}]

    def test_only_admins_manage_endpoints(self, client, session, org):
        editor = make_key(session, org, "editor")
        assert gql(client, editor, ENDPOINTS)["errors"]
        out = gql(client, editor, CHANGE % "disableWebhookEndpoint", {"id": "x"})
        assert out["data"] is None and out["errors"]


def crm(*args: str):
    return CliRunner().invoke(cli, list(args))


class TestEndpointsCli:
    def test_add_list_disable_enable_rotate_delete(self, client, engine, org, monkeypatch):
        monkeypatch.delenv("CRM_REDIS_URL", raising=False)
        org_ref = str(org.id)
        added = crm("webhooks", "endpoints", "add", "--org", org_ref, "--provider", "careportals",
                    "--json")  # fmt: skip
        assert added.exit_code == 0, added.output
        made = json.loads(added.stdout)
        assert made["secret"] and made["enabled"] is True

        listed = json.loads(crm("webhooks", "endpoints", "list", "--org", org_ref, "--json").stdout)
        assert [e["id"] for e in listed["endpoints"]] == [made["id"]]
        assert "secret" not in listed["endpoints"][0]

        off = crm("webhooks", "endpoints", "disable", made["id"], "--org", org_ref, "--json")
        assert off.exit_code == 0 and json.loads(off.stdout)["enabled"] is False
        assert _post(client, made, made["secret"], "e1").status_code == 404

        on = crm("webhooks", "endpoints", "enable", made["id"], "--org", org_ref, "--json")
        assert json.loads(on.stdout)["enabled"] is True

        rotated = crm("webhooks", "endpoints", "rotate-secret", made["id"], "--org", org_ref,
                      "--json")  # fmt: skip
        new = json.loads(rotated.stdout)["secret"]
        assert _post(client, made, made["secret"], "e2").status_code == 401
        assert _post(client, made, new, "e3").status_code == 200

        gone = crm("webhooks", "endpoints", "delete", made["id"], "--org", org_ref, "--json")
        assert json.loads(gone.stdout) == {"deleted": made["id"]}
        with Session(engine) as s:
            assert s.exec(select(WebhookEndpoint)).all() == []

    def test_an_unknown_endpoint_is_bad_usage_with_a_reason(self, engine, org):
        out = crm("webhooks", "endpoints", "disable", "00000000-0000-0000-0000-000000000000",
                  "--org", str(org.id))  # fmt: skip
        assert out.exit_code == 2
        assert "NOT_FOUND" in out.stderr


class TestSubscriptions:
    def _subscribe(self, client, admin) -> dict:
        out = gql(
            client,
            admin,
            "mutation($i: CreateWebhookSubscriptionInput!) { createWebhookSubscription(input: $i)"
            " { webhookSubscription { id secret enabled } errors { code } } }",
            {"i": {"url": "https://93.184.215.14/x", "events": ["contact.created"]}},
        )
        return out["data"]["createWebhookSubscription"]["webhookSubscription"]

    def _event(self, client, session, org, value: str) -> None:
        editor = make_key(session, org, "editor")
        gql(client, editor, CONTEXT, {"channel": "EMAIL", "value": value})

    def _queued(self, engine) -> int:
        with Session(engine) as s:
            return len(s.exec(select(WebhookOutbox).where(WebhookOutbox.status == "pending")).all())

    def test_a_disabled_subscription_gets_no_events_until_enabled(
        self, client, engine, session, org, monkeypatch
    ):
        admin = make_key(session, org, "admin")
        sub = self._subscribe(client, admin)
        out = gql(
            client, admin, SUBSCRIPTION_CHANGE % "disableWebhookSubscription", {"id": sub["id"]}
        )
        assert out["data"]["disableWebhookSubscription"]["webhookSubscription"]["enabled"] is False
        self._event(client, session, org, "a@example.com")
        assert self._queued(engine) == 0
        gql(client, admin, SUBSCRIPTION_CHANGE % "enableWebhookSubscription", {"id": sub["id"]})
        self._event(client, session, org, "b@example.com")
        assert self._queued(engine) == 1
        listed = gql(client, admin, "{ webhookSubscriptions { id enabled secret } }")
        assert listed["data"]["webhookSubscriptions"] == [
            {"id": sub["id"], "enabled": True, "secret": None}
        ]

    def test_a_rotated_secret_signs_from_now_on(self, client, engine, session, org):
        from crm.models import WebhookSubscription
        from crm.webhooks import secrets

        admin = make_key(session, org, "admin")
        sub = self._subscribe(client, admin)
        out = gql(
            client,
            admin,
            SUBSCRIPTION_CHANGE % "rotateWebhookSubscriptionSecret",
            {"id": sub["id"]},
        )
        new = out["data"]["rotateWebhookSubscriptionSecret"]["webhookSubscription"]["secret"]
        assert new.startswith("whsec_") and new != sub["secret"]
        with Session(engine) as s:
            row = s.exec(select(WebhookSubscription)).one()
            assert secrets.decrypt(row.secret_encrypted) == new


class TestSubscriptionsCli:
    def test_list_disable_enable_rotate_delete(self, client, engine, session, org):
        from crm.webhooks.outbound.subscriptions import create_subscription

        row, secret = create_subscription(
            session,
            organization_id=org.id,
            url="https://93.184.215.14/hook",
            events=["contact.created"],
            settings=Settings(),
        )
        session.commit()
        sid, org_ref = str(row.id), str(org.id)
        listed = crm("webhooks", "subscriptions", "list", "--org", org_ref, "--json")
        assert listed.exit_code == 0, listed.output
        [shown] = json.loads(listed.stdout)["subscriptions"]
        assert shown["id"] == sid and shown["enabled"] is True and "secret" not in shown

        off = crm("webhooks", "subscriptions", "disable", sid, "--org", org_ref, "--json")
        assert json.loads(off.stdout)["enabled"] is False
        on = crm("webhooks", "subscriptions", "enable", sid, "--org", org_ref, "--json")
        assert json.loads(on.stdout)["enabled"] is True
        rotated = crm("webhooks", "subscriptions", "rotate-secret", sid, "--org", org_ref, "--json")
        new = json.loads(rotated.stdout)["secret"]
        assert new.startswith("whsec_") and new != secret
        gone = crm("webhooks", "subscriptions", "delete", sid, "--org", org_ref, "--json")
        assert gone.exit_code == 0
        listed = crm("webhooks", "subscriptions", "list", "--org", org_ref, "--json")
        assert json.loads(listed.stdout) == {"subscriptions": []}
