"""contactContext: a messaging bot's one call for the person writing (over the real HTTP app)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import Session, select

from crm.models import Contact, Order, PmsAppointment, PmsConnection, Subscription, utcnow
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


def _activity(session: Session, org, contact_id) -> None:
    now = utcnow()
    connection = PmsConnection(
        organization_id=org.id, type="CLINIKO", display_name="c", credentials_encrypted="x"
    )
    session.add(connection)
    session.flush()
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
