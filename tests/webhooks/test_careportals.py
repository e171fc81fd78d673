"""CarePortals deliveries become contacts (through the ingestion pipeline) and activity."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import Session, select

from crm.contacts.commands import resolve_contact
from crm.models import (
    Contact,
    ContactIdentifier,
    Order,
    Prescription,
    Subscription,
    WebhookDelivery,
)
from tests.webhooks.conftest import deliveries, post_signed

CUSTOMER = {
    "customer._id": "cus-77",
    "customer.email": "Ada@Example.com",
    "customer.phone": "0412 345 678",
    "customer.firstName": "Ada",
    "customer.lastName": "Lovelace",
}
FULL_ORDER = {
    "event": "order.created",
    "id": "evt-1",
    "data": {
        "_id": "ord-9",
        "status": "pending",
        "total": "89.90",
        "currency": "AUD",
        "coupon": "WELCOME10",
        "createdAt": "2026-12-01T10:00:00Z",
        **CUSTOMER,
        "shippingAddress.address1": "1 Beach Rd",
        "shippingAddress.city": "Bondi",
        "shippingAddress.state": "NSW",
        "shippingAddress.postalCode": "2026",
        "shippingAddress.country": "AU",
        "lineItems.0.product": "prod-1",
        "lineItems.0.name": "Hair kit",
        "lineItems.0.drugName": "Finasteride 1mg",
        "lineItems.0.price": "59.90",
        "lineItems.1.name": "Shampoo",
        "lineItems.1.price": "30.00",
    },
}


def status_update(event_id: str, status: str, at: str) -> dict:
    return {
        "event": "order.status_updated",
        "id": event_id,
        "data": {"_id": "ord-9", "status": status, "updatedAt": at, **CUSTOMER},
    }


def contacts(engine) -> list[Contact]:
    with Session(engine) as session:
        return list(session.exec(select(Contact).where(Contact.status == "active")))


def orders(engine) -> list[Order]:
    with Session(engine) as session:
        return list(session.exec(select(Order)))


class TestOrders:
    def test_a_full_order_creates_the_contact_and_its_order(self, client, engine, make_hook):
        hook = make_hook()
        assert post_signed(client, hook, FULL_ORDER).status_code == 200
        [contact] = contacts(engine)
        assert (contact.first_name, contact.email, contact.phone) == (
            "Ada",
            "ada@example.com",
            "+61412345678",
        )
        assert (contact.city, contact.postal_code) == ("Bondi", "2026")
        assert "careportals" in contact.source_systems
        with Session(engine) as session:
            keys = {
                (i.namespace, i.value)
                for i in session.exec(
                    select(ContactIdentifier).where(ContactIdentifier.contact_id == contact.id)
                )
            }
        assert ("careportals", "cus-77") in keys
        [order] = orders(engine)
        assert order.contact_id == contact.id
        assert (order.external_id, order.status, order.total_amount, order.coupon) == (
            "ord-9",
            "pending",
            Decimal("89.90"),
            "WELCOME10",
        )
        assert [i.get("drug_name") for i in order.line_items] == ["Finasteride 1mg", None]
        assert order.line_items[1]["name"] == "Shampoo"

    def test_an_existing_contact_is_found_by_email(self, client, engine, make_hook, session, org):
        # given a contact known from another channel by the same email
        existing, _ = resolve_contact(
            session,
            organization=org,
            channel="EMAIL",
            value="ada@example.com",
            data={"first_name": "Ada"},
        )
        session.commit()
        # when
        post_signed(client, make_hook(), FULL_ORDER)
        # then
        [contact] = contacts(engine)
        assert contact.id == existing.id
        assert orders(engine)[0].contact_id == existing.id

    def test_a_known_customer_id_finds_the_contact_after_an_email_change(
        self, client, engine, make_hook
    ):
        hook = make_hook()
        post_signed(client, hook, FULL_ORDER)
        moved = {
            "event": "prescription.created",
            "id": "evt-rx",
            "data": {
                "_id": "rx-1",
                "drugName": "Finasteride 1mg",
                "createdAt": "2026-12-02T09:00:00Z",
                "customer._id": "cus-77",
                "customer.email": "ada.new@example.com",
            },
        }
        assert post_signed(client, hook, moved).status_code == 200
        [contact] = contacts(engine)
        with Session(engine) as session:
            [rx] = session.exec(select(Prescription)).all()
        assert rx.contact_id == contact.id and rx.drug_name == "Finasteride 1mg"

    def test_status_updates_follow_the_lifecycle_in_any_arrival_order(
        self, client, engine, make_hook
    ):
        hook = make_hook()
        # shipped arrives first, then the order, then an older update
        post_signed(client, hook, status_update("evt-3", "shipped", "2026-12-03T10:00:00Z"))
        post_signed(client, hook, FULL_ORDER)
        post_signed(client, hook, status_update("evt-2", "approved", "2026-12-02T10:00:00Z"))
        [order] = orders(engine)
        assert order.status == "shipped"
        assert [h["status"] for h in order.status_history] == ["pending", "approved", "shipped"]
        assert order.total_amount == Decimal("89.90")
        post_signed(client, hook, status_update("evt-4", "delivered", "2026-12-04T10:00:00Z"))
        assert orders(engine)[0].status == "delivered"
        assert len(contacts(engine)) == 1


class TestSubscriptions:
    def test_paused_then_cancelled(self, client, engine, make_hook):
        hook = make_hook()
        paused = {
            "event": "subscription.paused",
            "id": "evt-s1",
            "data": {"_id": "sub-1", "pausedAt": "2026-12-01T00:00:00Z", **CUSTOMER},
        }
        cancelled = {
            "event": "subscription.cancelled",
            "id": "evt-s2",
            "data": {"_id": "sub-1", "cancelledAt": "2026-12-05T00:00:00Z", **CUSTOMER},
        }
        post_signed(client, hook, cancelled)
        post_signed(client, hook, paused)  # late and older: does not undo the cancellation
        with Session(engine) as session:
            [sub] = session.exec(select(Subscription)).all()
        assert sub.status == "cancelled"
        assert sub.paused_at is not None and sub.cancelled_at is not None


class TestFailures:
    def test_an_unknown_event_is_ignored(self, client, engine, make_hook):
        post_signed(client, make_hook(), {"event": "coupon.created", "id": "e", "data": {}})
        assert deliveries(engine)[0].status == "ignored"

    def test_a_customer_nobody_can_identify_is_rejected_with_a_reason(
        self, client, engine, make_hook
    ):
        body = {"event": "order.created", "id": "e", "data": {"_id": "ord-1", "status": "x"}}
        assert post_signed(client, make_hook(), body).status_code == 200
        [stored] = deliveries(engine)
        assert stored.status == "rejected"
        assert "NOTHING_TO_IDENTIFY" in (stored.last_error or "")
        assert contacts(engine) == [] and orders(engine) == []

    def test_a_failed_delivery_is_retried_once_due(self, client, engine, make_hook):
        from datetime import timedelta

        from crm.models import utcnow
        from crm.webhooks.processing import retry_due

        post_signed(client, make_hook(), FULL_ORDER)
        # given the delivery failed (its processing crashed) and its backoff has passed
        with Session(engine) as session:
            stored = session.exec(select(WebhookDelivery)).one()
            stored.status, stored.next_attempt_at = "failed", utcnow() - timedelta(seconds=1)
            session.add(stored)
            session.commit()
        # when
        assert retry_due(engine) == {"processed": 1}
        # then it is processed with no second effect
        assert deliveries(engine)[0].status == "processed"
        assert len(orders(engine)) == 1 and len(contacts(engine)) == 1


class TestCustomerKeys:
    def test_a_customer_known_only_by_phone_is_found_by_it(
        self, client, engine, make_hook, session, org
    ):
        known, _ = resolve_contact(
            session, organization=org, channel="PHONE", value="+61412345678", data={}
        )
        session.commit()
        body = {
            "event": "order.created",
            "id": "evt-p",
            "data": {"_id": "ord-p", "status": "pending", "customer.phone": "0412 345 678"},
        }
        post_signed(client, make_hook(), body)
        [contact] = contacts(engine)
        assert contact.id == known.id and orders(engine)[0].contact_id == known.id

    def test_a_household_sharing_an_email_stays_two_people(
        self, client, engine, make_hook, session, org
    ):
        # given Bob holds the family email
        bob, _ = resolve_contact(
            session,
            organization=org,
            channel="EMAIL",
            value="ada@example.com",
            data={"first_name": "Bob", "last_name": "Lovelace"},
        )
        session.commit()
        # when Ada orders with it
        post_signed(client, make_hook(), FULL_ORDER)
        # then Ada is her own contact and the order is hers
        people = {c.first_name: c.id for c in contacts(engine)}
        assert set(people) == {"Ada", "Bob"}
        assert orders(engine)[0].contact_id == people["Ada"] != bob.id
