"""A sick database is a fast, clear answer: /healthz says why, GraphQL a coded error, and the
worker keeps serving meanwhile.

The API runs in a real uvicorn server (a thread of the test) and is asked over HTTP with the
client's own timeout: an answer that does not come before it fails the test.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from crm.db import make_engine
from crm.settings import Settings
from graphql_schema.app import create_app

QUERY = {"query": "{ contacts(first: 1) { totalCount } }"}
# every answer must come well before this many seconds
CLIENT_TIMEOUT = 10.0


class HungServer:
    """A TCP server that accepts connections and never answers (a hung database)."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.socket.close()
        for connection in self.accepted:
            connection.close()


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again: nothing listens there


@pytest.fixture
def hung_server() -> Iterator[HungServer]:
    server = HungServer()
    yield server
    server.close()


def _postgres_engine(port: int) -> Engine:
    return make_engine(f"postgresql://postgres@127.0.0.1:{port}/crm?connect_timeout=2")


SICK_SETTINGS = Settings(env="production", db_pool_timeout=2.0, health_timeout=1.0)


@pytest.fixture
def serve() -> Iterator:
    """``serve(engine)``: the app on ``engine`` in a live uvicorn server; its base URL."""
    started: list[tuple[uvicorn.Server, threading.Thread, Engine]] = []

    def start(engine: Engine) -> str:
        app = create_app(engine=engine, settings=SICK_SETTINGS)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + CLIENT_TIMEOUT
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        started.append((server, thread, engine))
        port = server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread, engine in started:
        server.should_exit = True
        thread.join(CLIENT_TIMEOUT)
        engine.dispose()


def _graphql(base: str) -> httpx.Response:
    return httpx.post(
        f"{base}/graphql",
        json=QUERY,
        headers={"Authorization": "Bearer some-key"},
        timeout=CLIENT_TIMEOUT,
    )


def _database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert "database is unavailable" in error["message"]


@pytest.mark.slow
class TestRefusedDatabase:
    def test_healthz_says_it_is_unreachable(self, serve):
        # given
        base = serve(_postgres_engine(_refused_port()))

        # when
        response = httpx.get(f"{base}/healthz", timeout=CLIENT_TIMEOUT)

        # then
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "database": "unreachable"}

    def test_graphql_answers_a_coded_error(self, serve):
        # given
        base = serve(_postgres_engine(_refused_port()))

        # when
        response = _graphql(base)

        # then
        _database_unavailable(response)


@pytest.mark.slow
class TestHungDatabase:
    def test_healthz_answers_timeout(self, serve, hung_server):
        # given
        base = serve(_postgres_engine(hung_server.port))

        # when
        response = httpx.get(f"{base}/healthz", timeout=CLIENT_TIMEOUT)

        # then
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "database": "timeout"}

    def test_graphql_answers_a_coded_error(self, serve, hung_server):
        # given
        base = serve(_postgres_engine(hung_server.port))

        # when
        response = _graphql(base)

        # then
        _database_unavailable(response)

    def test_the_worker_serves_other_requests_while_one_waits(self, serve, hung_server):
        # given: a GraphQL request waiting for the hung database
        base = serve(_postgres_engine(hung_server.port))
        answers: list[httpx.Response] = []
        waiting = threading.Thread(target=lambda: answers.append(_graphql(base)))
        waiting.start()
        while not hung_server.accepted:
            time.sleep(0.01)

        # when: more requests arrive meanwhile
        probes = [httpx.get(f"{base}/healthz", timeout=CLIENT_TIMEOUT) for _ in range(3)]
        waiting.join(CLIENT_TIMEOUT)

        # then: every one is answered, the waiting one with its coded error
        assert [p.json()["database"] for p in probes] == ["timeout"] * 3
        _database_unavailable(answers[0])


class TestUnusableSqlite:
    def test_an_unmigrated_file_is_not_healthy(self, tmp_path):
        # given: a database file no migration has run on
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")

        # when
        with TestClient(create_app(engine=engine, settings=SICK_SETTINGS)) as client:
            response = client.get("/healthz")
        engine.dispose()

        # then
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "database": "not migrated"}

    def test_a_file_that_cannot_be_opened(self, tmp_path):
        # given
        engine = make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")

        # when
        with TestClient(create_app(engine=engine, settings=SICK_SETTINGS)) as client:
            health = client.get("/healthz")
            response = client.post(
                "/graphql", json=QUERY, headers={"Authorization": "Bearer some-key"}
            )
        engine.dispose()

        # then
        assert health.json() == {"status": "unavailable", "database": "unreachable"}
        _database_unavailable(response)

    def test_a_migrated_database_is_healthy(self, engine):
        # when
        with TestClient(create_app(engine=engine, settings=SICK_SETTINGS)) as client:
            response = client.get("/healthz")

        # then
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "up"}
