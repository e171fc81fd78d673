"""The webhook API: endpoints made over GraphQL receive deliveries; the inbox and the
contact's activity read back; failed deliveries replay."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from crm.models import WebhookDelivery
from crm.webhooks.signatures import sign
from tests.conftest import make_key

CREATE = """
mutation Create($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    webhookEndpoint { id provider url secret }
    errors { code field message }
  }
}
"""
DELIVERIES = """
query Deliveries($status: WebhookDeliveryStatus, $first: Int!, $after: String) {
  webhookDeliveries(status: $status, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id provider eventType eventId status attempts } }
  }
}
"""
REPLAY = """
mutation Replay($id: ID!) {
  replayWebhookDelivery(input: {id: $id}) {
    delivery { id status attempts lastError }
    errors { code field }
  }
}
"""
ACTIVITY = """
query Activity {
  contacts(first: 10) {
    edges { node {
      email
      activity {
        orders { id status totalAmount createdAt }
        subscriptions { id status }
        prescriptions { id createdAt }
        lastMessageAt
      }
    } }
  }
}
"""


def gql(client, key, query, variables=None):
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def order(event_id: str, order_id: str, email: str) -> bytes:
    return json.dumps(
        {
            "event": "order.created",
            "id": event_id,
            "data": {
                "_id": order_id,
                "status": "pending",
                "total": "10.00",
                "createdAt": "2026-12-01T00:00:00Z",
                "customer.email": email,
                "customer.firstName": "Ada",
            },
        }
    ).encode()


class TestWebhookApi:
    def test_an_endpoint_made_over_graphql_receives_and_shows_activity(self, client, session, org):
        key = make_key(session, org, "admin")
        made = gql(client, key, CREATE, {"input": {"provider": "CAREPORTALS", "displayName": "x"}})
        endpoint = made["data"]["createWebhookEndpoint"]["webhookEndpoint"]
        assert endpoint["provider"] == "CAREPORTALS"
        assert endpoint["url"] == f"/webhooks/careportals/{endpoint['id']}"
        assert len(endpoint["secret"]) >= 32
        body = order("e1", "ord-1", "ada@example.com")
        answer = client.post(
            endpoint["url"],
            content=body,
            headers={"X-CarePortals-Signature": sign(endpoint["secret"], body)},
        )
        assert answer.status_code == 200
        # the inbox lists it, processed
        listed = gql(client, key, DELIVERIES, {"first": 10})["data"]["webhookDeliveries"]
        assert listed["totalCount"] == 1
        node = listed["edges"][0]["node"]
        assert (node["status"], node["eventType"], node["eventId"]) == (
            "PROCESSED",
            "order.created",
            "e1",
        )
        # the contact shows its order
        [contact] = gql(client, key, ACTIVITY)["data"]["contacts"]["edges"]
        activity = contact["node"]["activity"]
        assert activity["orders"] == [
            {
                "id": "ord-1",
                "status": "pending",
                "totalAmount": "10.00",
                "createdAt": "2026-12-01T00:00:00+00:00",
            }
        ]
        assert activity["subscriptions"] == [] and activity["lastMessageAt"] is None

    def test_only_admins_manage_webhooks(self, client, session, org):
        key = make_key(session, org, "editor")
        made = gql(client, key, CREATE, {"input": {"provider": "CHATWOOT"}})
        listed = gql(client, key, DELIVERIES, {"first": 1})
        assert made["data"] is None and made["errors"]
        assert listed["data"] is None and listed["errors"]

    def test_deliveries_page_and_filter_and_replay(self, client, engine, session, org):
        key = make_key(session, org, "admin")
        endpoint = gql(client, key, CREATE, {"input": {"provider": "CAREPORTALS"}})["data"][
            "createWebhookEndpoint"
        ]["webhookEndpoint"]
        for n in range(3):
            body = order(f"e{n}", f"ord-{n}", f"p{n}@example.com")
            client.post(
                endpoint["url"],
                content=body,
                headers={"X-CarePortals-Signature": sign(endpoint["secret"], body)},
            )
        first = gql(client, key, DELIVERIES, {"first": 2})["data"]["webhookDeliveries"]
        rest = gql(client, key, DELIVERIES, {"first": 2, "after": first["pageInfo"]["endCursor"]})[
            "data"
        ]["webhookDeliveries"]
        ids = [e["node"]["eventId"] for e in first["edges"] + rest["edges"]]
        assert ids == ["e2", "e1", "e0"] and first["pageInfo"]["hasNextPage"]
        # given one delivery failed
        with Session(engine) as s:
            row = s.exec(select(WebhookDelivery).where(WebhookDelivery.event_id == "e1")).one()
            row.status = "failed"
            s.add(row)
            s.commit()
            failed_id = str(row.id)
        failed = gql(client, key, DELIVERIES, {"first": 5, "status": "FAILED"})
        assert [e["node"]["id"] for e in failed["data"]["webhookDeliveries"]["edges"]] == [
            failed_id
        ]
        replayed = gql(client, key, REPLAY, {"id": failed_id})["data"]["replayWebhookDelivery"]
        assert replayed["delivery"]["status"] == "PROCESSED" and replayed["errors"] == []
        missing = gql(client, key, REPLAY, {"id": "00000000-0000-0000-0000-000000000000"})
        assert missing["data"]["replayWebhookDelivery"]["errors"][0]["code"] == "NOT_FOUND"


class TestActivityAfterMerge:
    def test_the_survivor_shows_the_merged_contacts_orders(self, client, engine, session, org):
        from crm.merging.service import merge_contacts
        from crm.models import Contact

        key = make_key(session, org, "admin")
        endpoint = gql(client, key, CREATE, {"input": {"provider": "CAREPORTALS"}})["data"][
            "createWebhookEndpoint"
        ]["webhookEndpoint"]
        for n, email in enumerate(["one@example.com", "two@example.com"]):
            body = order(f"e{n}", f"ord-{n}", email)
            client.post(
                endpoint["url"],
                content=body,
                headers={"X-CarePortals-Signature": sign(endpoint["secret"], body)},
            )
        with Session(engine) as s:
            ids = {c.email: c.id for c in s.exec(select(Contact))}
        # when the second is merged into the first
        merge_contacts(
            session,
            organization=org,
            survivor_id=ids["one@example.com"],
            merge_ids=[ids["two@example.com"]],
            actor="test",
        )
        session.commit()
        # then the survivor lists both orders
        [contact] = gql(client, key, ACTIVITY)["data"]["contacts"]["edges"]
        assert sorted(o["id"] for o in contact["node"]["activity"]["orders"]) == [
            "ord-0",
            "ord-1",
        ]


class TestActivityStatements:
    def test_a_page_costs_the_same_statements_for_more_contacts(self, client, engine, session, org):
        from tests.graphql.test_sql_statements import recorded_statements

        key = make_key(session, org, "admin")
        endpoint = gql(client, key, CREATE, {"input": {"provider": "CAREPORTALS"}})["data"][
            "createWebhookEndpoint"
        ]["webhookEndpoint"]

        def add(n: int) -> None:
            body = order(f"e{n}", f"ord-{n}", f"p{n}@example.com")
            client.post(
                endpoint["url"],
                content=body,
                headers={"X-CarePortals-Signature": sign(endpoint["secret"], body)},
            )

        def cost() -> int:
            with recorded_statements(engine) as statements:
                gql(client, key, ACTIVITY)
            return len(statements)

        for n in range(2):
            add(n)
        few = cost()
        for n in range(2, 7):
            add(n)
        assert cost() == few
