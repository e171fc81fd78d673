"""The number of SQL statements a page of contacts costs does not grow with the page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from crm.settings import Settings

CONTACTS_WITH_EVERYTHING = """
query ContactsWithEverything($first: Int!) {
  contacts(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id displayName email phone
        mergedInto { id }
        identifiers { channel value source primary }
        sources { system externalId version payload }
        history(first: 5) { pageInfo { hasNextPage } edges { node { kind field } } }
      }
    }
  }
}
"""

# authenticate the key, the page with its total, identifiers, sources, history: one each
BUDGET = 5
CONTACTS = 120


@pytest.fixture
def settings() -> Settings:
    # the app's background webhook sender would add its own statements to the count
    return Settings(env="development", webhook_send_interval_seconds=0)


@contextmanager
def recorded_statements(engine: Engine) -> Iterator[list[str]]:
    """Every statement sent through the engine while the block runs, nothing excluded."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def crowd(import_batch) -> None:
    """120 contacts, each with four identifiers, three sources and several events."""
    import_batch(
        source="csv",
        records=[
            {
                "first_name": f"Pat{n}",
                "last_name": "Jones",
                "email": f"pat{n}@example.com",
                "phone": f"0412 {n:03d} 000",
                "instagram": f"pat.{n}",
            }
            for n in range(CONTACTS)
        ],
    )
    import_batch(
        source="cliniko",
        records=[
            {"first_name": f"Pat{n}", "email": f"pat{n}@example.com", "cliniko_id": f"c{n}"}
            for n in range(CONTACTS)
        ],
    )
    import_batch(
        source="whatsapp",
        records=[
            {"first_name": f"Pat{n}", "whatsapp": f"+61 412 {n:03d} 000", "city": "Bondi"}
            for n in range(CONTACTS)
        ],
    )


class TestStatementBudget:
    def test_a_page_of_100_contacts_with_nested_lists(self, engine, api, reader_key, crowd):
        # given: the page really has nested data to load
        variables = {"first": 100}

        # when
        # the key's use is recorded once a minute, not per page
        api.data("{ __typename }", key=reader_key)
        with recorded_statements(engine) as statements:
            data = api.data(CONTACTS_WITH_EVERYTHING, key=reader_key, variables=variables)

        # then
        edges = data["contacts"]["edges"]
        assert len(edges) == 100
        assert data["contacts"]["totalCount"] == CONTACTS
        node = edges[0]["node"]
        assert len(node["identifiers"]) == 4
        assert {s["system"] for s in node["sources"]} == {"csv", "cliniko", "whatsapp"}
        assert len(node["history"]["edges"]) >= 3
        assert len(statements) <= BUDGET, "\n\n".join(statements)

    def test_the_cost_does_not_grow_with_the_page(self, engine, api, reader_key, crowd):
        # given
        # the key's use is recorded once a minute, not per page
        api.data("{ __typename }", key=reader_key)
        with recorded_statements(engine) as small:
            api.data(CONTACTS_WITH_EVERYTHING, key=reader_key, variables={"first": 2})

        # when
        with recorded_statements(engine) as large:
            api.data(CONTACTS_WITH_EVERYTHING, key=reader_key, variables={"first": 100})

        # then
        assert len(large) == len(small)
