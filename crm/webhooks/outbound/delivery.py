"""Delivering the outbox: at least once, signed, the same ``webhook-id`` on every attempt,
exponential backoff for up to 3 days, every attempt in the delivery log.

Each batch resolves a target's host once, checks every address (``targets``) and connects
only to a checked one, so a DNS answer that changes between the check and the connection
cannot send the event to an internal address; the batch's events to one host share a kept-
alive connection. Redirects are not followed.

A deliverer claims due rows by moving their next attempt a lease ahead (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL), so that deliverers running at once (arq workers, ``crm webhooks
deliver``) never send one row twice at the same moment; one that dies mid-send leaves its rows
to be sent again when the lease ends (at least once).
"""

from __future__ import annotations

import ssl
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from crm.errors import ServiceError
from crm.logging import get_logger
from crm.models import WebhookAttempt, WebhookOutbox, WebhookSubscription, utcnow
from crm.settings import Settings, get_settings
from crm.webhooks import secrets
from crm.webhooks.outbound import signing
from crm.webhooks.outbound.targets import Resolver, Target, pinned_client, resolve_target

log = get_logger(__name__)

# seconds before attempt n+1 (then the last, until GIVE_UP after the event was written)
BACKOFF = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
GIVE_UP = timedelta(days=3)
LEASE = timedelta(seconds=60)
TIMEOUT = 10.0
# addresses of one host tried in turn when the earlier ones refuse the connection
MAX_ADDRESSES = 3


def next_delay(attempts: int) -> timedelta:
    """The wait after ``attempts`` failed attempts."""
    return timedelta(seconds=BACKOFF[min(attempts, len(BACKOFF)) - 1])


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    ids: list[uuid.UUID] = field(default_factory=list)


def _claim(engine: Engine, *, now: datetime, limit: int) -> list[uuid.UUID]:
    with Session(engine) as session:
        query = (
            select(WebhookOutbox.id)
            .where(WebhookOutbox.status == "pending", WebhookOutbox.next_attempt_at <= now)
            .order_by(WebhookOutbox.next_attempt_at, WebhookOutbox.id)
            .limit(limit)
        )
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(session.exec(query))
        if ids:
            session.execute(
                update(WebhookOutbox)
                .where(WebhookOutbox.id.in_(ids))  # type: ignore[attr-defined]
                .values(next_attempt_at=now + LEASE)
            )
        session.commit()
    return ids


class _Pins:
    """One deliverer batch's view of its targets: each host resolved and checked once, and
    one client per checked address and host, kept alive across the batch's events."""

    def __init__(
        self, settings: Settings, resolve: Resolver | None, verify: ssl.SSLContext | bool
    ) -> None:
        self.settings, self.resolve, self.verify = settings, resolve, verify
        self._targets: dict[tuple[str, str, int], Target | ServiceError] = {}
        self._clients: dict[tuple[str, str, int, str], httpx.Client] = {}

    def target(self, url: str) -> Target:
        """``url`` with its host's checked addresses; ServiceError when refused."""
        parts = urlsplit(url.strip())
        key = (parts.scheme, (parts.hostname or "").lower(), parts.port or 0)
        found = self._targets.get(key)
        if found is None:
            try:
                found = resolve_target(
                    url,
                    allow_private=self.settings.webhook_allow_private_targets,
                    resolve=self.resolve,
                )
            except ServiceError as exc:
                found = exc
            self._targets[key] = found
        if isinstance(found, ServiceError):
            raise found
        return Target(url=url.strip(), host=found.host, port=found.port, addresses=found.addresses)

    def client(self, target: Target, address: str) -> httpx.Client:
        key = (urlsplit(target.url).scheme, target.host, target.port, address)
        client = self._clients.get(key)
        if client is None:
            client = pinned_client(target, timeout=TIMEOUT, verify=self.verify, address=address)
            self._clients[key] = client
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def _send(
    row: WebhookOutbox, sub: WebhookSubscription, settings: Settings, pins: _Pins
) -> tuple[int | None, str | None]:
    """(status code, error) of one attempt."""
    try:
        target = pins.target(sub.url)
    except ServiceError as exc:
        return None, f"target refused: {exc.message}"
    secret = secrets.decrypt(sub.secret_encrypted, settings=settings)
    body = row.body.encode()
    msg_id = f"msg_{row.id.hex}"
    headers = signing.headers(secret, msg_id=msg_id, timestamp=int(time.time()), body=body)
    error = "no address"
    # the next checked address only when nothing was sent to this one (it refused the
    # connection); never a fresh resolution
    for address in target.addresses[:MAX_ADDRESSES]:
        try:
            response = pins.client(target, address).post(target.url, content=body, headers=headers)
        except httpx.ConnectError as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            continue
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:1000]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        if 300 <= response.status_code < 400:
            return response.status_code, f"HTTP {response.status_code} (redirects are not followed)"
        return response.status_code, f"HTTP {response.status_code}"
    return None, error


