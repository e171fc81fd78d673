"""An import never holds up the server: other requests are answered while it runs, and a large
upload comes back at once as a job that runs in the background (no Redis needed)."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import event, select

from crm.models import Contact
from crm.settings import Settings, get_settings
from graphql_schema.app import create_app

IMPORT = """
mutation($csv: String!) {
  importContacts(input: {csv: $csv}) {
    importJob { id status rows created progress processedBytes totalBytes }
    errors { code message }
  }
}
"""
IMPORT_ROWS = """
mutation($csv: String!) { importContacts(input: {csv: $csv}) { importJob { created } } }
"""
JOB = "query($id: ID!) { importJob(id: $id) { status rows created rejected progress } }"
LOOKUP = """
query($value: String!) { contactByIdentifier(channel: EMAIL, value: $value) { firstName } }
"""


def people(count: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Client ID", "First Name", "Surname", "Email", "Mobile"])
    for n in range(count):
        writer.writerow([f"C{n}", f"Given{n % 89}", f"Family{n}", f"c{n}@example.com", ""])
    return out.getvalue()


@pytest.fixture
def batches_of_100(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("CRM_IMPORT_BATCH_SIZE", "100")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


class TestRequestsDuringAnImport:
    def test_lookups_sent_while_an_import_runs_complete_before_it(
        self, engine, org, editor_key, import_contact, batches_of_100
    ):
        # given: a known contact, and a file of 3,000 rows imported in the request (inline),
        # held between two batches until the lookup and the health check are answered (at
        # most 10 s: an import that holds the event loop is released by the timeout and
        # finishes first)
        import_contact(first_name="Known", email="known@example.com")
        app = create_app(
            engine=engine, settings=Settings(env="development", import_background_bytes=10**9)
        )
        headers = {"Authorization": f"Bearer {editor_key}"}
        finished: list[str] = []
        holding, release = threading.Event(), threading.Event()
        updates: list[str] = []

        def hold(conn, cursor, statement, parameters, context, executemany) -> None:
            # the import job's row is updated as the import starts and with each batch: the
            # third update is mid-import
            if statement.lstrip().upper().startswith("UPDATE IMPORT_JOBS"):
                updates.append(statement)
                if len(updates) == 3:
                    holding.set()
                    release.wait(10)

        async def scenario() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://crm") as client:

                async def post(name: str, query: str, variables: dict) -> dict:
                    response = await client.post(
                        "/graphql",
                        json={"query": query, "variables": variables},
                        headers=headers,
                    )
                    finished.append(name)
                    return response.json()

                async def healthz() -> int:
                    response = await client.get("/healthz")
                    finished.append("healthz")
                    return response.status_code

                importing = asyncio.create_task(post("import", IMPORT_ROWS, {"csv": people(3000)}))
                # when: while it is held mid-import, a lookup and a health check
                for _ in range(600):
                    if holding.is_set() or importing.done():
                        break
                    await asyncio.sleep(0.05)
                try:
                    lookup, health = await asyncio.gather(
                        post("lookup", LOOKUP, {"value": "known@example.com"}), healthz()
                    )
                finally:
                    release.set()
                imported = await importing
                assert lookup["data"]["contactByIdentifier"] == {"firstName": "Known"}
                assert health == 200
                assert imported["data"]["importContacts"]["importJob"]["created"] == 3000

        event.listen(engine, "before_cursor_execute", hold)
        try:
            # when
            asyncio.run(scenario())
        finally:
            event.remove(engine, "before_cursor_execute", hold)
        # then: both were answered while the import was still running
        assert finished.index("lookup") < finished.index("import")
        assert finished.index("healthz") < finished.index("import")


class TestBackgroundImportWithoutRedis:
    def test_a_large_upload_comes_back_at_once_and_the_app_imports_it(
        self, engine, org, editor_key
    ):
        # given: no Redis, and every upload counts as large
        app = create_app(
            engine=engine, settings=Settings(env="development", import_background_bytes=0)
        )
        headers = {"Authorization": f"Bearer {editor_key}"}
        text = people(50)

        async def scenario() -> tuple[dict, dict]:
            transport = httpx.ASGITransport(app=app)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://crm") as client,
            ):

                async def post(query: str, variables: dict) -> dict:
                    response = await client.post(
                        "/graphql", json={"query": query, "variables": variables}, headers=headers
                    )
                    return response.json()

                # when
                submitted = (await post(IMPORT, {"csv": text}))["data"]["importContacts"]
                job = submitted["importJob"]
                done = job
                for _ in range(600):
                    done = (await post(JOB, {"id": job["id"]}))["data"]["importJob"]
                    if done["status"] in ("SUCCEEDED", "FAILED"):
                        break
                    await asyncio.sleep(0.05)
                return submitted, done

        submitted, done = asyncio.run(scenario())
        # then: the mutation answered with the job queued, which the app then imported
        job = submitted["importJob"]
        assert submitted["errors"] == []
        assert job["status"] in ("PENDING", "RUNNING")
        assert job["totalBytes"] == len(text.encode())
        assert 0 <= job["progress"] < 1
        assert done == {
            "status": "SUCCEEDED",
            "rows": 50,
            "created": 50,
            "rejected": 0,
            "progress": 1.0,
        }


UPDATE = """
mutation($id: ID!) { updateContact(input: {id: $id, lastName: "Waited"}) { errors { code } } }
"""


class TestMutationsOffTheLoop:
    def test_a_mutation_waiting_for_the_database_holds_up_no_other_request(
        self, engine, org, editor_key, import_contact
    ):
        # given: a contact whose row another transaction holds (SQLite: the write lock)
        contact = import_contact(first_name="Held", email="held@example.com")
        app = create_app(engine=engine, settings=Settings(env="development"))
        headers = {"Authorization": f"Bearer {editor_key}"}
        finished: list[str] = []
        holder = engine.connect()
        holder.begin()  # SQLite: BEGIN IMMEDIATE, the write lock
        holder.execute(select(Contact.id).where(Contact.id == contact.id).with_for_update())
        released = threading.Lock()

        def release() -> None:
            if released.acquire(blocking=False):
                holder.rollback()

        # should the update hold up the event loop, the scenario below could never end the
        # other transaction: it then ends anyway, and the test fails on the order
        deadline = threading.Timer(15, release)
        deadline.start()

        async def scenario() -> dict:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://crm") as client:

                async def update() -> dict:
                    response = await client.post(
                        "/graphql",
                        json={"query": UPDATE, "variables": {"id": str(contact.id)}},
                        headers=headers,
                    )
                    finished.append("update")
                    return response.json()

                updating = asyncio.create_task(update())
                await asyncio.sleep(0.2)  # the update is waiting for the row
                # when: a health check and a lookup meanwhile
                health = await client.get("/healthz")
                finished.append("healthz")
                lookup = await client.post(
                    "/graphql",
                    json={"query": LOOKUP, "variables": {"value": "held@example.com"}},
                    headers=headers,
                )
                finished.append("lookup")
                assert health.status_code == 200
                assert lookup.json()["data"]["contactByIdentifier"] == {"firstName": "Held"}
                # ...and then the other transaction ends
                await asyncio.to_thread(release)
                return await updating

        try:
            updated = asyncio.run(scenario())
        finally:
            deadline.cancel()
            release()
            holder.close()
        # then: both were answered while the update waited, which then went through
        assert finished == ["healthz", "lookup", "update"]
        assert updated["data"]["updateContact"]["errors"] == []
