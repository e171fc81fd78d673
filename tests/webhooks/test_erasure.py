"""Erasing a contact over GraphQL removes its webhook activity and empties the stored raw
deliveries that named it; other people's stay; a re-sent event does not bring it back."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from crm.models import (
    Contact,
    ContactEvent,
    ContactIdentifier,
    Message,
    Order,
    Prescription,
    SourceRecord,
    Subscription,
    WebhookDelivery,
    WebhookOutbox,
)
from crm.settings import Settings
from tests.conftest import make_key
from tests.webhooks.conftest import deliveries, post_signed
from tests.webhooks.test_graphql import gql
from tests.webhooks.test_messaging import CHATWOOT_CONTACT, CHATWOOT_MESSAGE, whatsapp

GRACE = {
    "customer._id": "cus-grace",
    "customer.email": "Grace@Example.com",
    "customer.phone": "0412 000 111",
    "customer.firstName": "Grace",
    "customer.lastName": "Hopper",
    "shippingAddress.address1": "1 Navy Rd",
    "shippingAddress.city": "Arlington",
}
BOB = {
    "customer._id": "cus-bob",
    "customer.email": "bob@example.com",
    "customer.firstName": "Bob",
}


def careportals(event: str, event_id: str, customer: dict, **data: str) -> dict:
    return {"event": event, "id": event_id, "data": {**data, **customer}}


ERASE = """
mutation Erase($id: ID!) {
  eraseContact(input: {contactId: $id}) {
    contact { id status firstName lastName email phone identifiers { channel value } }
    erased { contacts identifiers orders subscriptions prescriptions messages
             deliveriesRedacted }
    errors { code field }
  }
}
"""
BY_EMAIL = '{ contactByIdentifier(channel: EMAIL, value: "grace@example.com") { id } }'


@pytest.fixture
def settings() -> Settings:
    return Settings(env="development", webhook_send_interval_seconds=0)


def _grace_everywhere(client, make_hook) -> None:
    shop, chat, wa = make_hook("careportals"), make_hook("chatwoot"), make_hook("whatsapp")
    for body in (
        careportals("order.created", "o1", GRACE, _id="ord-g", status="pending", total="10"),
        careportals("subscription.paused", "s1", GRACE, _id="sub-g"),
        careportals("prescription.created", "p1", GRACE, _id="rx-g", drugName="Finasteride"),
        careportals("order.created", "o2", BOB, _id="ord-b", status="pending", total="20"),
    ):
        assert post_signed(client, shop, body).status_code == 200
    for body in (CHATWOOT_CONTACT, CHATWOOT_MESSAGE):
        raw = json.dumps(body).encode()
        assert client.post(f"{chat.path}?token={chat.secret}", content=raw).status_code == 200
    assert post_signed(client, wa, whatsapp(), header="X-Hub-Signature-256").status_code == 200


def _records(s: Session, contact_id) -> list[SourceRecord]:
    return list(s.exec(select(SourceRecord).where(SourceRecord.contact_id == contact_id)))


def _grace(engine) -> Contact:
    with Session(engine) as s:
        ident = s.exec(
            select(ContactIdentifier).where(ContactIdentifier.value == "cus-grace")
        ).one()
        return s.get(Contact, ident.contact_id)


class TestErasure:
    def test_activity_goes_and_deliveries_naming_the_person_lose_their_body(
        self, client, engine, session, org, make_hook
    ):
        # given Grace ordered, subscribed, got a prescription, wrote on Chatwoot and WhatsApp
        _grace_everywhere(client, make_hook)
        grace = _grace(engine)
        with Session(engine) as s:
            assert {m.contact_id for m in s.exec(select(Message))} == {grace.id}
        admin = make_key(session, org, "admin")
        # when she is erased
        out = gql(client, admin, ERASE, {"id": str(grace.id)})["data"]["eraseContact"]
        # then the contact is an empty tombstone
        assert out["errors"] == []
        assert out["contact"] == {
            "id": str(grace.id),
            "status": "ERASED",
            "firstName": None,
            "lastName": None,
            "email": None,
            "phone": None,
            "identifiers": [],
        }
        counts = out["erased"]
        assert counts["orders"] == counts["subscriptions"] == counts["prescriptions"] == 1
        assert counts["messages"] == 2
        # and her activity is gone, Bob's order stays
        with Session(engine) as s:
            assert [o.external_id for o in s.exec(select(Order))] == ["ord-b"]
            assert s.exec(select(Subscription)).all() == []
            assert s.exec(select(Prescription)).all() == []
            assert s.exec(select(Message)).all() == []
            assert (
                s.exec(select(SourceRecord).where(SourceRecord.contact_id == grace.id)).all() == []
            )
            events = s.exec(select(ContactEvent).where(ContactEvent.contact_id == grace.id))
            for e in events:
                assert e.old_value is None and e.new_value is None
        # and every stored delivery that named her is emptied; Bob's is intact
        bodies = {d.event_id: d.body for d in deliveries(engine)}
        assert counts["deliveriesRedacted"] == 6
        for event_id, body in bodies.items():
            if event_id == "o2":
                assert b"bob@example.com" in body
            else:
                assert body == b"{}", event_id
        for d in deliveries(engine):
            text = bytes(d.body).lower()
            assert b"grace" not in text and b"0412" not in text and b"61412000111" not in text
        # and nothing finds her any more
        assert gql(client, admin, BY_EMAIL)["data"]["contactByIdentifier"] is None

    def test_a_resent_event_is_a_duplicate_and_a_new_one_a_new_contact(
        self, client, engine, session, org, make_hook
    ):
        shop = make_hook("careportals")
        order = careportals("order.created", "o1", GRACE, _id="ord-g", status="pending")
        post_signed(client, shop, order)
        grace = _grace(engine)
        gql(client, make_key(session, org, "admin"), ERASE, {"id": str(grace.id)})
        # when CarePortals retries the same event
        again = post_signed(client, shop, order)
        # then it is acknowledged and has no effect
        assert again.status_code == 200 and again.json()["duplicate"] is True
        with Session(engine) as s:
            assert s.exec(select(Contact).where(Contact.status == "active")).all() == []
            assert s.exec(select(Order)).all() == []
        # but a new order of hers is a new contact, never the erased tombstone
        later = careportals("order.created", "o9", GRACE, _id="ord-new", status="pending")
        assert post_signed(client, shop, later).status_code == 200
        with Session(engine) as s:
            [order] = s.exec(select(Order)).all()
            assert order.contact_id != grace.id
            assert s.get(Contact, order.contact_id).status == "active"
            erased = s.get(Contact, grace.id)
            assert erased.status == "erased" and erased.email is None
            assert (
                s.exec(select(SourceRecord).where(SourceRecord.contact_id == grace.id)).all() == []
            )

    def test_a_pending_delivery_of_the_person_is_not_processed_later(
        self, client, engine, session, org, make_hook
    ):
        shop = make_hook("careportals")
        post_signed(client, shop, careportals("order.created", "o1", GRACE, _id="ord-g"))
        grace = _grace(engine)
        # given a later delivery naming her failed and waits for a retry
        post_signed(client, shop, careportals("subscription.paused", "s1", GRACE, _id="sub-g"))
        with Session(engine) as s:
            row = s.exec(select(WebhookDelivery).where(WebhookDelivery.event_id == "s1")).one()
            row.status = "failed"
            s.add(row)
            s.commit()
        gql(client, make_key(session, org, "admin"), ERASE, {"id": str(grace.id)})
        with Session(engine) as s:
            row = s.exec(select(WebhookDelivery).where(WebhookDelivery.event_id == "s1")).one()
            assert row.status == "ignored" and row.next_attempt_at is None and row.body == b"{}"

    def test_the_survivor_is_erased_with_the_contacts_merged_into_it(
        self, client, engine, session, org, make_hook
    ):
        from crm.merging.service import merge_contacts

        shop = make_hook("careportals")
        post_signed(client, shop, careportals("order.created", "o1", GRACE, _id="ord-g"))
        post_signed(client, shop, careportals("order.created", "o2", BOB, _id="ord-b"))
        grace = _grace(engine)
        with Session(engine) as s:
            bob = s.exec(
                select(ContactIdentifier).where(ContactIdentifier.value == "cus-bob")
            ).one()
        merge_contacts(
            session, organization=org, survivor_id=grace.id, merge_ids=[bob.contact_id], actor="t"
        )
        session.commit()
        admin = make_key(session, org, "admin")
        # a merged contact is erased through its survivor
        refused = gql(client, admin, ERASE, {"id": str(bob.contact_id)})["data"]["eraseContact"]
        assert refused["errors"] == [{"code": "NOT_ACTIVE", "field": "id"}]
        out = gql(client, admin, ERASE, {"id": str(grace.id)})["data"]["eraseContact"]
        assert out["erased"]["contacts"] == 2 and out["erased"]["orders"] == 2
        with Session(engine) as s:
            statuses = {c.status for c in s.exec(select(Contact))}
            assert statuses == {"erased"}
            assert all(d.body == b"{}" for d in s.exec(select(WebhookDelivery)))
        # erasing again changes nothing
        again = gql(client, admin, ERASE, {"id": str(grace.id)})["data"]["eraseContact"]
        assert again["errors"] == [] and again["erased"]["contacts"] == 0

    def test_subscribers_are_told_and_only_admins_erase(
        self, client, engine, session, org, make_hook
    ):
        from crm.webhooks.outbound.subscriptions import create_subscription

        shop = make_hook("careportals")
        post_signed(client, shop, careportals("order.created", "o1", GRACE, _id="ord-g"))
        grace = _grace(engine)
        create_subscription(
            session,
            organization_id=org.id,
            url="https://93.184.215.14/hook",
            events=["contact.erased"],
            settings=Settings(),
        )
        session.commit()
        editor = make_key(session, org, "editor")
        denied = gql(client, editor, ERASE, {"id": str(grace.id)})
        assert denied["data"] is None and denied["errors"]
        gql(client, make_key(session, org, "admin"), ERASE, {"id": str(grace.id)})
        with Session(engine) as s:
            [queued] = s.exec(select(WebhookOutbox)).all()
        assert json.loads(queued.body)["type"] == "contact.erased"
        assert json.loads(queued.body)["data"] == {"contactId": str(grace.id)}