def deliver_due(
    engine: Engine,
    *,
    limit: int = 100,
    settings: Settings | None = None,
    now: datetime | None = None,
    resolve: Resolver | None = None,
    verify: ssl.SSLContext | bool = True,
) -> DeliveryReport:
    """Send up to ``limit`` due events once each; what became of them. ``resolve`` (host,
    port -> addresses) and ``verify`` (TLS) replace the system's, for tests."""
    settings = settings or get_settings()
    report = DeliveryReport()
    ids = _claim(engine, now=now or utcnow(), limit=limit)
    if not ids:
        return report
    pins = _Pins(settings, resolve, verify)
    try:
        _deliver(engine, ids, settings=settings, pins=pins, report=report)
    finally:
        pins.close()
    return report


def _deliver(
    engine: Engine,
    ids: list[uuid.UUID],
    *,
    settings: Settings,
    pins: _Pins,
    report: DeliveryReport,
) -> None:
    for outbox_id in ids:
        with Session(engine, expire_on_commit=False) as session:
            row = session.get(WebhookOutbox, outbox_id)
            if row is None or row.status != "pending":
                continue
            sub = session.get(WebhookSubscription, row.subscription_id)
            started = time.perf_counter()
            if sub is None or sub.deleted_at is not None or sub.disabled_at is not None:
                gone = sub is None or sub.deleted_at is not None
                code, error = None, "subscription deleted" if gone else "subscription disabled"
                row.status = "failed"
            else:
                try:
                    code, error = _send(row, sub, settings, pins)
                except Exception as exc:
                    code, error = None, f"{type(exc).__name__}"
            attempted = utcnow()
            row.attempts += 1
            row.last_status_code = code
            row.last_error = error
            if error is None:
                row.status = "delivered"
                row.delivered_at = attempted
                report.delivered += 1
            elif row.status == "failed" or attempted + next_delay(row.attempts) > (
                row.created_at + GIVE_UP
            ):
                row.status = "failed"
                report.failed += 1
            else:
                row.next_attempt_at = attempted + next_delay(row.attempts)
                report.retrying += 1
            session.add(row)
            session.add(
                WebhookAttempt(
                    outbox_id=row.id,
                    attempted_at=attempted,
                    status_code=code,
                    error=error,
                    duration_ms=int((time.perf_counter() - started) * 1000),
                )
            )
            session.commit()
            report.ids.append(outbox_id)
            log.info(
                "crm.webhooks.outbound.attempt",
                outbox_id=str(outbox_id),
                event_type=row.event_type,
                status=row.status,
                status_code=code,
                attempts=row.attempts,
            )


def drain(
    engine: Engine,
    *,
    settings: Settings | None = None,
    rounds: int = 50,
    resolve: Resolver | None = None,
) -> dict[str, int]:
    """Deliver what is due, batch after batch, until nothing is (at most ``rounds`` batches)."""
    total = {"delivered": 0, "retrying": 0, "failed": 0}
    for _ in range(rounds):
        report = deliver_due(engine, settings=settings, resolve=resolve)
        total["delivered"] += report.delivered
        total["retrying"] += report.retrying
        total["failed"] += report.failed
        if not report.ids:
            break
    return total
