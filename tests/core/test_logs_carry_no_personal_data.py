"""Logs carry no personal data, at any level and in either format.

Known people are imported and queried through the real ``crm`` command and the real HTTP server
(each a process of its own, logging at DEBUG), including requests that fail (bad input,
validation errors that quote the value, a syntax error) and an unexpected exception whose
message and local variables hold a person's details. Every line either writes to stderr is
then searched for the people's names, emails and phone numbers.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from crm.contacts import queries
from crm.logging import make_formatter
from crm.settings import Settings
from graphql_schema.app import create_app
from tests.conftest import make_key

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ["console", "json"]

# (first name, last name, email, phone as typed, phone in E.164)
PEOPLE = [
    ("Zebediah", "Quaglioni", "zebediah.quaglioni@example.com", "0412 990 001", "+61412990001"),
    ("Philippa", "Wrenfold", "p.wrenfold@example.org", "0413 880 002", "+61413880002"),
    ("Oswaldo", "Thistlewood", "oswaldo.t@example.net", "(02) 9876 5403", "+61298765403"),
]


def needles() -> list[str]:
    found: list[str] = []
    for first, last, email, typed, e164 in PEOPLE:
        found += [first, last, email, typed, e164, e164[3:], "".join(typed.split())]
    # what a rejected row and a failing lookup carry
    found += ["Quaglioni@@example", "99 ZEBEDIAH"]
    return [n.lower() for n in found]


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    return [needle for needle in needles() if needle in lowered]


def people_csv() -> str:
    lines = ["external_id,first_name,last_name,email,phone"]
    for index, (first, last, email, typed, _) in enumerate(PEOPLE):
        lines.append(f'p{index},{first},{last},{email},"{typed}"')
    # rejected: no usable identifier or name once the bad values are dropped
    lines.append('p9,,,Quaglioni@@example,"99 ZEBEDIAH"')
    return "\n".join(lines) + "\n"


def child_env(engine, *, log_format: str) -> dict[str, str]:
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "CRM_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "CRM_LOG_LEVEL": "DEBUG",
        "CRM_LOG_FORMAT": log_format,
        "CRM_ENV": "development",
        "PYTHONPATH": pythonpath,
    }


def crm_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from crm.cli import app; app()", *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"crm serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"crm serve did not answer {url}:\n{log.read_text()}")


@pytest.mark.parametrize("log_format", FORMATS)
class TestCommandLine:
    def test_importing_and_exporting_people_logs_none_of_them(
        self, engine, org, tmp_path, log_format
    ):
        # given
        env = child_env(engine, log_format=log_format)
        csv_file = tmp_path / "people.csv"
        csv_file.write_text(people_csv())
        commands = [
            ["import", str(csv_file), "--org", "bondi physio", "--rejects", "rejects.csv"],
            ["import", str(csv_file), "--org", "Bondi Physio", "--dry-run", "--json"],
            ["export", "--org", "Bondi Physio", "export.csv"],
            ["import", str(csv_file), "--org", "Bondi Physio", "--map", "nope=first_name"],
        ]

        # when
        outputs = [
            subprocess.run(
                crm_command(*args),
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            for args in commands
        ]

        # then the work was done, with the people in the files and not in the logs
        assert [out.returncode for out in outputs[:3]] == [0, 0, 0], [o.stderr for o in outputs]
        assert "Zebediah" in (tmp_path / "export.csv").read_text()
        assert "Quaglioni@@example" in (tmp_path / "rejects.csv").read_text()
        logged = "".join(out.stderr for out in outputs)
        assert "crm.import" in logged  # DEBUG and INFO events were written
        assert leaks(logged) == []


IMPORT = """
mutation($csv: String!) {
  importContacts(input: {csv: $csv}) { importJob { rows created rejected } errors { code } }
}
"""
RESOLVE = """
mutation($input: ResolveContactInput!) {
  resolveContact(input: $input) { created contact { id firstName } errors { code } }
}
"""
CREATE = """
mutation($input: CreateContactInput!) {
  createContact(input: $input) { contact { id } errors { code field } }
}
"""
LOOKUP = """
query Lookup($value: String!) {
  contactByIdentifier(channel: PHONE, value: $value) { id firstName lastName email phone }
}
"""


def requests_about_people() -> list[dict[str, object]]:
    """Bodies that succeed, and that fail in every way a client's request can."""
    first, last, email, typed, e164 = PEOPLE[0]
    other = PEOPLE[1]
    return [
        {"query": IMPORT, "variables": {"csv": people_csv()}},
        {
            "query": RESOLVE,
            "variables": {
                "input": {"channel": "WHATSAPP", "value": other[3], "firstName": other[0]}
            },
        },
        {"query": LOOKUP, "variables": {"value": typed}},
        # bad input: a coded error
        {"query": LOOKUP, "variables": {"value": f"0412 99 {first.upper()} {last.upper()}"}},
        {"query": f'{{ contactByIdentifier(channel: PHONE, value: "99 {first}") {{ id }} }}'},
        # validation errors that quote the value
        {"query": f"{{ contactByIdentifier(channel: PHONE, value: {e164[1:]}) {{ id }} }}"},
        {"query": CREATE, "variables": {"input": {"firstName": first, "lastName": last, "x": 1}}},
        # a UserError in the payload
        {
            "query": CREATE,
            "variables": {"input": {"firstName": first, "email": "Quaglioni@@example"}},
        },
        # a syntax error, whose message quotes the document
        {"query": f'{{ contactByIdentifier(channel: EMAIL, value: "{email}") {{ id '},
    ]


