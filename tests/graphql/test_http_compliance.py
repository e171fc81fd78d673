"""GraphQL over HTTP: media types, status codes and malformed requests, then graphql-http's audit.

The in-process tests pin the behaviours clients rely on; the slow tests run the npm package
graphql-http's ``auditServer`` (bench/graphql-http/audit.mjs) against a live uvicorn server.
HTTP handling does not depend on the database, so these run on SQLite only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from crm import db as crm_db
from crm.settings import Settings
from crm.tenancy.service import create_api_key, create_organization
from graphql_schema.app import create_app

ROOT = Path(__file__).resolve().parents[2]
AUDIT_DIR = ROOT / "bench" / "graphql-http"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
TYPENAME = {"query": "{ __typename }"}
CREATE_CONTACT = 'mutation { createContact(input: {firstName: "Ada"}) { contact { id } } }'
OWN_KEY = object()  # Http sends its own key unless given another one, or None for no key


@pytest.fixture
def http_engine(tmp_path, sqlite_template) -> Iterator[Engine]:
    """A fresh copy of the migrated SQLite template."""
    path = tmp_path / "http.db"
    shutil.copy(sqlite_template, path)
    engine = crm_db.make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def create_org(engine: Engine) -> uuid.UUID:
    with Session(engine) as session:
        org = create_organization(session, name="Bondi Physio", region="AU")
        session.commit()
        return org.id


def create_key(engine: Engine, *, organization_id: uuid.UUID, role: str = "admin") -> str:
    with Session(engine) as session:
        _, key = create_api_key(session, organization_id=organization_id, role=role)
        session.commit()
    return key


@dataclass
class Http:
    """A client of ``/graphql`` that authenticates unless told not to."""

    client: TestClient
    organization_id: uuid.UUID
    key: str

    def post(self, *, key: object = OWN_KEY, **kwargs: Any) -> Any:
        return self.client.post("/graphql", headers=self._headers(key, kwargs), **kwargs)

    def get(self, *, key: object = OWN_KEY, **kwargs: Any) -> Any:
        return self.client.get("/graphql", headers=self._headers(key, kwargs), **kwargs)

    def _headers(self, key: object, kwargs: dict[str, Any]) -> dict[str, str]:
        headers = dict(kwargs.pop("headers", None) or {})
        key = self.key if key is OWN_KEY else key
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return headers


@pytest.fixture
def http(http_engine) -> Http:
    app = create_app(engine=http_engine, settings=Settings(env="development"))
    org_id = create_org(http_engine)
    return Http(TestClient(app), org_id, create_key(http_engine, organization_id=org_id))


class TestMediaTypes:
    @pytest.mark.parametrize(
        ("accept", "media_type"),
        [
            (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
            (f"{GRAPHQL_RESPONSE_JSON}, {JSON}", GRAPHQL_RESPONSE_JSON),
            (f"{JSON}, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
            (f"{JSON}, {GRAPHQL_RESPONSE_JSON};q=0.5", JSON),
            (f"{GRAPHQL_RESPONSE_JSON};q=0, */*", JSON),
            (JSON, JSON),
            ("*/*", JSON),
            ("application/*", JSON),
            (None, JSON),
        ],
    )
    def test_the_response_media_type_follows_accept(self, http, accept, media_type):
        # given
        headers = {"Accept": accept} if accept else {}
        # when
        response = http.post(json=TYPENAME, headers=headers)
        # then
        assert response.status_code == 200
        assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
        assert response.json() == {"data": {"__typename": "Query"}}
        assert "Accept" in response.headers["vary"]

    @pytest.mark.parametrize("accept", ["text/plain", f"{JSON};q=0, text/html", "*/*;q=0"])
    def test_no_acceptable_media_type_is_406(self, http, accept):
        response = http.post(json=TYPENAME, headers={"Accept": accept})
        assert response.status_code == 406
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"

    def test_errors_before_execution_use_the_negotiated_media_type(self, http):
        response = http.post(content=b"{", headers={"Content-Type": JSON, "Accept": "*/*"})
        assert response.status_code == 400
        assert response.headers["content-type"] == f"{JSON}; charset=utf-8"
        response = http.post(content=b"{", headers={"Content-Type": JSON, "Accept": "text/*"})
        assert response.status_code == 406


class TestRequestErrors:
    """With graphql-response+json a request that never executes is a 400 without ``data``."""

    @pytest.mark.parametrize(
        "body",
        [
            {"query": "{"},
            {"query": "{ noSuchField }"},
            {"query": "query Q($id: ID!) { contact(id: $id) { id } }", "variables": {"id": None}},
        ],
        ids=["syntax", "validation", "variable-coercion"],
    )
    def test_graphql_response_json_answers_400_without_data(self, http, body):
        response = http.post(json=body, headers={"Accept": GRAPHQL_RESPONSE_JSON})
        assert response.status_code == 400
        assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
        payload = response.json()
        assert "data" not in payload
        assert payload["errors"][0]["message"]

    def test_application_json_keeps_200_with_null_data(self, http):
        response = http.post(json={"query": "{"}, headers={"Accept": JSON})
        assert response.status_code == 200
        payload = response.json()
        assert payload["data"] is None
        assert payload["errors"]

    def test_a_field_error_during_execution_is_200_with_data(self, http, http_engine):
        # given a reader, who may not create contacts
        reader = create_key(http_engine, organization_id=http.organization_id, role="reader")
        # when
        response = http.post(
            key=reader, json={"query": CREATE_CONTACT}, headers={"Accept": GRAPHQL_RESPONSE_JSON}
        )
        # then execution started: the response has its data entry
        assert response.status_code == 200
        payload = response.json()
        assert "data" in payload
        assert payload["errors"][0]["path"] == ["createContact"]


class TestMalformedRequests:
    @pytest.mark.parametrize(
        "content",
        [b"", b'{"query": ', b"null", b"42", b'"{ __typename }"'],
        ids=["empty", "truncated", "null", "number", "string"],
    )
    def test_a_body_that_is_not_a_json_object_is_400(self, http, content):
        response = http.post(content=content, headers={"Content-Type": JSON})
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"

    @pytest.mark.parametrize(
        "body",
        [
            {"notquery": "{ __typename }"},
            {"query": 1},
            {"query": ["{ __typename }"]},
            {**TYPENAME, "variables": "{}"},
            {**TYPENAME, "variables": []},
            {**TYPENAME, "extensions": "x"},
            {**TYPENAME, "operationName": 1},
            {**TYPENAME, "operationName": {"name": "Q"}},
        ],
    )
    def test_invalid_parameters_are_400(self, http, body):
        response = http.post(json=body, headers={"Accept": GRAPHQL_RESPONSE_JSON})
        assert response.status_code == 400
        assert "data" not in response.json()

    def test_null_optional_parameters_are_accepted(self, http):
        body = {**TYPENAME, "variables": None, "operationName": None, "extensions": None}
        response = http.post(json=body, headers={"Accept": GRAPHQL_RESPONSE_JSON})
        assert response.status_code == 200
        assert response.json() == {"data": {"__typename": "Query"}}

    @pytest.mark.parametrize(
        "content_type",
        ["text/plain", "application/x-www-form-urlencoded", f"{JSON}; charset=latin-1", None],
    )
    def test_other_media_types_are_415(self, http, content_type):
        headers = {"Content-Type": content_type} if content_type else {}
        response = http.post(content=json.dumps(TYPENAME).encode(), headers=headers)
        assert response.status_code == 415
        assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"

    def test_json_with_utf8_charset_is_accepted(self, http):
        content = json.dumps({"query": '{ __type(name: "Run🏃") { name } }'}).encode()
        response = http.post(content=content, headers={"Content-Type": f"{JSON}; charset=UTF-8"})
        assert response.status_code == 200

    def test_multipart_requests_still_reach_graphql(self, http):
        # file uploads arrive as multipart/form-data (GraphQL multipart request spec)
        files = {"operations": (None, json.dumps(TYPENAME)), "map": (None, "{}")}
        response = http.post(files=files)
        assert response.status_code == 200
        assert response.json() == {"data": {"__typename": "Query"}}


class TestGet:
    def test_a_query_with_variables_runs_over_get(self, http):
        params = {
            "query": "query T($name: String!) { __type(name: $name) { name } }",
            "variables": json.dumps({"name": "Contact"}),
        }
        response = http.get(params=params, headers={"Accept": GRAPHQL_RESPONSE_JSON})
        assert response.status_code == 200
        assert response.json() == {"data": {"__type": {"name": "Contact"}}}

    def test_a_mutation_over_get_is_405_and_does_not_run(self, http, http_engine):
        # when
        response = http.get(params={"query": CREATE_CONTACT})
        # then
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        created = http.post(json={"query": "{ contacts { totalCount } }"}).json()
        assert created == {"data": {"contacts": {"totalCount": 0}}}

    def test_get_without_a_query_is_400(self, http):
        response = http.get(headers={"Accept": "*/*"})
        assert response.status_code == 400


class TestAuthentication:
    @pytest.mark.parametrize("key", [None, "not-a-key"])
    def test_a_request_without_a_valid_key_is_401(self, http, key):
        response = http.post(key=key, json=TYPENAME, headers={"Accept": GRAPHQL_RESPONSE_JSON})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    def test_a_browser_gets_graphiql_without_a_key(self, http):
        response = http.get(key=None, headers={"Accept": "text/html,*/*;q=0.8"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "graphiql" in response.text.lower()

    def test_every_request_returns_its_connection(self, http, http_engine):
        # given requests that succeed, fail authentication and fail to parse
        http.post(json=TYPENAME)
        http.post(key=None, json=TYPENAME)
        http.post(content=b"{", headers={"Content-Type": JSON})
        # then no session kept its connection
        assert http_engine.pool.checkedout() == 0


# graphql-http's audit against a live server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    key: str
    log: Path


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("graphql-http audit skipped: node and npm must be on PATH")
    if not (AUDIT_DIR / "node_modules" / "graphql-http").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(AUDIT_DIR)],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return node


@pytest.fixture
def live_server(tmp_path, http_engine) -> Iterator[LiveServer]:
    key = create_key(http_engine, organization_id=create_org(http_engine))
    port = free_port()
    log = tmp_path / "uvicorn.log"
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        "CRM_DATABASE_URL": str(http_engine.url),
        "CRM_ENV": "development",  # production turns off the introspection the audit queries
        "PYTHONPATH": pythonpath,
    }
    command = [sys.executable, "-m", "uvicorn", "graphql_schema.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        server = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(f"http://127.0.0.1:{port}/healthz", server, log)
            yield LiveServer(url=f"http://127.0.0.1:{port}/graphql", key=key, log=log)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_up(url: str, server: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"uvicorn exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"uvicorn did not answer {url} within {timeout:.0f}s:\n{log.read_text()}")


def run_audit(node: str, server: LiveServer, *, key: str) -> tuple[int, dict[str, Any]]:
    audit = subprocess.run(
        [node, str(AUDIT_DIR / "audit.mjs"), server.url, "--json"],
        env={**os.environ, "CRM_API_KEY": key},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert audit.returncode in (0, 1), audit.stderr
    return audit.returncode, json.loads(audit.stdout)


@pytest.mark.slow
class TestGraphQLHttpAudit:
    def test_the_server_passes_every_audit(self, node, live_server):
        # when
        status, report = run_audit(node, live_server, key=live_server.key)
        # then: no MUST failure, no SHOULD warning, not even a MAY notice
        failed = [result for result in report["results"] if result["status"] != "ok"]
        assert failed == [], json.dumps(failed, indent=2)
        assert (report["errors"], report["warnings"], report["notices"]) == (0, 0, 0)
        assert report["ok"] == len(report["results"]) > 50
        assert status == 0

    def test_the_audit_fails_when_requests_are_rejected(self, node, live_server):
        # given a key the server does not know: every request is a 401
        # when
        status, report = run_audit(node, live_server, key="not-a-key")
        # then the script reports MUST failures and exits non-zero
        assert report["errors"] > 0
        assert status == 1
