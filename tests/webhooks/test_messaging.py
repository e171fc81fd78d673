"""Chatwoot and WhatsApp deliveries resolve to contacts like resolveContact and keep only
message metadata."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from crm.contacts.commands import resolve_contact
from crm.models import Contact, ContactIdentifier, Message
from tests.webhooks.conftest import deliveries, post_signed

CHATWOOT_CONTACT = {
    "event": "contact_created",
    "id": 4012,
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "phone_number": "+61412000111",
    "identifier": "crm-xyz",
    "account": {"id": 1, "name": "Clinic"},
}
CHATWOOT_MESSAGE = {
    "event": "message_created",
    "id": 99001,
    "content": "my prescription please",
    "message_type": "incoming",
    "created_at": "2026-12-03T08:00:00Z",
    "conversation": {"id": 77, "meta": {"sender": {"id": 4012, "type": "contact"}}},
    "sender": {
        "id": 4012,
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "phone_number": "+61412000111",
        "type": "contact",
    },
}


def whatsapp(message_type: str = "text", message_id: str = "wamid.1") -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "0",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": "123"},
                            "contacts": [{"profile": {"name": "Gracie"}, "wa_id": "61412000111"}],
                            "messages": [
                                {
                                    "from": "61412000111",
                                    "id": message_id,
                                    "timestamp": "1764748800",
                                    "type": message_type,
                                    "text": {"body": "hello there"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def active(engine) -> list[Contact]:
    with Session(engine) as session:
        return list(session.exec(select(Contact).where(Contact.status == "active")))


def messages(engine) -> list[Message]:
    with Session(engine) as session:
        return list(session.exec(select(Message)))


class TestChatwoot:
    def test_contact_and_message_land_on_one_contact(self, client, engine, make_hook):
        hook = make_hook("chatwoot")
        url = f"{hook.path}?token={hook.secret}"
        assert client.post(url, content=json.dumps(CHATWOOT_CONTACT)).status_code == 200
        for _ in range(2):  # a redelivered message has no second effect
            assert client.post(url, content=json.dumps(CHATWOOT_MESSAGE)).status_code == 200
        [contact] = active(engine)
        assert (contact.first_name, contact.email) == ("Grace", "grace@example.com")
        with Session(engine) as session:
            keys = {
                (i.namespace, i.value)
                for i in session.exec(
                    select(ContactIdentifier).where(ContactIdentifier.contact_id == contact.id)
                )
            }
        assert ("chatwoot", "4012") in keys
        [message] = messages(engine)
        assert (message.contact_id, message.channel, message.direction) == (
            contact.id,
            "CHATWOOT",
            "inbound",
        )
        assert message.conversation_id == "77"
        # the text is never stored outside the raw delivery body
        assert "prescription" not in json.dumps(message.model_dump(mode="json"))
        assert [d.status for d in deliveries(engine)] == ["processed", "processed"]


class TestWhatsApp:
    def test_an_inbound_message_finds_the_contact_imported_with_that_phone(
        self, client, engine, make_hook, session, org
    ):
        # given a contact known by phone with a name from a higher-priority source
        known, _ = resolve_contact(
            session,
            organization=org,
            channel="PHONE",
            value="0412 000 111",
            data={"first_name": "Grace", "last_name": "Hopper"},
            source="cliniko",
        )
        session.commit()
        hook = make_hook("whatsapp", secret="app-secret")
        # when
        answer = post_signed(client, hook, whatsapp(), header="X-Hub-Signature-256")
        # then
        assert answer.status_code == 200
        [contact] = active(engine)
        assert contact.id == known.id
        assert contact.first_name == "Grace"  # the profile name does not replace it
        [message] = messages(engine)
        assert (message.channel, message.contact_id) == ("WHATSAPP", known.id)

    def test_a_new_number_creates_a_contact_named_by_its_profile(self, client, engine, make_hook):
        hook = make_hook("whatsapp", secret="app-secret")
        post_signed(client, hook, whatsapp(), header="X-Hub-Signature-256")
        [contact] = active(engine)
        assert (contact.first_name, contact.phone) == ("Gracie", "+61412000111")

    def test_statuses_and_unknown_types_are_accepted_and_ignored(self, client, engine, make_hook):
        hook = make_hook("whatsapp", secret="app-secret")
        status = {
            "object": "whatsapp_business_account",
            "entry": [
                {"changes": [{"value": {"statuses": [{"id": "wamid.9", "status": "read"}]}}]}
            ],
        }
        first = post_signed(client, hook, status, header="X-Hub-Signature-256")
        second = post_signed(
            client, hook, whatsapp("unsupported", "wamid.2"), header="X-Hub-Signature-256"
        )
        assert (first.status_code, second.status_code) == (200, 200)
        assert [d.status for d in deliveries(engine)] == ["ignored", "ignored"]
        assert active(engine) == [] and messages(engine) == []
