"""Processing stored deliveries: once, with retries and backoff for failures, and replays.

Processing is idempotent: a delivery already processed (or ignored, or rejected) is left
alone, and what a handler writes is keyed by the provider's ids (orders, messages...), so a
job that runs twice, or a replay, has no second effect.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import case, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from crm.errors import ServiceError
from crm.identity import IdentityError
from crm.logging import get_logger
from crm.models import Organization, WebhookDelivery, utcnow
from crm.models.base import parse_uuid
from crm.webhooks import providers
from crm.webhooks.providers import Unprocessable

log = get_logger(__name__)

# attempts before a failed delivery waits for a person (``replayWebhookDelivery``)
MAX_ATTEMPTS = 8
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=6)
DONE = frozenset({"processed", "ignored", "rejected"})
# deliveries processed together by one job (one transaction, one pass of the pipeline)
BATCH_SIZE = 250
# how long one job goes on taking batches while deliveries wait (then the next job does)
DRAIN_SECONDS = 60.0
# a delivery still ``received`` this long after it came is processed by the retry cron (its
# job was lost: a worker killed while running it keeps the job marked in progress for hours)
STALE_AFTER = timedelta(minutes=1)


def backoff(attempts: int) -> timedelta:
    """How long a delivery that failed ``attempts`` times waits: 30 s doubling, at most 6 h."""
    return min(FIRST_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _describe(exc: BaseException) -> str:
    # codes and our own messages only: a driver's message may quote a person's email or phone
    if isinstance(exc, ServiceError | IdentityError):
        return f"{exc.code.value}: {exc.message}"[:1000]
    if isinstance(exc, Unprocessable):
        return str(exc)[:1000]
    return type(exc).__name__


def _finish(delivery: WebhookDelivery, outcome: str | BaseException, now: datetime) -> None:
    """Count the attempt and record what processing ``delivery`` came to."""
    delivery.attempts += 1
    if isinstance(outcome, Unprocessable):
        delivery.status, delivery.last_error = "rejected", _describe(outcome)
        delivery.next_attempt_at = None
    elif isinstance(outcome, BaseException):
        delivery.status, delivery.last_error = "failed", _describe(outcome)
        delivery.next_attempt_at = (
            now + backoff(delivery.attempts) if delivery.attempts < MAX_ATTEMPTS else None
        )
        log.warning(
            "crm.webhooks.failed",
            delivery_id=str(delivery.id),
            provider=delivery.provider,
            attempts=delivery.attempts,
            error=type(outcome).__name__,
        )
    else:
        delivery.status, delivery.last_error = outcome, None
        delivery.next_attempt_at = None
        delivery.processed_at = now


def process_delivery(engine: Engine, delivery_id: uuid.UUID | str) -> str | None:
    """Process one stored delivery now; its status afterwards (None: no such delivery)."""
    ident = uuid.UUID(str(delivery_id))
    with Session(engine, expire_on_commit=False) as session:
        delivery = session.exec(
            select(WebhookDelivery).where(WebhookDelivery.id == ident).with_for_update()
        ).first()
        if delivery is None:
            return None
        if delivery.status in DONE:
            session.rollback()
            return delivery.status
        organization = session.get(Organization, delivery.organization_id)
        assert organization is not None
        now = utcnow()
        outcome: str | BaseException
        try:
            with session.begin_nested():
                outcome = providers.handle(session, organization=organization, delivery=delivery)
        except Exception as exc:
            outcome = exc
        _finish(delivery, outcome, now)
        session.add(delivery)
        session.commit()
        log.info(
            "crm.webhooks.processed",
            delivery_id=str(ident),
            provider=delivery.provider,
            status=delivery.status,
        )
        return delivery.status


def process_pending(
    engine: Engine, first: uuid.UUID | str | None = None, *, limit: int = BATCH_SIZE
) -> dict[uuid.UUID, str]:
    """Claim up to ``limit`` received deliveries (``first``, if still received, then the
    oldest) and process them together in one transaction; {delivery id: its status}.

    The claim is the transaction's row locks (``FOR UPDATE SKIP LOCKED``): concurrent jobs
    take different deliveries, and the deliveries of a process that dies (even by SIGKILL)
    are free again as soon as the database drops its connection, for the next job to take.
    CarePortals deliveries of one organization share one pass of the pipeline
    (``careportals.handle_many``); the others are processed one by one in savepoints. If the
    batch fails as a whole, it is rolled back and each delivery processed on its own.
    """
    ident = uuid.UUID(str(first)) if first is not None else None
    with Session(engine, expire_on_commit=False) as session:
        statement = select(WebhookDelivery).where(WebhookDelivery.status == "received")
        if ident is not None:
            statement = statement.order_by(
                case((WebhookDelivery.id == ident, 0), else_=1),  # type: ignore[arg-type]
                WebhookDelivery.received_at,  # type: ignore[arg-type]
            )
        else:
            statement = statement.order_by(WebhookDelivery.received_at)  # type: ignore[arg-type]
        batch = list(session.exec(statement.limit(limit).with_for_update(skip_locked=True)))
        if not batch:
            return {}
        ids = [delivery.id for delivery in batch]
        try:
            _process_batch(session, batch)
            session.commit()
        except Exception as exc:
            session.rollback()
            log.warning("crm.webhooks.batch_failed", size=len(batch), error=type(exc).__name__)
        else:
            log.info("crm.webhooks.batch_processed", size=len(batch))
            return {delivery.id: delivery.status for delivery in batch}
    return {i: process_delivery(engine, i) or "missing" for i in ids}


def _process_batch(session: Session, batch: list[WebhookDelivery]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # one batch of an organization at a time (other jobs wait, their deliveries claimed):
        # concurrent batches of one organization share customers, and the pipeline settles
        # such races by planning again, which many large batches at once turned into failures
        for organization_id in sorted({d.organization_id for d in batch}):
            session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"),
                {"key": (organization_id.int & (1 << 64) - 1) - (1 << 63)},
            )
    now = utcnow()
    organizations: dict[uuid.UUID, Organization] = {}
    careportals: dict[uuid.UUID, list[tuple[WebhookDelivery, dict]]] = {}
    for delivery in batch:
        organization = organizations.get(delivery.organization_id)
        if organization is None:
            organization = session.get(Organization, delivery.organization_id)
            assert organization is not None
            organizations[delivery.organization_id] = organization
        if delivery.provider == "CAREPORTALS":
            try:
                payload = json.loads(delivery.body)
                if not isinstance(payload, dict):
                    raise ValueError
            except ValueError:
                _finish(delivery, Unprocessable("the body is not a JSON object"), now)
                continue
            careportals.setdefault(delivery.organization_id, []).append((delivery, payload))
            continue
        outcome: str | BaseException
        try:
            with session.begin_nested():
                outcome = providers.handle(session, organization=organization, delivery=delivery)
        except Exception as exc:
            outcome = exc
        _finish(delivery, outcome, now)
    for organization_id, items in careportals.items():
        from crm.webhooks.careportals import handle_many

        outcomes = handle_many(
            session, organization=organizations[organization_id], deliveries=items
        )
        for (delivery, _), outcome in zip(items, outcomes, strict=True):
            _finish(delivery, outcome, now)
    for delivery in batch:
        session.add(delivery)


def process_job(
    engine: Engine, delivery_id: uuid.UUID | str, *, drain_for: float = DRAIN_SECONDS
) -> str | None:
    """``webhooks.process``: the delivery with a batch of the others waiting
    (``process_pending``), or on its own when another job holds it or it is not ``received``
    (a failed one is retried); then more batches while deliveries wait, for up to
    ``drain_for`` seconds (the API queues one job for all the deliveries of a moment). Its
    status afterwards (None: no such delivery)."""
    ident = uuid.UUID(str(delivery_id))
    started = time.monotonic()
    done = process_pending(engine, ident)
    status = done[ident] if ident in done else process_delivery(engine, ident)
    while len(done) >= BATCH_SIZE and time.monotonic() - started < drain_for:
        done = process_pending(engine)
    return status


def due_deliveries(
    engine: Engine, *, now: datetime | None = None, limit: int = 100
) -> list[uuid.UUID]:
    """Failed deliveries whose backoff has passed, and received ones never processed (their
    process died after storing them), oldest first."""
    now = now or utcnow()
    stale = now - STALE_AFTER
    with Session(engine) as session:
        rows = session.exec(
            select(WebhookDelivery.id)
            .where(
                (
                    (WebhookDelivery.status == "failed")
                    & (WebhookDelivery.next_attempt_at != None)  # noqa: E711
                    & (WebhookDelivery.next_attempt_at <= now)  # type: ignore[operator]
                )
                | ((WebhookDelivery.status == "received") & (WebhookDelivery.received_at <= stale))  # type: ignore[operator]
            )
            .order_by(WebhookDelivery.received_at)  # type: ignore[arg-type]
            .limit(limit)
        ).all()
    return list(rows)


def retry_due(engine: Engine, *, now: datetime | None = None) -> dict[str, int]:
    """Process every due delivery (one bad delivery never stops the rest)."""
    counts: dict[str, int] = {}
    for ident in due_deliveries(engine, now=now):
        status = process_job(engine, ident) or "missing"
        counts[status] = counts.get(status, 0) + 1
    return counts


def replay(
    engine: Engine, *, delivery_id: uuid.UUID | str, organization_id: uuid.UUID | None = None
) -> WebhookDelivery:
    """Process a stored delivery again from its raw body, whatever its status (not a rejected
    non-JSON body): handlers are idempotent, so a processed delivery changes nothing."""
    from crm.webhooks.inbox import get_delivery

    with Session(engine, expire_on_commit=False) as session:
        if organization_id is None:
            ident = parse_uuid(delivery_id)
            found = session.get(WebhookDelivery, ident) if ident is not None else None
            organization_id = found.organization_id if found else uuid.UUID(int=0)
        delivery = get_delivery(session, organization_id=organization_id, delivery_id=delivery_id)
        if delivery.status != "rejected" or delivery.event_type is not None:
            delivery.status = "received"
            delivery.next_attempt_at = None
            session.add(delivery)
            session.commit()
        ident = delivery.id
    process_delivery(engine, ident)
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(WebhookDelivery, ident)
        assert row is not None
        return row


def failed_deliveries(
    engine: Engine, *, organization_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Every failed delivery (of one organization, or all), oldest first."""
    with Session(engine) as session:
        statement = select(WebhookDelivery.id).where(WebhookDelivery.status == "failed")
        if organization_id is not None:
            statement = statement.where(WebhookDelivery.organization_id == organization_id)
        return list(session.exec(statement.order_by(WebhookDelivery.received_at)).all())  # type: ignore[arg-type]
