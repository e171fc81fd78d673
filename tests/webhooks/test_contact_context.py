"""contactContext: a messaging bot's one call for the person writing (over the real HTTP app)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from sqlmodel import Session, select

from crm.contacts.bot_context import (
    AppointmentRow,
    OrderRow,
    SubscriptionRow,
    bot_context,
    bot_context_async,
    contact_and_context_async,
)
from crm.contacts.queries import contact_by_identifier
from crm.models import (
    Contact,
    ContactIdentifier,
    Order,
    PmsAppointment,
    PmsConnection,
    Subscription,
    utcnow,
)
from tests.conftest import make_key
from tests.webhooks.test_graphql import gql

CONTEXT = """
mutation Context($channel: Channel!, $value: String!, $first: String) {
  contactContext(channel: $channel, value: $value, firstName: $first) {
    contact { id phone firstName }
    created
    nextAppointment { pmsId startsAt status practitioner }
    lastAppointment { pmsId status }
    activeSubscriptions { id status }
    lastOrder { id status }
    errors { code field }
  }
}
"""


def cliniko_connection(session: Session, org) -> PmsConnection:
    """The organization's Cliniko connection, made on first use (one per PMS type)."""
    connection = session.exec(
        select(PmsConnection).where(
            PmsConnection.organization_id == org.id, PmsConnection.type == "CLINIKO"
        )
    ).first()
    if connection is None:
        connection = PmsConnection(
            organization_id=org.id, type="CLINIKO", display_name="c", credentials_encrypted="x"
        )
        session.add(connection)
        session.flush()
    return connection


def _activity(session: Session, org, contact_id) -> None:
    now = utcnow()
    connection = cliniko_connection(session, org)
    for pms_id, days, status in (
        ("past-kept", -10, "arrived"),
        ("past-cancelled", -2, "cancelled"),
        ("soon-cancelled", 1, "cancelled"),
        ("next", 3, "booked"),
        ("later", 30, "booked"),
    ):
        session.add(
            PmsAppointment(
                organization_id=org.id,
                connection_id=connection.id,
                pms_id=pms_id,
                contact_id=contact_id,
                starts_at=now + timedelta(days=days),
                status=status,
                practitioner_name="Dr Who",
                content_hash="h",
            )
        )
    for ext, status, age in (("s-old", "cancelled", 5), ("s-live", "active", 1)):
        session.add(
            Subscription(
                organization_id=org.id,
                contact_id=contact_id,
                source="careportals",
                external_id=ext,
                status=status,
                created_at=now - timedelta(days=age),
            )
        )
    for ext, status, age in (("o-1", "delivered", 9), ("o-2", "shipped", 1)):
        session.add(
            Order(
                organization_id=org.id,
                contact_id=contact_id,
                source="careportals",
                external_id=ext,
                status=status,
                created_at=now - timedelta(days=age),
            )
        )
    session.commit()


