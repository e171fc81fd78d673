"""A database that is down, hung or misnamed, and an encoding that is not one: the CLI says so
in one line and exits, never with a traceback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from crm.tenancy.service import create_organization

NON_TEXT_ENCODINGS = ["rot13", "zip", "base64", "hex", "bz2", "punycode", "utf-8\x00"]


class HungServer:
    """Accepts TCP connections and never answers."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.socket.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.socket.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def hung_url(monkeypatch) -> Iterator[str]:
    server = HungServer()
    monkeypatch.setenv("CRM_DB_CONNECT_TIMEOUT", "2")
    yield f"postgresql://postgres@127.0.0.1:{server.port}/crm"
    server.close()


@pytest.fixture
def refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/crm"


@pytest.fixture
def csv_file(tmp_path) -> Path:
    path = tmp_path / "clients.csv"
    path.write_text("first_name,email\nAnn,ann@example.com\n")
    return path


def _one_line_error(result, status: int) -> str:
    assert result.exit_code == status, result.output
    assert isinstance(result.exception, SystemExit)  # not a traceback
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


class TestDbUpgrade:
    def test_a_hung_database_fails_with_a_timeout(self, hung_url, database_url, cli):
        # given
        database_url(hung_url)

        # when
        result = cli("db", "upgrade")

        # then
        assert "did not answer (timeout)" in _one_line_error(result, 1)


class TestImportOnASickDatabase:
    def test_a_refused_database(self, refused_url, database_url, cli, csv_file):
        # given
        database_url(refused_url)

        # when
        result = cli("import", str(csv_file), "--org", "Bondi Physio")

        # then
        assert "did not answer (unreachable)" in _one_line_error(result, 1)

    def test_a_hung_database(self, hung_url, database_url, cli, csv_file):
        # given
        database_url(hung_url)

        # when
        result = cli("import", str(csv_file), "--org", "Bondi Physio")

        # then
        assert "did not answer (timeout)" in _one_line_error(result, 1)

    def test_a_malformed_url_is_bad_usage(self, database_url, cli, csv_file):
        # given
        database_url("postgresql://postgres@127.0.0.1:port/crm")

        # when
        result = cli("import", str(csv_file), "--org", "Bondi Physio")

        # then
        assert "CRM_DATABASE_URL" in _one_line_error(result, 2)


class TestServe:
    def test_a_malformed_url_is_bad_usage_before_serving(self, monkeypatch, database_url, cli):
        # given
        calls = []
        monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(a))
        database_url("postgresql://postgres@127.0.0.1:port/crm")

        # when
        result = cli("serve")

        # then
        assert "CRM_DATABASE_URL" in _one_line_error(result, 2)
        assert calls == []

    def test_a_database_that_is_down_is_reported_and_served(
        self, monkeypatch, refused_url, database_url, cli
    ):
        # given
        calls = []
        monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(a))
        database_url(refused_url)

        # when
        result = cli("serve")

        # then: /healthz will say so until it is back
        assert result.exit_code == 0, result.output
        assert "unreachable" in result.stderr
        assert len(calls) == 1


class TestImportEncodings:
    @pytest.mark.parametrize("encoding", NON_TEXT_ENCODINGS)
    def test_a_codec_that_is_not_a_text_encoding_is_bad_usage(
        self, engine, session, cli, csv_file, encoding
    ):
        # given
        create_organization(session, name="Bondi Physio", region="AU")
        session.commit()

        # when
        result = cli("import", str(csv_file), "--org", "Bondi Physio", "--encoding", encoding)

        # then
        line = _one_line_error(result, 2)
        assert "[INVALID_INPUT]" in line and "(encoding)" in line

    def test_utf16_without_a_bom_fails_the_import_with_its_reason(
        self, engine, session, cli, tmp_path
    ):
        # given: UTF-16 text with no byte order mark
        create_organization(session, name="Bondi Physio", region="AU")
        session.commit()
        path = tmp_path / "clients.csv"
        path.write_bytes("first_name,email\nAnn,ann@example.com\n".encode("utf-16-le"))

        # when
        result = cli("import", str(path), "--org", "Bondi Physio", "--encoding", "utf-16")

        # then
        assert "not valid utf-16" in _one_line_error(result, 2)
