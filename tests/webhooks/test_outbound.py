"""Outbound webhooks: subscriptions over GraphQL, events written with the change, delivered
signed to a real loopback receiver, retried with the same webhook-id."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import Session, select

from crm.errors import ServiceError
from crm.models import WebhookAttempt, WebhookOutbox, utcnow
from crm.settings import Settings
from crm.webhooks.outbound import signing
from crm.webhooks.outbound.delivery import deliver_due
from crm.webhooks.outbound.targets import check_url
from tests.conftest import make_key
from tests.webhooks.test_contact_context import CONTEXT
from tests.webhooks.test_graphql import gql

CREATE = """
mutation Create($input: CreateWebhookSubscriptionInput!) {
  createWebhookSubscription(input: $input) {
    webhookSubscription { id url events secret }
    errors { code field }
  }
}
"""
LIST = "{ webhookSubscriptions { id url events secret } }"
DELETE = """
mutation Delete($id: ID!) {
  deleteWebhookSubscription(input: {id: $id}) { deletedId errors { code field } }
}
"""


class Receiver:
    """A loopback HTTP receiver answering 500 to the first ``failures`` posts, then 204."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = len(receiver.received) <= receiver.failures
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(failures=2)
    yield r
    r.close()


@pytest.fixture
def settings() -> Settings:
    # delivered by the test's own calls, not the app's background sender
    return Settings(
        env="development", webhook_allow_private_targets=True, webhook_send_interval_seconds=0
    )


def _subscribe(client, key, url: str, events: list[str]) -> dict:
    out = gql(client, key, CREATE, {"input": {"url": url, "events": events}})
    payload = out["data"]["createWebhookSubscription"]
    assert payload["errors"] == [], payload
    return payload["webhookSubscription"]


class TestOutboundDelivery:
    def test_a_failing_receiver_gets_the_same_signed_event_until_it_succeeds(
        self, client, engine, session, org, receiver, settings
    ):
        admin = make_key(session, org, "admin")
        sub = _subscribe(client, admin, receiver.url, ["contact.created"])
        assert sub["secret"].startswith("whsec_")
        # when a contact is created
        gql(client, admin, CONTEXT, {"channel": "PHONE", "value": "0412 345 678"})
        # and the outbox is delivered three times (each later than the last retry's time)
        later = utcnow()
        for n in range(3):
            deliver_due(engine, settings=settings, now=later + timedelta(hours=n + 1))
        # then the receiver saw three attempts of one event, the last one accepted
        assert len(receiver.received) == 3
        ids = {h["webhook-id"] for h, _ in receiver.received}
        assert len(ids) == 1
        for headers, body in receiver.received:
            assert signing.verify(
                sub["secret"],
                msg_id=headers["webhook-id"],
                timestamp=headers["webhook-timestamp"],
                body=body,
                header=headers["webhook-signature"],
            )
        event = json.loads(receiver.received[-1][1])
        assert event["type"] == "contact.created" and event["data"]["contactId"]
        with Session(engine) as s:
            [row] = s.exec(select(WebhookOutbox)).all()
            assert row.status == "delivered" and row.attempts == 3
            codes = [a.status_code for a in s.exec(select(WebhookAttempt))]
            assert sorted(codes) == [204, 500, 500]
        # and nothing is sent again
        deliver_due(engine, settings=settings, now=later + timedelta(days=1))
        assert len(receiver.received) == 3

    def test_merge_and_unmerge_are_sent(self, client, engine, session, org, receiver, settings):
        from crm.merging.service import merge_contacts, unmerge_contact

        receiver.failures = 0
        admin = make_key(session, org, "admin")
        a = gql(client, admin, CONTEXT, {"channel": "PHONE", "value": "0412 345 678"})
        b = gql(client, admin, CONTEXT, {"channel": "EMAIL", "value": "b@example.com"})
        _subscribe(client, admin, receiver.url, ["contact.merged", "contact.unmerged"])
        survivor = a["data"]["contactContext"]["contact"]["id"]
        merged = b["data"]["contactContext"]["contact"]["id"]
        merge_contacts(
            session, organization=org, survivor_id=survivor, merge_ids=[merged], actor="t"
        )
        session.commit()
        unmerge_contact(session, organization=org, contact_id=merged, actor="t")
        session.commit()
        deliver_due(engine, settings=settings)
        types = [json.loads(body)["type"] for _, body in receiver.received]
        assert types == ["contact.merged", "contact.unmerged"]
        first = json.loads(receiver.received[0][1])["data"]
        assert first == {
            "contactId": survivor,
            "mergeId": first["mergeId"],
            "mergedContactIds": [merged],
        }

    def test_no_subscription_writes_nothing(self, client, engine, session, org):
        admin = make_key(session, org, "admin")
        gql(client, admin, CONTEXT, {"channel": "PHONE", "value": "0412 345 678"})
        with Session(engine) as s:
            assert s.exec(select(WebhookOutbox)).all() == []