class TestContactContext:
    def test_a_new_identifier_creates_the_contact_with_no_activity(self, client, session, org):
        key = make_key(session, org, "editor")
        # when a bot asks about a number never seen
        out = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "0412 345 678"})
        ctx = out["data"]["contactContext"]
        # then the contact exists now, with nothing yet
        assert ctx["errors"] == [] and ctx["created"] is True
        assert ctx["contact"]["phone"] == "+61412345678"
        assert ctx["nextAppointment"] is None and ctx["lastOrder"] is None
        assert ctx["activeSubscriptions"] == []
        # and asking again finds the same one without creating
        again = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "+61 412 345 678"})
        assert again["data"]["contactContext"]["created"] is False
        assert again["data"]["contactContext"]["contact"]["id"] == ctx["contact"]["id"]
        assert len(session.exec(select(Contact)).all()) == 1

    def test_a_known_contact_comes_with_appointments_subscriptions_and_last_order(
        self, client, session, org
    ):
        key = make_key(session, org, "editor")
        first = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "0412 345 678"})
        contact_id = first["data"]["contactContext"]["contact"]["id"]
        _activity(session, org, uuid.UUID(contact_id))
        # when the bot asks again
        ctx = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "0412345678"})["data"][
            "contactContext"
        ]
        # then the next kept appointment (not the cancelled one sooner), the last kept one,
        # only the active subscription and the newest order
        assert ctx["nextAppointment"]["pmsId"] == "next"
        assert ctx["nextAppointment"]["practitioner"] == "Dr Who"
        assert ctx["lastAppointment"]["pmsId"] == "past-kept"
        assert ctx["activeSubscriptions"] == [{"id": "s-live", "status": "active"}]
        assert ctx["lastOrder"] == {"id": "o-2", "status": "shipped"}

    def test_a_merged_contacts_activity_counts_for_its_survivor(self, client, engine, session, org):
        from crm.merging.service import merge_contacts

        key = make_key(session, org, "admin")
        a = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "0412 345 678"})
        b = gql(client, key, CONTEXT, {"channel": "EMAIL", "value": "b@example.com"})
        survivor = a["data"]["contactContext"]["contact"]["id"]
        merged = b["data"]["contactContext"]["contact"]["id"]
        _activity(session, org, uuid.UUID(merged))
        merge_contacts(
            session, organization=org, survivor_id=survivor, merge_ids=[merged], actor="test"
        )
        session.commit()
        ctx = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "0412345678"})["data"][
            "contactContext"
        ]
        assert ctx["contact"]["id"] == survivor
        assert ctx["lastOrder"]["id"] == "o-2"
        assert ctx["nextAppointment"]["pmsId"] == "next"

    def test_a_name_is_recorded_on_a_new_contact(self, client, session, org):
        key = make_key(session, org, "editor")
        out = gql(
            client, key, CONTEXT, {"channel": "PHONE", "value": "0412 345 678", "first": "Ada"}
        )
        assert out["data"]["contactContext"]["contact"]["firstName"] == "Ada"

    def test_a_bad_phone_is_a_coded_error(self, client, session, org):
        key = make_key(session, org, "editor")
        out = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "12"})
        ctx = out["data"]["contactContext"]
        assert ctx["contact"] is None and ctx["errors"][0]["code"] == "INVALID_PHONE"

    def test_a_reader_key_may_not_create(self, client, session, org):
        key = make_key(session, org, "reader")
        out = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "0412 345 678"})
        assert out["data"] is None and out["errors"]

    def test_a_name_given_for_a_known_contact_still_brings_its_activity(self, client, session, org):
        key = make_key(session, org, "editor")
        first = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "0412 345 678"})
        contact_id = first["data"]["contactContext"]["contact"]["id"]
        _activity(session, org, uuid.UUID(contact_id))
        # when the bot gives a name (recorded through resolveContact's command)
        out = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "0412345678", "first": "Ada"})
        ctx = out["data"]["contactContext"]
        # then the same contact, not created, with its context
        assert ctx["contact"]["id"] == contact_id and ctx["created"] is False
        assert ctx["nextAppointment"]["pmsId"] == "next"
        assert ctx["lastAppointment"]["pmsId"] == "past-kept"
        assert ctx["lastOrder"] == {"id": "o-2", "status": "shipped"}

    def test_at_most_twenty_active_subscriptions_newest_first(self, client, session, org):
        key = make_key(session, org, "editor")
        first = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "0412 345 678"})
        contact_id = uuid.UUID(first["data"]["contactContext"]["contact"]["id"])
        now = utcnow()
        for n in range(25):
            session.add(
                Subscription(
                    organization_id=org.id,
                    contact_id=contact_id,
                    source="careportals",
                    external_id=f"s-{n:02d}",
                    status="paused" if n % 5 == 0 else "active",
                    created_at=now - timedelta(hours=n),
                )
            )
        session.commit()
        ctx = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "0412345678"})["data"][
            "contactContext"
        ]
        # 20 of the 25 are active; all of them, newest first
        expected = [f"s-{n:02d}" for n in range(25) if n % 5][:20]
        assert [s["id"] for s in ctx["activeSubscriptions"]] == expected
        assert {s["status"] for s in ctx["activeSubscriptions"]} == {"active"}

    def test_a_shared_phone_gives_its_primary_holder_and_only_its_activity(
        self, client, session, org
    ):
        key = make_key(session, org, "editor")
        # Ada first, then Bob on the same phone (a household)
        ada = gql(
            client, key, CONTEXT, {"channel": "PHONE", "value": "0412 345 678", "first": "Ada"}
        )["data"]["contactContext"]["contact"]
        bob = gql(
            client, key, CONTEXT, {"channel": "PHONE", "value": "0412 345 678", "first": "Bob"}
        )["data"]["contactContext"]["contact"]
        assert bob["id"] != ada["id"]
        _activity(session, org, uuid.UUID(bob["id"]))
        # when asked without a name
        ctx = gql(client, key, CONTEXT, {"channel": "PHONE", "value": "0412345678"})["data"][
            "contactContext"
        ]
        # then the phone's first holder, without Bob's activity
        assert ctx["contact"]["id"] == ada["id"]
        assert ctx["nextAppointment"] is None and ctx["lastOrder"] is None
        assert ctx["activeSubscriptions"] == []

    def test_another_organizations_activity_is_never_shown(self, client, session, org, other_org):
        mine, theirs = make_key(session, org, "editor"), make_key(session, other_org, "editor")
        their_contact = gql(
            client, theirs, CONTEXT, {"channel": "EMAIL", "value": "ann@example.com"}
        )["data"]["contactContext"]["contact"]["id"]
        _activity(session, other_org, uuid.UUID(their_contact))
        ctx = gql(client, mine, CONTEXT, {"channel": "EMAIL", "value": "ann@example.com"})["data"][
            "contactContext"
        ]
        assert ctx["created"] is True and ctx["contact"]["id"] != their_contact
        assert ctx["nextAppointment"] is None and ctx["lastAppointment"] is None
        assert ctx["lastOrder"] is None and ctx["activeSubscriptions"] == []


