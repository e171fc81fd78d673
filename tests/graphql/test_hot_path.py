"""The lookup's hot path: on PostgreSQL, auth and contactByIdentifier run on the app's
asynchronous pool (opened by the app's lifespan); elsewhere, on one synchronous connection."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from crm.db_async import make_async_pool
from graphql_schema.app import create_app
from graphql_schema.http import CRMGraphQL
from tests.graphql.conftest import Api

LOOKUP = """
query($v: String!) { contactByIdentifier(channel: PHONE, value: $v) { id phone firstName } }
"""


@pytest.fixture
def ann(import_contact):
    return import_contact(first_name="Ann", phone="0412 345 678")


def graphql_view(client: TestClient) -> CRMGraphQL:
    [view] = [r.app for r in client.app.routes if getattr(r, "path", None) == "/graphql"]
    return view


def test_the_pool_exists_only_for_postgresql(engine):
    pool = make_async_pool(engine)
    assert (pool is not None) == (engine.dialect.name == "postgresql")


def test_the_lookup_runs_on_the_pool_while_the_app_runs(engine, settings, reader_key, ann):
    with TestClient(create_app(engine=engine, settings=settings)) as client:
        pool = graphql_view(client).async_pool
        before = pool.get_stats().get("requests_num", 0) if pool else 0

        # when
        data = Api(client).data(LOOKUP, key=reader_key, variables={"v": "+61 412 345 678"})

        # then
        assert data["contactByIdentifier"] == {
            "id": str(ann.id),
            "phone": "+61412345678",
            "firstName": "Ann",
        }
        if pool is not None:
            assert pool.get_stats()["requests_num"] == before + 1
    if pool is not None:
        assert pool.closed  # the lifespan closed it with the app


def test_without_the_lifespan_the_app_still_serves(engine, settings, reader_key, ann):
    # a client that never starts the app: the pool stays closed, the synchronous path serves
    client = TestClient(create_app(engine=engine, settings=settings))

    # when
    response = client.post(
        "/graphql",
        json={"query": LOOKUP, "variables": {"v": "0412345678"}},
        headers={"Authorization": f"Bearer {reader_key}"},
    )

    # then
    assert response.json()["data"]["contactByIdentifier"]["id"] == str(ann.id)


def test_requests_recover_after_the_database_drops_the_pools_connections(
    engine, settings, reader_key, ann
):
    if engine.dialect.name != "postgresql":
        pytest.skip("a server-side disconnect needs PostgreSQL")
    with TestClient(create_app(engine=engine, settings=settings)) as client:
        api = Api(client)
        pool = graphql_view(client).async_pool
        api.data(LOOKUP, key=reader_key, variables={"v": "0412345678"})
        admin = create_engine(engine.url)
        with admin.connect() as other:
            dropped = other.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'crm-api' AND datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).scalar()
        admin.dispose()
        assert dropped >= 1

        # when: each dead connection fails one request at most, then leaves the pool
        answers = []
        for _ in range(pool.max_size + 1):
            try:
                answers.append(api.post(LOOKUP, key=reader_key, variables={"v": "0412345678"}))
            except Exception:  # the server's error, raised by the test client
                answers.append(None)
            if answers[-1] is not None and answers[-1].status_code == 200:
                break

        # then
        last = answers[-1]
        assert last is not None and last.json()["data"]["contactByIdentifier"]["id"] == str(ann.id)
        assert len(answers) <= dropped + 1


def test_a_client_that_disconnects_before_its_body_gets_no_error(engine, settings, reader_key):
    app = create_app(engine=engine, settings=settings)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {reader_key}".encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }

    # when
    asyncio.run(app(scope, receive, send))

    # then: nothing to answer, and no error raised out of the app
    assert sent == []
