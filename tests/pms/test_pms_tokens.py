"""OAuth access tokens kept encrypted on the connection: every run and process reuses the
token until it is due for refresh, refreshed before it expires and once after a 401; the
token never shows in the API, the logs or an error (fake Halaxy and fake Gentu on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from crm.models import PmsConnection, utcnow
from crm.pms import secrets
from crm.pms.connections import create_connection
from crm.pms.fake_fhir import FakeFhir
from crm.pms.sync import sync_connection
from tests.conftest import make_key
from tests.pms.conftest import gql

ROOT = Path(__file__).resolve().parents[2]
CONNECTION = """
query ($id: ID!) {
  pmsConnection(id: $id) {
    id type displayName baseUrl syncEnabled syncFrequencyMinutes lastSyncAt failureCount
    nextAttemptAt createdAt lastSync { status error }
  }
  pmsSyncRuns(connectionId: $id, first: 10) { edges { node { status error } } }
}
"""


@pytest.fixture(params=["halaxy", "gentu"])
def pms(request) -> Iterator[FakeFhir]:
    with FakeFhir(request.param) as server:
        server.add_patient(given=["Ada"], family="Token")
        yield server


@pytest.fixture
def connect(session, org, pms, settings) -> Callable[[], PmsConnection]:
    def make() -> PmsConnection:
        connection = create_connection(
            session,
            organization=org,
            type=pms.flavor,
            credentials=pms.credentials,
            base_url=pms.base_url,
            settings=settings,
        )
        session.commit()
        return connection

    return make


def stored(engine, connection) -> tuple[str | None, Any]:
    """The connection's stored token (decrypted) and its expiry."""
    with Session(engine) as session:
        row = session.get(PmsConnection, connection.id)
        if row.access_token_encrypted is None:
            return None, row.token_expires_at
        return secrets.decrypt(row.access_token_encrypted)["accessToken"], row.token_expires_at


def wait_stored(engine, connection, condition: Callable[[str | None], bool]) -> str | None:
    """The stored token once ``condition`` holds (the token is written by a thread of its own,
    never holding up the sync)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        token, _ = stored(engine, connection)
        if condition(token):
            return token
        time.sleep(0.05)
    raise AssertionError("the token was not stored")


def sync(session, engine, org, connection, settings):
    session.commit()
    session.close()
    return sync_connection(
        engine, organization_id=org.id, connection_id=connection.id, settings=settings
    )


def sync_in_another_process(engine, org, connection) -> dict[str, Any]:
    """``crm pms sync`` in a process of its own, as cron or a second machine runs it."""
    result = subprocess.run(
        [sys.executable, "-c", "from crm.cli import app; app()", "pms", "sync",
         "--org", str(org.id), "--connection", str(connection.id), "--json"],
        cwd=Path.cwd(),  # the test's key file, which encrypts the credentials and the token
        env={**os.environ, "PYTHONPATH": str(ROOT), "CRM_PMS_HTTP_TIMEOUT": "2",
             "CRM_DATABASE_URL": engine.url.render_as_string(hide_password=False)},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {"stdout": result.stdout, "stderr": result.stderr}


class TestReuse:
    def test_one_token_serves_every_run_in_every_process_until_it_is_due(
        self, engine, session, org, pms, connect, settings
    ):
        # given a connection: adding it checked the credentials with a token (Gentu: after
        # the pairing code became the tenant), kept encrypted on the connection
        connection = connect()
        assert pms.tokens_issued == 1
        token, expires = stored(engine, connection)
        assert token and expires > utcnow() + timedelta(minutes=10)
        with Session(engine) as check:
            row = check.get(PmsConnection, connection.id)
            assert token not in row.access_token_encrypted  # encrypted at rest
        # when it syncs here, then in another process
        assert sync(session, engine, org, connection, settings).status == "success"
        other = sync_in_another_process(engine, org, connection)
        # then no run asked for a new token
        assert json.loads(other["stdout"])["status"] == "success"
        assert pms.tokens_issued == 1 and pms.refused == 0
        # and the token showed in neither process's output
        assert token not in other["stdout"] + other["stderr"]

    def test_a_token_about_to_expire_is_refreshed_before_use(
        self, engine, session, org, pms, connect, settings
    ):
        connection = connect()
        first, _ = stored(engine, connection)
        # given the stored token expires in 30 s (within the minute's margin)
        with Session(engine) as change:
            row = change.get(PmsConnection, connection.id)
            row.token_expires_at = utcnow() + timedelta(seconds=30)
            change.add(row)
            change.commit()
        # when a run starts
        assert sync(session, engine, org, connection, settings).status == "success"
        # then it fetched one new token before using the old one (never refused), and kept it
        assert (pms.tokens_issued, pms.refused) == (2, 0)
        second = wait_stored(engine, connection, lambda token: token not in (None, first))
        _, expires = stored(engine, connection)
        assert expires > utcnow() + timedelta(minutes=10)
        # and the next run, in another process, reuses the new one
        sync_in_another_process(engine, org, connection)
        assert pms.tokens_issued == 2
        assert stored(engine, connection)[0] == second

    def test_a_refused_token_is_replaced_once_and_the_new_one_kept(
        self, engine, session, org, pms, connect, settings
    ):
        connection = connect()
        first, _ = stored(engine, connection)
        # given the PMS revoked the stored token before it expired
        pms.expire_tokens()
        # when a run uses it
        run = sync(session, engine, org, connection, settings)
        # then the 401 brought one new token and the run went on
        assert run.status == "success"
        assert (pms.tokens_issued, pms.refused) == (2, 1)
        second = wait_stored(engine, connection, lambda token: token not in (None, first))
        # and another process uses the new one, not the refused one
        sync_in_another_process(engine, org, connection)
        assert (pms.tokens_issued, pms.refused) == (2, 1)
        assert stored(engine, connection)[0] == second

    def test_a_token_refused_twice_fails_the_run_without_showing_it(
        self, engine, session, org, pms, connect, settings, capsys, caplog
    ):
        connection = connect()
        token, _ = stored(engine, connection)
        # given the PMS now refuses every token (the app was revoked in the PMS)
        pms.fail_next(10, status=401)
        # when a run tries
        run = sync(session, engine, org, connection, settings)
        # then it refreshed once, was refused again, and failed saying so, without the token
        assert run.status == "failed" and "PMS_AUTH_FAILED" in run.error
        assert pms.tokens_issued == 2
        assert token not in run.error
        out = capsys.readouterr()
        assert token not in out.out + out.err + caplog.text


def test_the_api_never_shows_the_token(engine, session, org, api, pms, connect, settings):
    connection = connect()
    sync(session, engine, org, connection, settings)
    token = wait_stored(engine, connection, lambda token: token is not None)
    key = make_key(session, org, "admin")
    session.close()
    body = gql(api, CONNECTION, key, id=str(connection.id))
    assert "errors" not in body, body
    text = json.dumps(body)
    assert token not in text
    with Session(engine) as check:  # nor its encrypted form
        assert check.get(PmsConnection, connection.id).access_token_encrypted not in text
