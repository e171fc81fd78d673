"""The worker processes received deliveries in batches: a batch ends exactly as the same
deliveries processed one by one (order of events, duplicates, rejections), and a delivery
whose job was lost is picked up by the retry sweep."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import Session, select

from crm.models import Contact, Order, Prescription, Subscription, WebhookDelivery
from crm.webhooks.inbox import receive
from crm.webhooks.processing import process_job, process_pending, retry_due
from crm.webhooks.signatures import sign

CUSTOMER = {"customer._id": "cus-1", "customer.email": "ada@example.com"}


def store(engine, hook, payload: dict) -> str:
    body = json.dumps(payload).encode()
    receipt = receive(
        engine,
        provider="careportals",
        endpoint_id=str(hook.endpoint.id),
        body=body,
        headers={"x-careportals-signature": sign(hook.secret, body)},
        query={},
    )
    assert receipt.status_code == 200
    return str(receipt.delivery_id)


def update(event_id: str, status: str, at: str, order: str = "ord-1") -> dict:
    return {
        "event": "order.status_updated",
        "id": event_id,
        "data": {"_id": order, "status": status, "updatedAt": at, **CUSTOMER},
    }


CREATED = {
    "event": "order.created",
    "id": "evt-created",
    "data": {
        "_id": "ord-1",
        "status": "pending",
        "total": "10.00",
        "createdAt": "2026-12-01T10:00:00Z",
        "customer.phone": "0412 345 678",
        "customer.firstName": "Ada",
        **CUSTOMER,
    },
}


def rows(engine, model) -> list:
    with Session(engine) as session:
        return list(session.exec(select(model)))


def statuses(engine) -> dict[str, str]:
    with Session(engine) as session:
        return {d.event_id: d.status for d in session.exec(select(WebhookDelivery))}


EVENTS = [
    # an order's updates stored before its creation, a subscription paused after it was
    # cancelled, a prescription: all of one customer, waiting together
    update("evt-3", "shipped", "2026-12-03T10:00:00Z"),
    CREATED,
    update("evt-2", "approved", "2026-12-02T10:00:00Z"),
    {
        "event": "subscription.cancelled",
        "id": "evt-s2",
        "data": {"_id": "sub-1", "cancelledAt": "2026-12-05T00:00:00Z", **CUSTOMER},
    },
    {
        "event": "subscription.paused",
        "id": "evt-s1",
        "data": {"_id": "sub-1", "pausedAt": "2026-12-01T00:00:00Z", **CUSTOMER},
    },
    {
        "event": "prescription.created",
        "id": "evt-rx",
        "data": {"_id": "rx-1", "drugName": "Finasteride 1mg", **CUSTOMER},
    },
]


def state(engine, organization_id) -> dict:
    """What the deliveries left in one organization (ids aside)."""
    with Session(engine) as session:
        [contact] = session.exec(
            select(Contact).where(
                Contact.organization_id == organization_id, Contact.status == "active"
            )
        ).all()
        [order] = session.exec(select(Order).where(Order.organization_id == organization_id))
        [sub] = session.exec(
            select(Subscription).where(Subscription.organization_id == organization_id)
        )
        [rx] = session.exec(
            select(Prescription).where(Prescription.organization_id == organization_id)
        )
        assert {order.contact_id, sub.contact_id, rx.contact_id} == {contact.id}
        return {
            "contact": (contact.first_name, contact.email, contact.phone, contact.source_systems),
            "order": (order.status, order.total_amount, order.status_history),
            "subscription": (sub.status, sub.paused_at, sub.cancelled_at),
            "prescription": rx.drug_name,
        }


class TestOneBatch:
    def test_a_customers_events_in_one_batch_end_as_one_by_one(
        self, engine, make_hook, session, org
    ):
        from crm.tenancy.service import create_organization
        from crm.webhooks.inbox import create_endpoint
        from crm.webhooks.processing import process_delivery
        from tests.webhooks.conftest import Hook

        other = create_organization(session, name="Other pharmacy")
        endpoint, secret = create_endpoint(session, organization=other, provider="careportals")
        session.commit()
        one_by_one = [store(engine, Hook(endpoint, secret), p) for p in EVENTS]
        for ident in one_by_one:
            assert process_delivery(engine, ident) == "processed"
        hook = make_hook()
        for payload in EVENTS:
            store(engine, hook, payload)
        # when one job processes them together
        done = process_pending(engine)
        # then in one batch, with the effects of each event once, as one by one
        assert sorted(done.values()) == ["processed"] * len(EVENTS)
        assert state(engine, org.id) == state(engine, other.id)
        ours = state(engine, org.id)
        assert ours["order"][0] == "shipped"
        assert [h["status"] for h in ours["order"][2]] == ["pending", "approved", "shipped"]
        assert ours["subscription"][0] == "cancelled"

    def test_a_rejected_or_ignored_delivery_does_not_hold_back_the_others(self, engine, make_hook):
        hook = make_hook()
        store(engine, hook, CREATED)
        store(engine, hook, {"event": "order.created", "id": "evt-nobody", "data": {"_id": "o"}})
        store(engine, hook, {"event": "order.created", "id": "evt-noid", "data": CUSTOMER})
        store(engine, hook, {"event": "coupon.created", "id": "evt-coupon", "data": {}})
        process_pending(engine)
        assert statuses(engine) == {
            "evt-created": "processed",
            "evt-nobody": "rejected",
            "evt-noid": "rejected",
            "evt-coupon": "ignored",
        }
        assert [o.external_id for o in rows(engine, Order)] == ["ord-1"]

    def test_processing_again_has_no_second_effect(self, engine, make_hook):
        hook = make_hook()
        first = store(engine, hook, CREATED)
        store(engine, hook, update("evt-2", "approved", "2026-12-02T10:00:00Z"))
        process_pending(engine)
        # a job that runs twice (a redelivered arq job) finds its delivery done
        assert process_job(engine, first) == "processed"
        assert process_pending(engine) == {}
        [order] = rows(engine, Order)
        assert len(order.status_history) == 2

    def test_a_batch_is_at_most_limit_deliveries_its_own_first(self, engine, make_hook):
        hook = make_hook()
        ids = [
            store(engine, hook, update(f"evt-{n}", "approved", "2026-12-02T10:00:00Z", f"o{n}"))
            for n in range(5)
        ]
        done = process_pending(engine, ids[4], limit=2)
        assert [str(i) for i in done] == [ids[4], ids[0]]
        assert list(statuses(engine).values()).count("received") == 3


class TestLostJobs:
    def test_a_delivery_left_received_is_processed_by_the_retry_sweep(self, engine, make_hook):
        hook = make_hook()
        store(engine, hook, CREATED)
        with Session(engine) as session:
            received_at = session.exec(select(WebhookDelivery)).one().received_at
        # not yet: its job may still be on its way
        assert retry_due(engine, now=received_at + timedelta(seconds=10)) == {}
        # a minute on, its job is taken as lost (a worker killed while running it)
        assert retry_due(engine, now=received_at + timedelta(minutes=1, seconds=1)) == {
            "processed": 1
        }
        assert len(rows(engine, Order)) == 1


class TestBatchFailure:
    def test_a_batch_that_fails_is_rolled_back_and_each_delivery_tried_alone(
        self, engine, make_hook, monkeypatch
    ):
        from crm.webhooks import careportals

        hook = make_hook()
        store(engine, hook, CREATED)
        store(engine, hook, update("evt-2", "approved", "2026-12-02T10:00:00Z"))

        def broken(*args, **kwargs):
            raise RuntimeError("the database went away")

        # given processing that breaks (for the batch, and for each delivery alone)
        monkeypatch.setattr(careportals, "handle_many", broken)
        # when a job takes them
        done = process_pending(engine)
        # then nothing of the batch stays, and each is failed once, to be retried
        assert sorted(done.values()) == ["failed", "failed"]
        with Session(engine) as session:
            stored = session.exec(select(WebhookDelivery)).all()
        assert {(d.status, d.attempts) for d in stored} == {("failed", 1)}
        assert all(d.next_attempt_at is not None for d in stored)
        assert rows(engine, Order) == [] and rows(engine, Contact) == []
