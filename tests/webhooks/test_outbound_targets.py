"""Outbound targets: every resolved address checked, the connection pinned to the checked
address (DNS rebinding cannot redirect it), redirects not followed, TLS still checked against
the host's name. A resolver the test controls stands in for DNS; the receivers are real
loopback HTTP(S) servers."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlmodel import Session, select

from crm.errors import ServiceError
from crm.models import WebhookAttempt, WebhookOutbox
from crm.settings import Settings
from crm.webhooks.outbound.delivery import deliver_due
from crm.webhooks.outbound.subscriptions import create_subscription
from crm.webhooks.outbound.targets import check_url, internal, resolve_target
from tests.conftest import make_key
from tests.webhooks.test_contact_context import CONTEXT
from tests.webhooks.test_graphql import gql

HOST = "hooks.example.test"  # .test never resolves in real DNS


class Server:
    """A loopback receiver: answers ``status`` (and ``location`` for redirects), records
    each request's headers, and over TLS the server name the client asked for."""

    def __init__(self, *, status: int = 204, location: str = "", tls: ssl.SSLContext | None = None):
        self.requests: list[dict[str, str]] = []
        self.server_names: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: outer.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Resolver:
    """DNS under the test's control: each call answers the next list of ``answers`` (the
    last one again once they run out), and is counted."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        index = min(len(self.calls), len(self.answers)) - 1
        return self.answers[index]


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def _queue_event(session, org, client, url: str, *, allow_private: bool = True) -> None:
    """A subscription to ``url`` and one contact.created event for it."""
    create_subscription(
        session,
        organization_id=org.id,
        url=url,
        events=["contact.created"],
        settings=Settings(webhook_allow_private_targets=allow_private),
    )
    session.commit()
    gql(
        client,
        make_key(session, org, "editor"),
        CONTEXT,
        {"channel": "PHONE", "value": "0412 345 678"},
    )


def _attempts(engine) -> list[WebhookAttempt]:
    with Session(engine) as s:
        return list(s.exec(select(WebhookAttempt).order_by(WebhookAttempt.attempted_at)))


@pytest.fixture
def settings() -> Settings:
    return Settings(
        env="development", webhook_allow_private_targets=True, webhook_send_interval_seconds=0
    )


STRICT = Settings(env="development", webhook_send_interval_seconds=0)


class TestPinning:
    def test_the_connection_goes_to_the_address_resolved_once(
        self, client, engine, session, org, server, settings
    ):
        # given a name that real DNS does not know, which our resolver points at the receiver
        _queue_event(session, org, client, f"http://{HOST}:{server.port}/hook")
        dns = Resolver(["127.0.0.1"], ["10.255.255.1"])
        # when
        report = deliver_due(engine, settings=settings, resolve=dns)
        # then it was resolved once and sent there, under the name
        assert report.delivered == 1
        assert dns.calls == [HOST]
        [request] = server.requests
        assert request["host"] == f"{HOST}:{server.port}"

    def test_a_second_dns_answer_is_never_used_for_the_connection(
        self, client, engine, session, org, server, settings
    ):
        # given the first answer points at the receiver and every later one elsewhere
        # (DNS rebinding: what a resolution inside the HTTP client would have got)
        _queue_event(session, org, client, f"http://{HOST}:{server.port}/hook")
        dns = Resolver(["127.0.0.1"], ["192.0.2.1"])
        # when
        deliver_due(engine, settings=settings, resolve=dns)
        # then the event reached the address that was checked
        assert len(server.requests) == 1 and len(dns.calls) == 1

    def test_a_batch_resolves_each_host_once(self, client, engine, session, org, server, settings):
        _queue_event(session, org, client, f"http://{HOST}:{server.port}/hook")
        editor = make_key(session, org, "editor")
        gql(client, editor, CONTEXT, {"channel": "EMAIL", "value": "second@example.com"})
        dns = Resolver(["127.0.0.1"])
        report = deliver_due(engine, settings=settings, resolve=dns)
        assert report.delivered == 2 and len(server.requests) == 2
        assert dns.calls == [HOST]


class TestIpv6:
    def test_an_ipv6_answer_is_pinned_too(self, client, engine, session, org, settings):
        import socket

        class Server6(ThreadingHTTPServer):
            address_family = socket.AF_INET6

        received: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                received.append(self.headers["Host"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        try:
            server6 = Server6(("::1", 0), Handler)
        except OSError:
            pytest.skip("no IPv6 loopback on this machine")
        threading.Thread(target=server6.serve_forever, daemon=True).start()
        try:
            port = server6.server_address[1]
            _queue_event(session, org, client, f"http://{HOST}:{port}/hook")
            report = deliver_due(engine, settings=settings, resolve=Resolver(["::1"]))
        finally:
            server6.shutdown()
            server6.server_close()
        assert report.delivered == 1 and received == [f"{HOST}:{port}"]


class TestChecks:
    def test_a_name_that_now_resolves_to_loopback_is_refused_at_delivery(
        self, client, engine, session, org, server
    ):
        # given a subscription made while its name pointed elsewhere
        _queue_event(session, org, client, f"http://{HOST}:{server.port}/hook")
        # when the name now resolves to the loopback receiver
        report = deliver_due(engine, settings=STRICT, resolve=Resolver(["127.0.0.1"]))
        # then nothing was sent, and the attempt says why (and will be retried)
        assert server.requests == []
        assert report.retrying == 1
        [attempt] = _attempts(engine)
        assert attempt.status_code is None and "target refused" in (attempt.error or "")

    def test_one_internal_address_among_public_ones_refuses_the_target(self):
        dns = Resolver(["93.184.215.14", "10.0.0.7"])
        with pytest.raises(ServiceError) as caught:
            resolve_target(f"https://{HOST}/x", allow_private=False, resolve=dns)
        assert caught.value.field == "url"

    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ],
    )
    def test_internal_answers_are_refused(self, address):
        assert internal(ipaddress.ip_address(address))
        with pytest.raises(ServiceError):
            check_url(f"https://{HOST}/x", allow_private=False, resolve=Resolver([address]))

    def test_public_answers_pass_and_are_the_ones_used(self):
        target = resolve_target(
            f"https://{HOST}/x",
            allow_private=False,
            resolve=Resolver(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]),
        )
        assert target.addresses == ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")

    def test_a_name_that_does_not_resolve_is_refused(self):
        def nowhere(host: str, port: int) -> list[str]:
            raise OSError("Name or service not known")

        with pytest.raises(ServiceError):
            check_url(f"https://{HOST}/x", allow_private=False, resolve=nowhere)

    def test_an_internal_url_is_refused_over_graphql(self, engine, session, org):
        from starlette.testclient import TestClient

        from graphql_schema.app import create_app

        admin = make_key(session, org, "admin")
        with TestClient(create_app(engine=engine, settings=STRICT)) as strict:
            out = gql(
                strict,
                admin,
                "mutation($i: CreateWebhookSubscriptionInput!) { createWebhookSubscription("
                "input: $i) { webhookSubscription { id } errors { code field } } }",
                {"i": {"url": "http://169.254.169.254/latest", "events": ["contact.created"]}},
            )
        payload = out["data"]["createWebhookSubscription"]
        assert payload["webhookSubscription"] is None
        assert payload["errors"] == [{"code": "INVALID_INPUT", "field": "url"}]


class TestRedirects:
    def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
        self, client, engine, session, org, server, settings
    ):
        # given the receiver redirects to another (internal) server
        redirecting = Server(status=302, location=f"http://127.0.0.1:{server.port}/stolen")
        try:
            _queue_event(session, org, client, f"http://{HOST}:{redirecting.port}/hook")
            report = deliver_due(engine, settings=settings, resolve=Resolver(["127.0.0.1"]))
        finally:
            redirecting.close()
        # then the redirect's target saw nothing and the event will be retried
        assert len(redirecting.requests) == 1 and server.requests == []
        assert report.retrying == 1
        [attempt] = _attempts(engine)
        assert attempt.status_code == 302 and "redirect" in (attempt.error or "")
        with Session(engine) as s:
            assert s.exec(select(WebhookOutbox.status)).one() == "pending"


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class TestTls:
    def test_https_is_verified_against_the_name_while_pinned_to_the_address(
        self, client, engine, session, org, settings, tmp_path
    ):
        # given an https receiver whose certificate names only HOST (not 127.0.0.1)
        cert_file, key_file = _certificate(tmp_path, HOST)
        server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_tls.load_cert_chain(cert_file, key_file)
        tls_server = Server(tls=server_tls)
        trusted = ssl.create_default_context(cafile=str(cert_file))
        try:
            _queue_event(session, org, client, f"https://{HOST}:{tls_server.port}/hook")
            # when delivered to the address our resolver gave, trusting that certificate
            report = deliver_due(
                engine, settings=settings, resolve=Resolver(["127.0.0.1"]), verify=trusted
            )
        finally:
            tls_server.close()
        # then TLS asked for and verified the name, and the event arrived
        assert report.delivered == 1, _attempts(engine)[-1].error
        assert tls_server.server_names == [HOST]
        assert tls_server.requests[0]["host"] == f"{HOST}:{tls_server.port}"

    def test_a_certificate_for_another_name_fails_the_attempt(
        self, client, engine, session, org, settings, tmp_path
    ):
        cert_file, key_file = _certificate(tmp_path, "other.example.test")
        server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_tls.load_cert_chain(cert_file, key_file)
        tls_server = Server(tls=server_tls)
        trusted = ssl.create_default_context(cafile=str(cert_file))
        try:
            _queue_event(session, org, client, f"https://{HOST}:{tls_server.port}/hook")
            report = deliver_due(
                engine, settings=settings, resolve=Resolver(["127.0.0.1"]), verify=trusted
            )
        finally:
            tls_server.close()
        assert report.retrying == 1 and tls_server.requests == []
        assert "ConnectError" in (_attempts(engine)[0].error or "")


def test_events_carry_ids_only(client, engine, session, org, server, settings):
    _queue_event(session, org, client, f"http://{HOST}:{server.port}/hook")
    with Session(engine) as s:
        body = json.loads(s.exec(select(WebhookOutbox.body)).one())
    assert set(body["data"]) == {"contactId"}
