"""A query waiting for the database holds up no other request: every query resolver and every
nested field does its database work off the event loop."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from crm.settings import Settings
from graphql_schema.app import create_app

IMPORT = """
mutation($csv: String!) { importContacts(input: {csv: $csv}) { importJob { id } } }
"""
# one contact imported, one line rejected
CSV = "first_name,email\nAnna,anna@example.com\n,not-an-email\n"
# a request sent after the held one: a health check, and a query that authenticates its key
OTHER = "{ __typename }"

# case: (operation, the table it waits for, what it answers once the table is released)
CASES: dict[str, tuple[str, str, Callable[[dict], Any]]] = {
    "contact": (
        "query($contact: ID!) { contact(id: $contact) { firstName } }",
        "contacts",
        lambda data: data["contact"]["firstName"],
    ),
    "contacts": (
        "{ contacts { totalCount } }",
        "contacts",
        lambda data: data["contacts"]["totalCount"],
    ),
    "contactsByIdentifier": (
        "query($email: String!) { contactsByIdentifier(channel: EMAIL, value: $email) "
        "{ firstName } }",
        "contacts",
        lambda data: [c["firstName"] for c in data["contactsByIdentifier"]],
    ),
    # the hot path: on PostgreSQL it awaits an asynchronous connection; on SQLite a thread
    "contactByIdentifier": (
        "query($email: String!) { contactByIdentifier(channel: EMAIL, value: $email) "
        "{ firstName } }",
        "contacts",
        lambda data: data["contactByIdentifier"]["firstName"],
    ),
    # nested fields, through the loaders
    "Contact.identifiers": (
        "query($contact: ID!) { contact(id: $contact) { identifiers { value } } }",
        "contact_identifiers",
        lambda data: [i["value"] for i in data["contact"]["identifiers"]],
    ),
    "Contact.sources": (
        "query($email: String!) { contactByIdentifier(channel: EMAIL, value: $email) "
        "{ sources { system } } }",
        "source_records",
        lambda data: [s["system"] for s in data["contactByIdentifier"]["sources"]],
    ),
    "Contact.history": (
        "query($email: String!) { contactByIdentifier(channel: EMAIL, value: $email) "
        "{ history { edges { node { kind } } } } }",
        "contact_events",
        lambda data: data["contactByIdentifier"]["history"]["edges"][-1]["node"]["kind"],
    ),
    "duplicateCandidates": (
        "{ duplicateCandidates { totalCount } }",
        "duplicate_candidates",
        lambda data: data["duplicateCandidates"]["totalCount"],
    ),
    "importJob": (
        "query($job: ID!) { importJob(id: $job) { status } }",
        "import_jobs",
        lambda data: data["importJob"]["status"],
    ),
    "ImportJob.errors": (
        "query($job: ID!) { importJob(id: $job) { errors { edges { node { code } } } } }",
        "import_row_errors",
        lambda data: [e["node"]["code"] for e in data["importJob"]["errors"]["edges"]],
    ),
}
ANSWERS = {
    "contact": "Held",
    "contacts": 2,
    "contactsByIdentifier": ["Held"],
    "contactByIdentifier": "Held",
    "Contact.identifiers": ["held@example.com"],
    "Contact.sources": ["csv"],
    "Contact.history": "created",
    "duplicateCandidates": 0,
    "importJob": "SUCCEEDED",
    "ImportJob.errors": ["INVALID_EMAIL", "NOTHING_TO_IDENTIFY"],
}


class HeldTable:
    """Statements reading ``table`` wait until ``release()``, as with a busy database.

    PostgreSQL: another transaction holds the table's ACCESS EXCLUSIVE lock, so a statement
    reading it waits for the lock. SQLite: a reader never waits for a lock (WAL), so the
    engine holds a statement that reads the table before sending it (an event listener on the
    engine, in the thread that sends it), as a database slow to answer it would.
    """

    def __init__(self, engine: Engine, table: str):
        self.engine = engine
        self.table = table
        self.released = threading.Event()
        self.reached = threading.Event()
        self.reads = re.compile(rf"\b(FROM|JOIN)\s+\"?{table}\"?(\s|$)", re.IGNORECASE)
        self.holder = None

    def __enter__(self) -> HeldTable:
        if self.engine.dialect.name == "postgresql":
            self.holder = self.engine.connect()
            self.holder.begin()
            self.holder.execute(text(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE"))
        else:
            event.listen(self.engine, "before_cursor_execute", self._hold)
        return self

    def _hold(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.reads.search(statement) and not self.released.is_set():
            self.reached.set()
            self.released.wait(30)

    def wait_until_waiting(self) -> None:
        """Until a statement waits for the table (or the table is released)."""
        while not self.released.is_set():
            if self.holder is None:
                if self.reached.wait(0.05):
                    return
            elif self._lock_awaited():
                return
            else:
                time.sleep(0.05)

    def _lock_awaited(self) -> bool:
        with self.engine.connect() as connection:
            return bool(
                connection.execute(
                    text(
                        "SELECT count(*) FROM pg_locks "
                        "WHERE NOT granted AND relation = CAST(:table AS regclass)"
                    ),
                    {"table": self.table},
                ).scalar_one()
            )

    def release(self) -> None:
        if self.released.is_set():
            return
        self.released.set()
        if self.holder is not None:
            self.holder.rollback()

    def __exit__(self, *exc: object) -> None:
        self.release()
        if self.holder is not None:
            self.holder.close()
        else:
            event.remove(self.engine, "before_cursor_execute", self._hold)


@asynccontextmanager
async def served(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app as ``crm serve`` runs it (lifespan included: on PostgreSQL the hot
    path's asynchronous pool is open)."""
    app = create_app(engine=engine, settings=Settings(env="development"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://crm") as client:
            yield client


@pytest.fixture
def held_contact(import_contact):
    return import_contact(first_name="Held", email="held@example.com")


class TestQueriesOffTheLoop:
    @pytest.mark.parametrize("case", list(CASES))
    def test_a_query_waiting_for_the_database_holds_up_no_other_request(
        self, engine, editor_key, held_contact, case
    ):
        # given: an import job with a rejected row, and the table the query reads held
        operation, table, answer = CASES[case]
        headers = {"Authorization": f"Bearer {editor_key}"}
        finished: list[str] = []

        async def scenario() -> dict:
            async with served(engine) as client:
                imported = await client.post(
                    "/graphql",
                    json={"query": IMPORT, "variables": {"csv": CSV}},
                    headers=headers,
                )
                variables = {
                    "contact": str(held_contact.id),
                    "email": "held@example.com",
                    "job": imported.json()["data"]["importContacts"]["importJob"]["id"],
                }
                used = {k: v for k, v in variables.items() if f"${k}" in operation}
                with HeldTable(engine, table) as held:
                    # should the query hold up the event loop, nothing below could run to
                    # release the table: it is then released anyway, and the test fails on
                    # the order
                    deadline = threading.Timer(10, held.release)
                    deadline.start()
                    try:
                        return await requests_meanwhile(client, held, used)
                    finally:
                        deadline.cancel()

        async def requests_meanwhile(client, held: HeldTable, variables: dict) -> dict:
            async def query() -> dict:
                response = await client.post(
                    "/graphql", json={"query": operation, "variables": variables}, headers=headers
                )
                finished.append("query")
                return response.json()

            querying = asyncio.create_task(query())
            await asyncio.to_thread(held.wait_until_waiting)
            # when: a health check and another query meanwhile
            health = await client.get("/healthz")
            finished.append("healthz")
            other = await client.post("/graphql", json={"query": OTHER}, headers=headers)
            finished.append("other")
            assert health.status_code == 200
            assert other.json() == {"data": {"__typename": "Query"}}
            # ...and then the table is released
            await asyncio.to_thread(held.release)
            return await querying

        body = asyncio.run(scenario())
        # then: both were answered while the query waited, which then answered in full
        assert finished == ["healthz", "other", "query"]
        assert "errors" not in body, body["errors"]
        assert answer(body["data"]) == ANSWERS[case]


# sibling fields: strawberry resolves them concurrently, all on one request's session
SIBLINGS = """
query($contact: ID!, $email: String!, $job: ID!) {
  a: contact(id: $contact) { firstName identifiers { value } sources { system } }
  b: contacts { totalCount edges { node { firstName history { edges { node { kind } } } } } }
  c: contactsByIdentifier(channel: EMAIL, value: $email) { firstName identifiers { value } }
  d: contactByIdentifier(channel: EMAIL, value: $email) { firstName sources { system } }
  e: duplicateCandidates { totalCount }
  f: importJob(id: $job) { status errors { totalCount } }
  g: contact(id: $contact) { firstName history { edges { node { kind } } } }
  h: contacts(filter: {email: $email}) { totalCount }
}
"""


class StatementsInFlight:
    """The most statements one database connection had in flight at once (engine events)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.running: dict[int, int] = {}
        self.most = 0
        self.guard = threading.Lock()

    def __enter__(self) -> StatementsInFlight:
        event.listen(self.engine, "before_cursor_execute", self._start)
        event.listen(self.engine, "after_cursor_execute", self._end)
        event.listen(self.engine, "handle_error", self._failed)
        return self

    def _change(self, conn, by: int) -> None:
        key = id(conn.connection.dbapi_connection)
        with self.guard:
            self.running[key] = self.running.get(key, 0) + by
            self.most = max(self.most, self.running[key])

    def _start(self, conn, *args: Any) -> None:
        self._change(conn, 1)

    def _end(self, conn, *args: Any) -> None:
        self._change(conn, -1)

    def _failed(self, context) -> None:
        self._change(context.connection, -1)

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._start)
        event.remove(self.engine, "after_cursor_execute", self._end)
        event.remove(self.engine, "handle_error", self._failed)


class TestSiblingFields:
    def test_fields_resolved_at_once_take_turns_on_the_request_session(
        self, engine, editor_key, held_contact
    ):
        # given: an import job, and the identifiers table held while a field reads it
        headers = {"Authorization": f"Bearer {editor_key}"}

        async def scenario() -> tuple[dict, int]:
            async with served(engine) as client:
                imported = await client.post(
                    "/graphql", json={"query": IMPORT, "variables": {"csv": CSV}}, headers=headers
                )
                variables = {
                    "contact": str(held_contact.id),
                    "email": "held@example.com",
                    "job": imported.json()["data"]["importContacts"]["importJob"]["id"],
                }
                # (counted first: a held statement is in flight while it waits)
                with (
                    StatementsInFlight(engine) as statements,
                    HeldTable(engine, "contact_identifiers") as held,
                ):
                    deadline = threading.Timer(10, held.release)
                    deadline.start()
                    try:
                        # when: one request asks for many fields at once
                        querying = asyncio.create_task(
                            client.post(
                                "/graphql",
                                json={"query": SIBLINGS, "variables": variables},
                                headers=headers,
                            )
                        )
                        await asyncio.to_thread(held.wait_until_waiting)
                        # a chance for the other fields to send theirs meanwhile
                        await asyncio.sleep(0.3)
                        await asyncio.to_thread(held.release)
                        response = await querying
                    finally:
                        deadline.cancel()
                return response.json(), statements.most

        body, most_in_flight = asyncio.run(scenario())
        # then: the fields took turns on the request's connection, and every one is answered
        assert most_in_flight == 1
        assert "errors" not in body, body["errors"]
        data = body["data"]
        assert data["a"]["identifiers"] == [{"value": "held@example.com"}]
        assert data["a"]["sources"] == [{"system": "csv"}]
        assert data["b"]["totalCount"] == 2
        assert data["c"] == [{"firstName": "Held", "identifiers": [{"value": "held@example.com"}]}]
        assert data["d"] == {"firstName": "Held", "sources": [{"system": "csv"}]}
        assert data["e"] == {"totalCount": 0}
        assert data["f"] == {"status": "SUCCEEDED", "errors": {"totalCount": 2}}
        assert data["g"]["history"]["edges"][-1]["node"] == {"kind": "created"}
        assert data["h"] == {"totalCount": 1}
