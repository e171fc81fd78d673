"""``crm key create --source`` grants the names a key writes as; ``crm import --source`` is the
operator's, any name but ``manual``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from crm.models import ApiKey, Contact, ImportJob, SourceRecord
from crm.settings import Settings
from crm.tenancy.service import authenticate
from graphql_schema.app import create_app

RESOLVE_CONTACT = """
mutation ResolveContact($input: ResolveContactInput!) {
  resolveContact(input: $input) { contact { sources { system } } errors { code field } }
}
"""


@pytest.fixture
def graphql(engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine, settings=Settings(env="development"))) as client:
        yield client


def resolve_as(client: TestClient, key: str, source: str) -> dict:
    variables = {"input": {"channel": "CLINIKO", "value": "100", "source": source}}
    response = client.post(
        "/graphql",
        json={"query": RESOLVE_CONTACT, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]["resolveContact"]


def count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


class TestKeyCreateSources:
    def test_a_key_writes_as_api_unless_told_otherwise(self, engine, session, org, cli):
        # when
        result = cli("key", "create", "--org", str(org.id), "--role", "editor")

        # then
        assert result.exit_code == 0, result.output
        assert authenticate(session, key=result.stdout.strip()).sources == ("api",)

    def test_the_key_of_a_pms_connection_writes_as_that_pms(
        self, engine, session, org, cli, graphql
    ):
        # given
        ordinary = cli("key", "create", "--org", str(org.id), "--role", "editor")
        result = cli(
            "key", "create", "--org", str(org.id), "--role", "editor", "--source", "Cliniko"
        )
        assert result.exit_code == 0, result.output

        # when
        refused = resolve_as(graphql, ordinary.stdout.strip(), "cliniko")
        allowed = resolve_as(graphql, result.stdout.strip(), "cliniko")

        # then
        assert refused == {
            "contact": None,
            "errors": [{"code": "SOURCE_NOT_ALLOWED", "field": "source"}],
        }
        assert allowed == {"contact": {"sources": [{"system": "cliniko"}]}, "errors": []}
        assert "writing as cliniko" in result.stderr

    def test_a_key_may_write_as_several_sources(self, engine, session, org, cli):
        # when
        result = cli(
            "key", "create", "--org", str(org.id), "--role", "editor",
            "--source", "whatsapp", "--source", "sms", "--source", "whatsapp",
        )  # fmt: skip

        # then
        assert result.exit_code == 0, result.output
        assert authenticate(session, key=result.stdout.strip()).sources == ("whatsapp", "sms")

    @pytest.mark.parametrize(
        ("source", "code"), [("manual", "SOURCE_NOT_ALLOWED"), ("not a name!", "INVALID_INPUT")]
    )
    def test_manual_or_a_malformed_name_is_bad_usage(self, engine, session, org, cli, source, code):
        # when
        result = cli("key", "create", "--org", str(org.id), "--role", "admin", "--source", source)

        # then
        assert result.exit_code == 2
        assert result.stdout == ""
        assert code in result.stderr
        assert count(session, ApiKey) == 0


class TestImportSource:
    @pytest.fixture
    def clients(self, tmp_path):
        path = tmp_path / "clients.csv"
        path.write_text("first_name,last_name,phone\nKate,Pms,0412 345 678\n", encoding="utf-8")
        return path

    def test_an_import_cannot_claim_manual(self, engine, session, org, cli, clients):
        # when
        result = cli("import", str(clients), "--org", str(org.id), "--source", "Manual")

        # then
        assert result.exit_code == 2
        assert "SOURCE_NOT_ALLOWED" in result.stderr
        assert (count(session, Contact), count(session, ImportJob)) == (0, 0)

    def test_the_operator_may_import_a_pms_export_as_the_pms(
        self, engine, session, org, cli, clients
    ):
        # when
        result = cli("import", str(clients), "--org", str(org.id), "--source", "cliniko")

        # then
        assert result.exit_code == 0, result.output
        systems = session.execute(select(SourceRecord.source_system)).scalars().all()
        assert systems == ["cliniko"]

    def test_an_import_defaults_to_csv(self, engine, session, org, cli, clients):
        # when
        result = cli("import", str(clients), "--org", str(org.id))

        # then
        assert result.exit_code == 0, result.output
        systems = session.execute(select(SourceRecord.source_system)).scalars().all()
        assert systems == ["csv"]
