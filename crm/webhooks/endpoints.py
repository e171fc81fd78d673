"""Managing inbound webhook endpoints (admin keys, ``crm webhooks endpoints``): list,
disable, enable, rotate the secret, delete. Creating one is ``inbox.create_endpoint``.

A disabled endpoint answers 404 and stores nothing (the inbox only knows enabled ones); its
stored deliveries stay. A secret is returned only by the call that makes it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete
from sqlmodel import Session, select

from crm.errors import NotFound
from crm.models import WebhookDelivery, WebhookEndpoint, utcnow
from crm.models.base import parse_uuid
from crm.webhooks import secrets


def list_endpoints(session: Session, *, organization_id: uuid.UUID) -> list[WebhookEndpoint]:
    """The organization's endpoints, enabled and disabled, oldest first."""
    return list(
        session.exec(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.organization_id == organization_id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)  # type: ignore[arg-type]
        )
    )


def get_endpoint(
    session: Session, *, organization_id: uuid.UUID, endpoint_id: str | uuid.UUID
) -> WebhookEndpoint:
    """The organization's endpoint (locked for the change), or NOT_FOUND on ``id``."""
    ident = parse_uuid(endpoint_id)
    row = None
    if ident is not None:
        row = session.exec(
            select(WebhookEndpoint).where(WebhookEndpoint.id == ident).with_for_update()
        ).first()
    if row is None or row.organization_id != organization_id:
        raise NotFound("webhook endpoint", field="id")
    return row


def set_enabled(
    session: Session, *, organization_id: uuid.UUID, endpoint_id: str | uuid.UUID, enabled: bool
) -> WebhookEndpoint:
    """Disable (deliveries answer 404, nothing is stored) or enable it again; doing it twice
    changes nothing."""
    row = get_endpoint(session, organization_id=organization_id, endpoint_id=endpoint_id)
    if enabled and row.disabled_at is not None:
        row.disabled_at = None
    elif not enabled and row.disabled_at is None:
        row.disabled_at = utcnow()
    session.add(row)
    session.flush()
    return row


def rotate_secret(
    session: Session,
    *,
    organization_id: uuid.UUID,
    endpoint_id: str | uuid.UUID,
    secret: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new secret for the endpoint (``secret``: one the provider dictates, else random),
    returned this once; deliveries signed with the old one are refused from now on."""
    row = get_endpoint(session, organization_id=organization_id, endpoint_id=endpoint_id)
    plain = secret.strip() if secret and secret.strip() else secrets.new_secret()
    row.secret_encrypted = secrets.encrypt(plain)
    session.add(row)
    session.flush()
    return row, plain


def delete_endpoint(
    session: Session, *, organization_id: uuid.UUID, endpoint_id: str | uuid.UUID
) -> uuid.UUID:
    """Remove the endpoint and the raw deliveries it stored (the activity they brought stays
    on the contacts); its URL answers 404 from now on. The deleted id."""
    row = get_endpoint(session, organization_id=organization_id, endpoint_id=endpoint_id)
    ident = row.id
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == ident))  # type: ignore[arg-type]
    session.delete(row)
    session.flush()
    return ident
