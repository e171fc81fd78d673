"""``crm pms add|list|test|sync|runs`` and ``crm secret rotate`` against the fake Cliniko."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from crm.cli import app
from crm.models import PmsConnection
from crm.pms import secrets
from crm.settings import SECRET_FILE, Settings, get_settings
from tests.pms.conftest import API_KEY


@pytest.fixture
def cli():
    runner = CliRunner()
    return lambda *args, **kw: runner.invoke(app, list(args), **kw)


def add(cli, fake, *extra: str):
    return cli(
        "pms",
        "add",
        "--org",
        "Bondi Physio",
        "--type",
        "cliniko",
        "--credentials",
        json.dumps({"apiKey": API_KEY}),
        "--base-url",
        fake.base_url,
        *extra,
    )


class TestAdd:
    def test_add_checks_and_stores_and_never_prints_the_key(self, session, org, fake, cli):
        result = add(cli, fake)
        assert result.exit_code == 0, result.output
        assert API_KEY not in result.output
        connection = session.get(PmsConnection, uuid.UUID(result.stdout.strip()))
        assert connection.type == "CLINIKO" and connection.sync_frequency_minutes == 15
        assert fake.requests  # the credentials were tried

    def test_refused_credentials_store_nothing(self, session, org, fake, cli):
        fake.api_key = "another-au2"
        result = add(cli, fake)
        assert result.exit_code == 1
        assert "PMS_AUTH_FAILED" in result.stderr and API_KEY not in result.output
        assert session.exec(select(PmsConnection)).all() == []

    def test_bad_json_is_bad_usage_without_echoing_it(self, org, cli):
        result = cli(
            "pms",
            "add",
            "--org",
            "Bondi Physio",
            "--type",
            "cliniko",
            "--credentials",
            "{secret-ish",
        )
        assert result.exit_code == 2
        assert "secret-ish" not in result.output

    def test_list_shows_no_credentials(self, org, fake, cli):
        add(cli, fake)
        result = cli("pms", "list", "--org", "Bondi Physio", "--json")
        assert result.exit_code == 0
        [row] = json.loads(result.stdout)
        assert row["type"] == "CLINIKO" and API_KEY not in result.stdout


class TestSync:
    def test_sync_waits_and_prints_the_summary(self, org, fake, cli):
        fake.add_patient(first_name="Ada", last_name="Lovelace")
        connection_id = add(cli, fake).stdout.strip()
        result = cli(
            "pms", "sync", "--org", "Bondi Physio", "--connection", connection_id, "--json"
        )
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert (summary["status"], summary["patients_created"]) == ("success", 1)
        runs = json.loads(cli("pms", "runs", "--json").stdout)
        assert [r["run_id"] for r in runs] == [summary["run_id"]]

    def test_a_failed_run_exits_1(self, org, fake, cli):
        add(cli, fake)
        fake.api_key = "revoked-au2"
        result = cli("pms", "sync", "--org", "Bondi Physio")
        assert result.exit_code == 1
        assert "failed" in result.stdout

    def test_all_syncs_only_due_connections(self, org, fake, cli):
        add(cli, fake)
        first = json.loads(cli("pms", "sync", "--all", "--json").stdout)
        second = json.loads(cli("pms", "sync", "--all", "--json").stdout)
        assert len(first) == 1 and second == []


class TestSecretRotate:
    def test_rotate_keeps_every_connection_readable(self, session, org, fake, cli):
        connection_id = add(cli, fake).stdout.strip()
        old = SECRET_FILE.read_text().strip()
        result = cli("secret", "rotate")
        assert result.exit_code == 0, result.output
        new = SECRET_FILE.read_text().strip()
        assert new != old and new not in result.output
        session.expire_all()
        token = session.get(PmsConnection, uuid.UUID(connection_id))
        assert secrets.decrypt(token.credentials_encrypted, settings=Settings(secret_key=new)) == {
            "apiKey": API_KEY
        }
        session.close()  # SQLite: one writer at a time
        get_settings.cache_clear()
        tested = cli("pms", "test", "--org", "Bondi Physio", "--connection", connection_id)
        assert tested.exit_code == 0, tested.output
