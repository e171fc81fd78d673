"""``crm org list``, ``crm key list|revoke``, organization names in any case, and commands
that find no database."""

from __future__ import annotations

import json
import uuid

import pytest
import uvicorn

from crm.models import Organization
from crm.tenancy.service import authenticate


def principal(session, key: str):
    """The key's principal, or None; the session's transaction ends (SQLite: its lock)."""
    found = authenticate(session, key=key)
    session.commit()
    return found


def create_key(cli, org: str, *args: str) -> str:
    result = cli("key", "create", "--org", org, *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


class TestOrgList:
    def test_lists_each_organization_with_its_id(self, engine, org, other_org, cli):
        # given
        create_key(cli, "Bondi Physio", "--role", "admin")

        # when
        result = cli("org", "list", "--json")

        # then
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert [(r["id"], r["name"], r["region"], r["active_keys"]) for r in rows] == [
            (str(org.id), "Bondi Physio", "AU", 1),
            (str(other_org.id), "Other Clinic", "NZ", 0),
        ]

    def test_a_table_for_people(self, engine, org, cli):
        # when
        result = cli("org", "list")

        # then
        assert result.exit_code == 0, result.output
        assert str(org.id) in result.stdout
        assert "Bondi Physio" in result.stdout


class TestOrganizationNames:
    def test_any_case_finds_the_organization(self, engine, session, org, cli):
        # when
        key = create_key(cli, "  bondi   PHYSIO ", "--role", "reader")

        # then
        assert principal(session, key).organization_id == org.id

    def test_a_name_taken_in_another_case_is_refused(self, engine, org, cli):
        # when
        result = cli("org", "create", "BONDI physio")

        # then
        assert result.exit_code == 2
        assert "NAME_TAKEN" in result.stderr
        assert str(org.id) in result.stderr

    def test_names_that_differ_only_in_case_are_ambiguous(self, engine, session, org, cli):
        # given an organization made before names were compared without case
        twin = Organization(name="BONDI PHYSIO", default_region="AU")
        session.add(twin)
        session.commit()

        # when
        result = cli("key", "list", "--org", "bondi physio")

        # then
        assert result.exit_code == 2
        assert str(org.id) in result.stderr
        assert str(twin.id) in result.stderr

    def test_an_exact_name_still_picks_one_of_them(self, engine, session, org, cli):
        # given
        session.add(Organization(name="BONDI PHYSIO", default_region="AU"))
        session.commit()

        # when
        key = create_key(cli, "Bondi Physio", "--role", "reader")

        # then
        assert principal(session, key).organization_id == org.id


class TestKeyList:
    def test_shows_each_key_without_its_secret(self, engine, org, cli):
        # given
        admin = create_key(cli, "Bondi Physio", "--role", "admin", "--name", "ops")
        writer = create_key(cli, "Bondi Physio", "--role", "editor", "--source", "cliniko")

        # when
        result = cli("key", "list", "--org", "Bondi Physio", "--json")

        # then
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert [(r["prefix"], r["role"], r["sources"], r["name"]) for r in rows] == [
            (admin[:12], "admin", ["api"], "ops"),
            (writer[:12], "editor", ["cliniko"], None),
        ]
        assert {"id", "created_at", "last_used_at", "revoked_at"} <= set(rows[0])
        assert admin not in result.output
        assert writer not in result.output

    def test_the_table_shows_no_secret_either(self, engine, org, cli):
        # given
        key = create_key(cli, "Bondi Physio", "--role", "admin")

        # when
        result = cli("key", "list", "--org", str(org.id))

        # then
        assert result.exit_code == 0, result.output
        assert key[:12] in result.stdout
        assert key not in result.output


class TestKeyRevoke:
    def test_by_id_the_key_stops_working(self, engine, session, org, cli):
        # given
        key = create_key(cli, "Bondi Physio", "--role", "admin")
        [row] = [
            json.loads(x)
            for x in cli("key", "list", "--org", str(org.id), "--json").stdout.splitlines()
        ]

        # when
        result = cli("key", "revoke", row["id"])

        # then
        assert result.exit_code == 0, result.output
        assert principal(session, key) is None
        listed = json.loads(cli("key", "list", "--org", str(org.id), "--json").stdout)
        assert listed["revoked_at"] is not None
        assert json_lines(cli("key", "list", "--org", str(org.id), "--active", "--json")) == []

    def test_by_prefix(self, engine, session, org, cli):
        # given
        key = create_key(cli, "Bondi Physio", "--role", "reader")
        kept = create_key(cli, "Bondi Physio", "--role", "reader")

        # when
        result = cli("key", "revoke", key[:12], "--org", "bondi physio")

        # then
        assert result.exit_code == 0, result.output
        assert principal(session, key) is None
        assert principal(session, kept) is not None

    def test_a_key_of_another_organization_is_not_found(self, engine, session, org, other_org, cli):
        # given
        key = create_key(cli, "Other Clinic", "--role", "admin")

        # when
        result = cli("key", "revoke", key[:12], "--org", "Bondi Physio")

        # then
        assert result.exit_code == 2
        assert "NOT_FOUND" in result.stderr
        assert principal(session, key) is not None

    def test_an_unknown_key_is_bad_usage(self, engine, cli):
        # when
        result = cli("key", "revoke", str(uuid.uuid4()))

        # then
        assert result.exit_code == 2
        assert "NOT_FOUND" in result.stderr


def json_lines(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


class TestMissingDatabase:
    """Run from another directory, against a SQLite file that is not there."""

    @pytest.mark.parametrize(
        "args",
        [
            ["key", "list", "--org", "Bondi Physio"],
            ["org", "list"],
            ["org", "create", "Bondi Physio"],
            ["export", "--org", "Bondi Physio"],
            ["serve"],
        ],
    )
    def test_says_which_database_and_creates_nothing(
        self, tmp_path, monkeypatch, database_url, cli, args
    ):
        # given
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        database_url("sqlite:///./crm.db")
        served = []
        monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(a))

        # when
        result = cli(*args)

        # then
        assert result.exit_code == 2
        message = " ".join(result.stderr.split())
        assert str(elsewhere / "crm.db") in message
        assert "crm db upgrade" in message
        assert list(elsewhere.iterdir()) == []
        assert served == []

    def test_db_upgrade_and_demo_create_it(self, tmp_path, monkeypatch, database_url, cli):
        # given
        monkeypatch.chdir(tmp_path)
        database_url("sqlite:///./made.db")

        # when
        result = cli("demo")

        # then
        assert result.exit_code == 0, result.output
        assert (tmp_path / "made.db").exists()
        assert cli("org", "list").exit_code == 0


class TestServeBanner:
    @pytest.mark.parametrize(
        ("args", "url"),
        [
            ([], "http://127.0.0.1:8000/graphql"),
            (["--port", "9001"], "http://127.0.0.1:9001/graphql"),
            (["--host", "0.0.0.0", "--port", "8123"], "http://127.0.0.1:8123/graphql"),
            (["--host", "::", "--port", "8124"], "http://[::1]:8124/graphql"),
        ],
    )
    def test_prints_the_url_it_serves(self, engine, monkeypatch, cli, args, url):
        # given
        monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)

        # when
        result = cli("serve", *args)

        # then
        assert result.exit_code == 0, result.output
        assert url in result.stderr
        if "--host" in args:
            assert "every interface" in result.stderr
