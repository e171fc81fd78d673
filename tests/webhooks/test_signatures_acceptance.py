"""Issue 14's signature cases for every provider through the real HTTP app (good, bad,
missing, stale), and the outbound side's timestamp: every attempt is signed fresh, and a
receiver's check refuses a stale or future one."""

from __future__ import annotations

import json
import time

import pytest
from sqlmodel import Session

from crm.models import WebhookEndpoint
from crm.webhooks.outbound import signing
from crm.webhooks.signatures import sign
from tests.webhooks.conftest import deliveries
from tests.webhooks.test_messaging import CHATWOOT_CONTACT, whatsapp

CAREPORTALS_BODY = {
    "event": "order.created",
    "id": "evt-acc",
    "data": {"_id": "ord-acc", "status": "pending", "customer.email": "acc@example.com"},
}


def _send(client, hook, provider: str, body: bytes, how: str):
    """Post ``body`` signed as ``provider`` does (``how``: good, bad or missing)."""
    secret = hook.secret if how == "good" else "not-the-secret"
    if provider == "chatwoot":
        path = hook.path if how == "missing" else f"{hook.path}?token={secret}"
        return client.post(path, content=body)
    header = "X-CarePortals-Signature" if provider == "careportals" else "X-Hub-Signature-256"
    headers = {} if how == "missing" else {header: sign(secret, body)}
    return client.post(hook.path, content=body, headers=headers)


BODIES = {
    "careportals": CAREPORTALS_BODY,
    "chatwoot": CHATWOOT_CONTACT,
    "whatsapp": whatsapp(),
}


@pytest.mark.parametrize("provider", ["careportals", "chatwoot", "whatsapp"])
class TestInboundSignatures:
    def test_good_is_stored_bad_and_missing_are_refused_and_counted(
        self, provider, client, engine, make_hook
    ):
        hook = make_hook(provider, secret="app-secret" if provider == "whatsapp" else None)
        body = json.dumps(BODIES[provider]).encode()
        # when
        bad = _send(client, hook, provider, body, "bad")
        missing = _send(client, hook, provider, body, "missing")
        # then nothing of them is kept but a count
        assert (bad.status_code, missing.status_code) == (401, 401)
        assert deliveries(engine) == []
        with Session(engine) as session:
            endpoint = session.get(WebhookEndpoint, hook.endpoint.id)
            assert endpoint is not None and endpoint.rejected_signatures == 2
        # and the good one is stored and processed
        good = _send(client, hook, provider, body, "good")
        assert good.status_code == 200, good.text
        [stored] = deliveries(engine)
        assert stored.status == "processed" and stored.body == body

    def test_a_stale_delivery_replayed_later_has_no_second_effect(
        self, provider, client, engine, make_hook
    ):
        # none of these providers signs a timestamp: a captured delivery replayed later is
        # caught as a duplicate of the stored one, and any change to it breaks the signature
        hook = make_hook(provider, secret="app-secret" if provider == "whatsapp" else None)
        body = json.dumps(BODIES[provider]).encode()
        assert _send(client, hook, provider, body, "good").status_code == 200
        replayed = _send(client, hook, provider, body, "good")
        assert replayed.status_code == 200 and replayed.json()["duplicate"] is True
        assert len(deliveries(engine)) == 1
        if provider != "chatwoot":  # Chatwoot's token does not cover the body
            altered = body.replace(b"}", b', "x": 1}', 1)
            header = (
                "X-CarePortals-Signature" if provider == "careportals" else "X-Hub-Signature-256"
            )
            forged = client.post(
                hook.path, content=altered, headers={header: sign(hook.secret, body)}
            )
            assert forged.status_code == 401


class TestOutboundTimestamps:
    SECRET = signing.new_secret()
    BODY = b'{"type":"contact.created"}'

    def _signed(self, at: int) -> dict[str, str]:
        return signing.headers(self.SECRET, msg_id="msg_1", timestamp=at, body=self.BODY)

    def _verify(self, headers: dict[str, str], now: float) -> bool:
        return signing.verify(
            self.SECRET,
            msg_id=headers["webhook-id"],
            timestamp=headers["webhook-timestamp"],
            body=self.BODY,
            header=headers["webhook-signature"],
            now=now,
        )

    def test_fresh_passes_stale_and_future_fail(self):
        now = int(time.time())
        assert self._verify(self._signed(now), now + 10)
        assert not self._verify(self._signed(now - 3600), now)
        assert not self._verify(self._signed(now + 3600), now)

    def test_a_wrong_secret_or_body_fails(self):
        now = int(time.time())
        headers = self._signed(now)
        assert not signing.verify(
            signing.new_secret(),
            msg_id="msg_1",
            timestamp=headers["webhook-timestamp"],
            body=self.BODY,
            header=headers["webhook-signature"],
        )
        assert not signing.verify(
            self.SECRET,
            msg_id="msg_1",
            timestamp=headers["webhook-timestamp"],
            body=self.BODY + b" ",
            header=headers["webhook-signature"],
        )