class TestSubscriptionsApi:
    def test_admins_list_and_delete(self, client, session, org, settings):
        admin = make_key(session, org, "admin")
        sub = _subscribe(client, admin, "http://127.0.0.1:9/x", ["import.completed"])
        listed = gql(client, admin, LIST)["data"]["webhookSubscriptions"]
        assert [s["id"] for s in listed] == [sub["id"]] and listed[0]["secret"] is None
        out = gql(client, admin, DELETE, {"id": sub["id"]})
        assert out["data"]["deleteWebhookSubscription"]["deletedId"] == sub["id"]
        assert gql(client, admin, LIST)["data"]["webhookSubscriptions"] == []

    def test_an_editor_may_not_subscribe(self, client, session, org):
        editor = make_key(session, org, "editor")
        out = gql(
            client,
            editor,
            CREATE,
            {"input": {"url": "https://example.com/x", "events": ["contact.created"]}},
        )
        assert out["data"] is None and out["errors"]

    def test_unknown_events_and_bad_urls_are_coded_errors(self, client, session, org):
        admin = make_key(session, org, "admin")
        for url, events, field in (
            ("https://example.com/x", ["contact.deleted"], "events"),
            ("ftp://example.com/x", ["contact.created"], "url"),
        ):
            out = gql(client, admin, CREATE, {"input": {"url": url, "events": events}})
            errors = out["data"]["createWebhookSubscription"]["errors"]
            assert errors[0]["field"] == field


class TestTargets:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1/x",
            "http://localhost/x",
            "http://10.0.0.5/x",
            "http://192.168.1.1/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://0.0.0.0/x",
        ],
    )
    def test_internal_addresses_are_refused(self, url):
        with pytest.raises(ServiceError):
            check_url(url, allow_private=False)

    def test_the_test_setting_allows_loopback(self):
        assert check_url("http://127.0.0.1:8080/x", allow_private=True)

    def test_a_public_address_is_allowed(self):
        assert check_url("https://93.184.215.14/x", allow_private=False)


class TestOtherEvents:
    def test_an_import_sends_one_import_completed(self, client, engine, session, org, settings):
        admin = make_key(session, org, "admin")
        r = Receiver(failures=0)
        try:
            _subscribe(client, admin, r.url, ["import.completed", "contact.created"])
            csv = "first_name,email\nAda,ada@example.com\nBob,bob@example.com\n"
            out = gql(
                client,
                admin,
                "mutation($csv: String!){ importContacts(input: {csv: $csv})"
                "{ importJob { status } errors { code } } }",
                {"csv": csv},
            )
            assert out["data"]["importContacts"]["importJob"]["status"] == "SUCCEEDED", out
            deliver_due(engine, settings=settings)
            types = sorted(json.loads(body)["type"] for _, body in r.received)
            assert types == ["contact.created", "contact.created", "import.completed"]
        finally:
            r.close()

    def test_the_background_sender_delivers_without_redis(self, engine, session, org):
        import time

        from starlette.testclient import TestClient

        from graphql_schema.app import create_app

        fast = Settings(
            env="development", webhook_allow_private_targets=True, webhook_send_interval_seconds=0.2
        )
        r = Receiver(failures=0)
        try:
            with TestClient(create_app(engine=engine, settings=fast)) as client:
                admin = make_key(session, org, "admin")
                _subscribe(client, admin, r.url, ["contact.created"])
                gql(client, admin, CONTEXT, {"channel": "PHONE", "value": "0412 345 678"})
                for _ in range(100):
                    if r.received:
                        break
                    time.sleep(0.1)
            assert [json.loads(b)["type"] for _, b in r.received] == ["contact.created"]
        finally:
            r.close()


class TestDeliverers:
    def _queue_one(self, client, session, org, receiver) -> None:
        admin = make_key(session, org, "admin")
        _subscribe(client, admin, receiver.url, ["contact.created"])
        gql(client, admin, CONTEXT, {"channel": "PHONE", "value": "0412 345 678"})

    def test_crm_webhooks_deliver(self, client, engine, session, org, receiver, monkeypatch):
        from typer.testing import CliRunner

        from crm.cli import app
        from crm.settings import get_settings

        receiver.failures = 0
        self._queue_one(client, session, org, receiver)
        monkeypatch.setenv("CRM_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
        get_settings.cache_clear()
        try:
            out = CliRunner().invoke(app, ["webhooks", "deliver", "--json"])
        finally:
            get_settings.cache_clear()
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout) == {"delivered": 1, "retrying": 0, "failed": 0}
        assert len(receiver.received) == 1

    def test_the_arq_job_delivers_and_is_scheduled(
        self, client, engine, session, org, receiver, monkeypatch
    ):
        import asyncio

        from crm.settings import get_settings
        from jobs import webhooks
        from jobs.worker import CRON_JOBS

        assert "webhooks.deliver" in {job.name for job in CRON_JOBS}
        receiver.failures = 0
        self._queue_one(client, session, org, receiver)
        monkeypatch.setenv("CRM_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
        get_settings.cache_clear()
        try:
            counts = asyncio.run(webhooks.deliver({"engine": engine}))
            # a second run (jobs may run twice) sends nothing more
            again = asyncio.run(webhooks.deliver({"engine": engine}))
        finally:
            get_settings.cache_clear()
        assert counts["delivered"] == 1 and again["delivered"] == 0
        assert len(receiver.received) == 1