@pytest.fixture
def live_server(request, engine, org, session, tmp_path) -> Iterator[tuple[str, str, Path]]:
    key = make_key(session, org, "admin")
    port = free_port()
    log = tmp_path / "serve.log"
    env = child_env(engine, log_format=request.param)
    with log.open("wb") as output:
        server = subprocess.Popen(
            crm_command("serve", "--port", str(port)),
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/healthz", server, log)
            yield f"http://127.0.0.1:{port}/graphql", key, log
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.mark.parametrize("live_server", FORMATS, indirect=True)
class TestServer:
    def test_queries_about_people_good_and_bad_log_none_of_them(self, live_server):
        # given
        url, key, log = live_server
        headers = {"Authorization": f"Bearer {key}"}

        # when
        with httpx.Client(headers=headers, timeout=60) as client:
            answers = [client.post(url, json=body) for body in requests_about_people()]
            # a GET carries its variables in the query string (the access log drops it)
            answers.append(
                client.get(
                    url, params={"query": LOOKUP, "variables": json.dumps({"value": PEOPLE[2][3]})}
                )
            )

        # then the requests reached GraphQL, some failing as intended
        assert all(a.status_code in (200, 400) for a in answers), [a.text for a in answers]
        bodies = [a.json() for a in answers]
        assert bodies[0]["data"]["importContacts"]["importJob"]["created"] == 3
        assert bodies[2]["data"]["contactByIdentifier"]["firstName"] == "Zebediah"
        assert sum(1 for body in bodies if body.get("errors")) >= 5
        # and nothing the server wrote names them
        logged = log.read_text()
        assert leaks(logged) == []
        assert "crm.graphql.request_error" in logged  # the failures were logged, at DEBUG


class Boom(RuntimeError):
    pass


@pytest.fixture(params=FORMATS)
def captured_logs(request) -> Iterator[io.StringIO]:
    """Every record of this process at DEBUG, through the service's formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(json=request.param == "json"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


class TestUnexpectedError:
    def test_a_bug_is_logged_with_its_stack_but_no_message_or_locals(
        self, engine, org, session, monkeypatch, captured_logs
    ):
        # given a lookup that fails with the person's details in its message and its locals
        key = make_key(session, org, "reader")
        first, last, email, _, e164 = PEOPLE[0]

        def broken_get_contact(session, **kwargs):
            person = f"{first} {last} <{email}> {e164}"  # a local variable
            raise Boom(f"could not read {person}")

        monkeypatch.setattr(queries, "get_contact", broken_get_contact)
        app = create_app(engine=engine, settings=Settings(env="development"))

        # when
        with TestClient(app) as client:
            response = client.post(
                "/graphql",
                json={
                    "query": "query($id: ID!) { contact(id: $id) { id firstName } }",
                    "variables": {"id": str(org.id)},
                },
                headers={"Authorization": f"Bearer {key}"},
            )

        # then the client hears of it and the log names the bug, not the person
        assert response.json()["errors"][0]["path"] == ["contact"]
        logged = captured_logs.getvalue()
        assert leaks(logged) == []
        assert "crm.graphql.unexpected_error" in logged
        assert "Boom" in logged
        assert "broken_get_contact" in logged  # the stack is there, frame by frame
