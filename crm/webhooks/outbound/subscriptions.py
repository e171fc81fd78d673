"""Managing outbound webhook subscriptions (admin keys): create, list, disable, enable,
rotate the secret, delete."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import Session, select

from crm.errors import ErrorCode, NotFound, ServiceError
from crm.models import WebhookSubscription, utcnow
from crm.models.base import parse_uuid
from crm.models.outbound import OUTBOUND_EVENTS
from crm.settings import Settings, get_settings
from crm.webhooks import secrets
from crm.webhooks.outbound import signing
from crm.webhooks.outbound.targets import check_url

MAX_SUBSCRIPTIONS = 50


def create_subscription(
    session: Session,
    *,
    organization_id: uuid.UUID,
    url: str,
    events: Sequence[str],
    description: str | None = None,
    settings: Settings | None = None,
) -> tuple[WebhookSubscription, str]:
    """A subscription and its plain ``whsec_`` secret (shown once; stored encrypted)."""
    settings = settings or get_settings()
    url = check_url(url, allow_private=settings.webhook_allow_private_targets)
    wanted = list(dict.fromkeys(e.strip() for e in events))
    unknown = [e for e in wanted if e not in OUTBOUND_EVENTS]
    if not wanted or unknown:
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"events must be some of {', '.join(OUTBOUND_EVENTS)}",
            field="events",
        )
    if len(list_subscriptions(session, organization_id=organization_id)) >= MAX_SUBSCRIPTIONS:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, f"at most {MAX_SUBSCRIPTIONS} subscriptions", field="url"
        )
    plain = signing.new_secret()
    row = WebhookSubscription(
        organization_id=organization_id,
        url=url,
        events=wanted,
        description=(description or "").strip()[:200] or None,
        secret_encrypted=secrets.encrypt(plain, settings=settings),
    )
    session.add(row)
    session.flush()
    return row, plain


def list_subscriptions(
    session: Session, *, organization_id: uuid.UUID
) -> list[WebhookSubscription]:
    """The organization's subscriptions (disabled ones too; not deleted ones), oldest first."""
    return list(
        session.exec(
            select(WebhookSubscription)
            .where(
                WebhookSubscription.organization_id == organization_id,
                WebhookSubscription.deleted_at.is_(None),  # type: ignore[union-attr]
            )
            .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
        )
    )


def delete_subscription(
    session: Session, *, organization_id: uuid.UUID, subscription_id: str
) -> WebhookSubscription:
    """Stop sending to it (events not yet delivered are dropped; the log stays)."""
    row = _live(session, organization_id=organization_id, subscription_id=subscription_id)
    row.deleted_at = utcnow()
    session.add(row)
    session.flush()
    return row


def _live(
    session: Session, *, organization_id: uuid.UUID, subscription_id: str
) -> WebhookSubscription:
    sid = parse_uuid(subscription_id)
    row = session.get(WebhookSubscription, sid) if sid else None
    if row is None or row.organization_id != organization_id or row.deleted_at is not None:
        raise NotFound("webhook subscription", field="id")
    return row


def set_enabled(
    session: Session, *, organization_id: uuid.UUID, subscription_id: str, enabled: bool
) -> WebhookSubscription:
    """Disable (no event is queued for it; pending ones are dropped) or enable it again
    (events from now on); doing it twice changes nothing."""
    row = _live(session, organization_id=organization_id, subscription_id=subscription_id)
    if enabled:
        row.disabled_at = None
    elif row.disabled_at is None:
        row.disabled_at = utcnow()
    session.add(row)
    session.flush()
    return row


def rotate_secret(
    session: Session,
    *,
    organization_id: uuid.UUID,
    subscription_id: str,
    settings: Settings | None = None,
) -> tuple[WebhookSubscription, str]:
    """A new ``whsec_`` secret, returned this once: every attempt from now on (retries of
    earlier events too) is signed with it."""
    row = _live(session, organization_id=organization_id, subscription_id=subscription_id)
    plain = signing.new_secret()
    row.secret_encrypted = secrets.encrypt(plain, settings=settings or get_settings())
    session.add(row)
    session.flush()
    return row, plain