def _shown(found) -> tuple:
    """What contactContext's types read of a context (rows or model instances alike)."""

    def fields(row, names):
        return None if row is None else tuple(getattr(row, name) for name in names)

    return (
        fields(found.next_appointment, AppointmentRow._fields),
        fields(found.last_appointment, AppointmentRow._fields),
        [fields(s, SubscriptionRow._fields) for s in found.active_subscriptions],
        fields(found.last_order, OrderRow._fields),
    )


def test_the_one_statement_answers_as_the_separate_reads(engine, session, org):
    """PostgreSQL's hot path (one statement, by identifier and by id) gives what the
    synchronous path's four reads give (SQLite's, and PostgreSQL's without the async pool):
    the merged contacts' activity, kept statuses, ties in time, the subscription limit."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the one statement runs on PostgreSQL's asynchronous connection")
    from crm.merging.service import merge_contacts

    survivor = Contact(organization_id=org.id, first_name="Ann", phone="+61412345678")
    merged = Contact(organization_id=org.id, first_name="Ann", email="ann@example.com")
    session.add_all([survivor, merged])
    session.flush()
    session.add(
        ContactIdentifier(
            organization_id=org.id,
            contact_id=survivor.id,
            namespace="tel",
            value="+61412345678",
            channel="PHONE",
            ordinal=0,
        )
    )
    session.commit()
    _activity(session, org, merged.id)
    now = utcnow()
    connection = cliniko_connection(session, org)
    same_time = now + timedelta(days=2)
    for pms_id in ("tie-b", "tie-a"):  # two kept appointments at the same time
        session.add(
            PmsAppointment(
                organization_id=org.id,
                connection_id=connection.id,
                pms_id=pms_id,
                contact_id=survivor.id,
                starts_at=same_time,
                status="booked",
                content_hash="h",
            )
        )
    for n in range(22):  # the same creation time for several
        session.add(
            Subscription(
                organization_id=org.id,
                contact_id=survivor.id if n % 2 else merged.id,
                source="careportals",
                external_id=f"live-{n}",
                status="active",
                created_at=now - timedelta(hours=n // 3),
            )
        )
    for ext in ("tie-1", "tie-2"):
        session.add(
            Order(
                organization_id=org.id,
                contact_id=survivor.id,
                source="careportals",
                external_id=ext,
                status="pending",
                total_amount=Decimal("12.50"),
                status_history=[{"status": "pending", "at": "2026-01-01T00:00:00Z"}],
                line_items=[{"name": "a"}],
                created_at=now,
            )
        )
    session.commit()
    merge_contacts(
        session, organization=org, survivor_id=survivor.id, merge_ids=[merged.id], actor="t"
    )
    session.commit()
    loner = Contact(organization_id=org.id, first_name="Lone")
    session.add(loner)
    session.commit()

    async def hot(contact_id):
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            holder, by_identifier = await contact_and_context_async(
                conn,
                engine.dialect,
                organization_id=org.id,
                channel="PHONE",
                value="0412 345 678",
                region="AU",
                now=now,
            )
            by_id = await bot_context_async(
                conn, engine.dialect, organization_id=org.id, contact_id=contact_id, now=now
            )
            return holder, by_identifier, by_id

    with engine.connect() as conn:
        expected = bot_context(conn, organization_id=org.id, contact_id=survivor.id, now=now)
        nothing = bot_context(conn, organization_id=org.id, contact_id=loner.id, now=now)
        found = contact_by_identifier(
            conn, organization_id=org.id, channel="PHONE", value="0412345678", region="AU"
        )
    holder, by_identifier, by_id = asyncio.run(hot(survivor.id))
    # the holder, every column as contactByIdentifier reads it
    attributes = [
        Contact.__mapper__.get_property_by_column(c).key for c in Contact.__table__.columns
    ]
    assert holder.id == survivor.id
    assert [getattr(holder, a) for a in attributes] == [getattr(found, a) for a in attributes]
    assert _shown(by_identifier) == _shown(by_id) == _shown(expected)
    # and what that is: the merged contact's activity, the tie broken by id, 20 subscriptions
    shown = _shown(expected)
    assert shown[0][1] in ("tie-a", "tie-b") and shown[1][1] == "past-kept"
    assert len(shown[2]) == 20 and shown[3][0] in ("tie-1", "tie-2")
    assert shown[3][3] == Decimal("12.50") and shown[3][9] == [{"name": "a"}]
    # a contact with no activity: nothing, on both paths
    _, _, none_by_id = asyncio.run(hot(loner.id))
    assert _shown(none_by_id) == _shown(nothing) == (None, None, [], None)
