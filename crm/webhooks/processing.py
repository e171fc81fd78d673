"""Processing stored deliveries: once, with retries and backoff for failures, and replays.

Processing is idempotent: a delivery already processed (or ignored, or rejected) is left
alone, and what a handler writes is keyed by the provider's ids (orders, messages...), so a
job that runs twice, or a replay, has no second effect.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

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
        delivery.attempts += 1
        now = utcnow()
        try:
            with session.begin_nested():
                status = providers.handle(session, organization=organization, delivery=delivery)
        except Unprocessable as exc:
            delivery.status, delivery.last_error = "rejected", _describe(exc)
            delivery.next_attempt_at = None
        except Exception as exc:
            delivery.status, delivery.last_error = "failed", _describe(exc)
            delivery.next_attempt_at = (
                now + backoff(delivery.attempts) if delivery.attempts < MAX_ATTEMPTS else None
            )
            log.warning(
                "crm.webhooks.failed",
                delivery_id=str(ident),
                provider=delivery.provider,
                attempts=delivery.attempts,
                error=type(exc).__name__,
            )
        else:
            delivery.status, delivery.last_error = status, None
            delivery.next_attempt_at = None
            delivery.processed_at = now
        session.add(delivery)
        session.commit()
        log.info(
            "crm.webhooks.processed",
            delivery_id=str(ident),
            provider=delivery.provider,
            status=delivery.status,
        )
        return delivery.status


def due_deliveries(
    engine: Engine, *, now: datetime | None = None, limit: int = 100
) -> list[uuid.UUID]:
    """Failed deliveries whose backoff has passed, and received ones never processed (their
    process died after storing them), oldest first."""
    now = now or utcnow()
    stale = now - timedelta(minutes=5)
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
        status = process_delivery(engine, ident) or "missing"
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
