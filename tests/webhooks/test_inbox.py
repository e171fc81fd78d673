"""The inbox over real HTTP: stored before acknowledged, verified, one effect per event."""

from __future__ import annotations

import json

from sqlmodel import Session
from starlette.testclient import TestClient

from crm.models import WebhookEndpoint
from crm.settings import Settings
from graphql_schema.app import create_app
from tests.webhooks.conftest import deliveries, post_signed

ORDER = {
    "event": "order.created",
    "id": "dlv-1",
    "data": {
        "_id": "ord-1",
        "status": "pending",
        "total": "120.50",
        "createdAt": "2026-12-01T10:00:00Z",
        "customer._id": "cus-1",
        "customer.email": "ada@example.com",
        "customer.firstName": "Ada",
        "customer.lastName": "Lovelace",
    },
}


class TestReceive:
    def test_a_signed_delivery_is_stored_and_processed(self, client, engine, make_hook):
        # given
        hook = make_hook("careportals")
        # when
        response = post_signed(client, hook, ORDER)
        # then
        assert response.status_code == 200, response.text
        [stored] = deliveries(engine)
        assert stored.body == json.dumps(ORDER).encode()
        assert stored.event_type == "order.created"
        assert stored.event_id == "dlv-1"
        assert stored.status == "processed"
        assert response.json()["delivery"] == str(stored.id)

    def test_the_same_event_three_times_has_one_effect(self, client, engine, make_hook):
        hook = make_hook("careportals")
        answers = [post_signed(client, hook, ORDER) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert [a.json().get("duplicate", False) for a in answers] == [False, True, True]
        assert len(deliveries(engine)) == 1

    def test_without_an_event_id_the_content_hash_dedupes(self, client, engine, make_hook):
        hook = make_hook("careportals")
        payload = {k: v for k, v in ORDER.items() if k != "id"}
        for _ in range(2):
            assert post_signed(client, hook, payload).status_code == 200
        [stored] = deliveries(engine)
        assert stored.event_id.startswith("h:")

    def test_a_bad_signature_is_refused_and_only_counted(self, client, engine, make_hook):
        hook = make_hook("careportals")
        response = post_signed(client, hook, ORDER, signature="sha256=" + "0" * 64)
        missing = client.post(hook.path, content=json.dumps(ORDER))
        assert (response.status_code, missing.status_code) == (401, 401)
        assert deliveries(engine) == []
        with Session(engine) as session:
            endpoint = session.get(WebhookEndpoint, hook.endpoint.id)
            assert endpoint is not None and endpoint.rejected_signatures == 2

    def test_a_signature_of_another_secret_is_refused(self, client, engine, make_hook):
        hook, other = make_hook("careportals"), make_hook("careportals")
        body = json.dumps(ORDER).encode()
        from crm.webhooks.signatures import sign

        response = post_signed(client, hook, body, signature=sign(other.secret, body))
        assert response.status_code == 401

    def test_a_body_that_is_not_json_is_stored_as_rejected(self, client, engine, make_hook):
        hook = make_hook("careportals")
        response = post_signed(client, hook, b"<xml>no</xml>")
        assert response.status_code == 400
        [stored] = deliveries(engine)
        assert stored.status == "rejected"
        assert stored.last_error and "JSON" in stored.last_error
        assert stored.body == b"<xml>no</xml>"

    def test_a_body_over_the_limit_is_refused(self, engine, make_hook):
        hook = make_hook("careportals")
        app = create_app(
            engine=engine, settings=Settings(env="development", webhook_max_bytes=2048)
        )
        big = json.dumps({"event": "order.created", "id": "x", "data": {"pad": "a" * 5000}})
        with TestClient(app) as small_client:
            response = post_signed(small_client, hook, big.encode())
            # a chunked body (no Content-Length) is cut off while it streams
            streamed = small_client.post(
                hook.path,
                content=iter([big.encode()[:1500], big.encode()[1500:]]),
                headers={"X-CarePortals-Signature": "sha256=" + "0" * 64},
            )
        assert (response.status_code, streamed.status_code) == (413, 413)
        assert deliveries(engine) == []

    def test_an_unknown_endpoint_or_provider_is_not_found(self, client, make_hook):
        hook = make_hook("careportals")
        wrong_provider = hook.path.replace("careportals", "chatwoot")
        assert client.post(wrong_provider, content=b"{}").status_code == 404
        assert client.post("/webhooks/careportals/not-an-id", content=b"{}").status_code == 404


class TestProviders:
    def test_chatwoot_accepts_its_token_in_the_url(self, client, engine, make_hook):
        hook = make_hook("chatwoot")
        body = json.dumps({"event": "conversation_created", "id": 5}).encode()
        ok = client.post(f"{hook.path}?token={hook.secret}", content=body)
        bad = client.post(f"{hook.path}?token=nope", content=body)
        assert (ok.status_code, bad.status_code) == (200, 401)
        [stored] = deliveries(engine)
        assert stored.status == "ignored"

    def test_whatsapp_handshake_and_signature(self, client, engine, make_hook):
        hook = make_hook("whatsapp", secret="meta-app-secret")
        challenge = client.get(
            hook.path,
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": "meta-app-secret",
                "hub.challenge": "1158201444",
            },
        )
        refused = client.get(
            hook.path,
            params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"},
        )
        assert (challenge.status_code, challenge.text) == (200, "1158201444")
        assert refused.status_code == 403
        body = {"object": "whatsapp_business_account", "entry": []}
        signed = post_signed(client, hook, body, header="X-Hub-Signature-256")
        unsigned = post_signed(client, hook, body, header="X-CarePortals-Signature")
        assert (signed.status_code, unsigned.status_code) == (200, 401)


class TestSecrets:
    def test_the_secret_is_stored_encrypted(self, engine, make_hook):
        hook = make_hook("careportals")
        with Session(engine) as session:
            endpoint = session.get(WebhookEndpoint, hook.endpoint.id)
            assert endpoint is not None
            assert hook.secret not in endpoint.secret_encrypted

    def test_an_unreadable_secret_answers_503_so_the_provider_retries(
        self, engine, make_hook, monkeypatch
    ):
        from crm.settings import get_settings

        hook = make_hook("careportals")
        monkeypatch.setenv("CRM_SECRET_KEY", "another-key")
        get_settings.cache_clear()
        try:
            with TestClient(create_app(engine=engine, settings=Settings())) as other:
                response = post_signed(other, hook, ORDER)
        finally:
            get_settings.cache_clear()
        assert response.status_code == 503
        assert deliveries(engine) == []
