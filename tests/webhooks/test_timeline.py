"""Contact.activity.timeline: one newest-first, cursor-paginated list of what happened."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import Session

from crm.models import (
    Message,
    Order,
    PmsAppointment,
    Prescription,
    Subscription,
    utcnow,
)
from tests.conftest import make_key
from tests.webhooks.test_contact_context import CONTEXT, cliniko_connection
from tests.webhooks.test_graphql import gql

TIMELINE = """
query Timeline($id: ID!, $first: Int!, $after: String) {
  contact(id: $id) {
    activity {
      timeline(first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node { kind at status title detail reference } }
      }
    }
  }
}
"""
PAGE = """
query Page {
  contacts(first: 50) {
    edges { node { activity { timeline(first: 5) { totalCount edges { node { kind at } } } } } }
  }
}
"""


def _new_contact(client, key, phone: str) -> uuid.UUID:
    out = gql(client, key, CONTEXT, {"channel": "PHONE", "value": phone})
    return uuid.UUID(out["data"]["contactContext"]["contact"]["id"])


def _history(session: Session, org, contact_id: uuid.UUID) -> None:
    """Eight entries, one day apart, the newest 1 day ago."""
    now = utcnow()

    def ago(days: int):
        return now - timedelta(days=days)

    pms = cliniko_connection(session, org)
    session.add_all(
        [
            PmsAppointment(
                organization_id=org.id,
                connection_id=pms.id,
                pms_id=f"a-{contact_id}",
                contact_id=contact_id,
                starts_at=ago(8),
                status="arrived",
                appointment_type_name="Consult",
                practitioner_name="Dr Who",
                content_hash="h",
            ),
            Order(
                organization_id=org.id,
                contact_id=contact_id,
                source="careportals",
                external_id=f"o-{contact_id}",
                status="shipped",
                ordered_at=ago(7),
                status_history=[
                    {"status": "pending", "at": ago(7).isoformat(), "created": True},
                    {"status": "approved", "at": ago(6).isoformat(), "created": False},
                    {"status": "shipped", "at": ago(5).isoformat(), "created": False},
                ],
            ),
            Subscription(
                organization_id=org.id,
                contact_id=contact_id,
                source="careportals",
                external_id=f"s-{contact_id}",
                status="paused",
                created_at=ago(4),
                paused_at=ago(3),
            ),
            Prescription(
                organization_id=org.id,
                contact_id=contact_id,
                source="careportals",
                external_id=f"p-{contact_id}",
                drug_name="Amoxicillin",
                prescribed_at=ago(2),
            ),
            Message(
                organization_id=org.id,
                contact_id=contact_id,
                channel="whatsapp",
                external_id=f"m-{contact_id}",
                direction="inbound",
                sent_at=ago(1),
                conversation_id="conv-1",
            ),
        ]
    )
    session.commit()


class TestTimeline:
    def test_everything_newest_first_in_pages(self, client, session, org):
        key = make_key(session, org, "editor")
        contact_id = _new_contact(client, key, "0412 345 678")
        _history(session, org, contact_id)
        # when the timeline is read three entries at a time
        seen, after = [], None
        for _ in range(5):
            page = gql(client, key, TIMELINE, {"id": str(contact_id), "first": 3, "after": after})[
                "data"
            ]["contact"]["activity"]["timeline"]
            assert page["totalCount"] == 8
            seen += [e["node"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        # then every entry comes once, newest first
        assert [(e["kind"], e["status"] or e["title"]) for e in seen] == [
            ("MESSAGE", "whatsapp"),
            ("PRESCRIPTION", "Amoxicillin"),
            ("SUBSCRIPTION", "paused"),
            ("SUBSCRIPTION", "created"),
            ("ORDER_STATUS", "shipped"),
            ("ORDER_STATUS", "approved"),
            ("ORDER", "shipped"),
            ("APPOINTMENT", "arrived"),
        ]
        assert seen[0]["detail"] == "inbound" and seen[0]["reference"] == "conv-1"
        assert seen[-1]["detail"] == "Dr Who" and seen[-1]["title"] == "Consult"

    def test_a_merged_contacts_timeline_counts_for_its_survivor(self, client, session, org):
        from crm.merging.service import merge_contacts

        key = make_key(session, org, "admin")
        survivor = _new_contact(client, key, "0412 345 678")
        merged = _new_contact(client, key, "0412 345 679")
        _history(session, org, merged)
        merge_contacts(
            session, organization=org, survivor_id=survivor, merge_ids=[merged], actor="test"
        )
        session.commit()
        page = gql(client, key, TIMELINE, {"id": str(survivor), "first": 50})
        assert page["data"]["contact"]["activity"]["timeline"]["totalCount"] == 8

    def test_a_bad_cursor_is_a_coded_error(self, client, session, org):
        key = make_key(session, org, "editor")
        contact_id = _new_contact(client, key, "0412 345 678")
        out = gql(client, key, TIMELINE, {"id": str(contact_id), "first": 3, "after": "nope"})
        assert out["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


class TestTimelineStatements:
    def test_a_page_of_contacts_costs_the_same_statements_for_more_contacts(
        self, client, engine, session, org
    ):
        from tests.graphql.test_sql_statements import recorded_statements

        key = make_key(session, org, "editor")

        def add(n: int) -> None:
            _history(session, org, _new_contact(client, key, f"0412 345 {n:03d}"))

        def cost() -> int:
            with recorded_statements(engine) as statements:
                out = gql(client, key, PAGE)
            assert "errors" not in out
            return len(statements)

        for n in range(2):
            add(n)
        gql(client, key, PAGE)  # the key's first use in a minute writes last_used_at
        few = cost()
        for n in range(2, 12):
            add(n)
        # then 12 contacts with their timelines cost what 2 did
        assert cost() == few
