"""The README's GraphQL examples run as written against a fresh service."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from crm.settings import Settings
from graphql_schema.app import create_app
from tests.conftest import make_key

README = Path(__file__).resolve().parents[2] / "README.md"
CSV = "First Name,Surname,Mobile,E-mail\nAnn,Smith,0412 345 678,ann@example.com\nBob,,,nope\n"


def examples() -> list[str]:
    return re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.S)


class TestReadme:
    def test_every_graphql_example_runs_without_errors(self, engine, session, org):
        # given
        client = TestClient(create_app(engine=engine, settings=Settings()))
        headers = {"Authorization": f"Bearer {make_key(session, org, 'admin')}"}
        blocks = examples()
        assert len(blocks) >= 5
        state: dict = {}
        for block in blocks:
            variables: dict = {}
            if "$csv" in block:
                variables["csv"] = CSV
            if "$id" in block:
                variables.update(id=state["id"], version=state["version"])
            # when
            body = client.post(
                "/graphql", json={"query": block, "variables": variables}, headers=headers
            ).json()
            # then
            assert "errors" not in body, (block, body)
            data = body["data"]
            for payload in data.values():
                if isinstance(payload, dict) and "errors" in payload:
                    assert payload["errors"] == [], (block, payload)
            if "resolveContact" in data:
                contact = data["resolveContact"]["contact"]
                state["id"] = contact["id"]
                state["version"] = client.post(
                    "/graphql",
                    json={
                        "query": "query($id: ID!) { contact(id: $id) { version } }",
                        "variables": {"id": contact["id"]},
                    },
                    headers=headers,
                ).json()["data"]["contact"]["version"]
        assert state, "the resolveContact example did not run"
