"""The inbox: a delivery is verified, then stored as received before it is acknowledged, and
processed afterwards (``processing``). Nothing a provider sends is lost: a delivery that
fails to process stays stored as ``failed`` and is retried or replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from crm.errors import ErrorCode, NotFound, ServiceError
from crm.logging import get_logger
from crm.models import Organization, WebhookDelivery, WebhookEndpoint, utcnow
from crm.models.base import parse_uuid, uuid7
from crm.models.webhooks import WEBHOOK_PROVIDERS
from crm.webhooks import providers, secrets, signatures

log = get_logger(__name__)

MAX_EVENT_ID = 200


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the HTTP answer says: ``status_code``, and the stored delivery (if one was)."""

    status_code: int
    delivery_id: uuid.UUID | None = None
    duplicate: bool = False
    # True when the delivery waits to be processed (new, or received but not processed yet)
    to_process: bool = False
    reason: str | None = None


def parse_provider(value: str) -> str:
    """``careportals`` / ``CAREPORTALS`` as the stored provider name, or INVALID_INPUT."""
    name = (value or "").strip().upper()
    if name not in WEBHOOK_PROVIDERS:
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"provider must be one of {', '.join(p.lower() for p in WEBHOOK_PROVIDERS)}",
            field="provider",
        )
    return name


def create_endpoint(
    session: Session,
    *,
    organization: Organization,
    provider: str,
    display_name: str | None = None,
    secret: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its plain secret (shown once; only its encryption is stored).

    ``secret``: a secret the provider dictates (WhatsApp Cloud signs with the Meta app's
    secret); else a random one is made.
    """
    plain = secret.strip() if secret and secret.strip() else secrets.new_secret()
    name = (display_name or "").strip() or None
    if name is not None and len(name) > 200:
        raise ServiceError(ErrorCode.INVALID_INPUT, "at most 200 characters", field="displayName")
    endpoint = WebhookEndpoint(
        organization_id=organization.id,
        provider=parse_provider(provider),
        display_name=name,
        secret_encrypted=secrets.encrypt(plain),
    )
    session.add(endpoint)
    session.flush()
    return endpoint, plain


def endpoint_path(endpoint: WebhookEndpoint) -> str:
    """The path a provider posts to: ``/webhooks/<provider>/<endpoint id>``."""
    return f"/webhooks/{endpoint.provider.lower()}/{endpoint.id}"


def _endpoint(session: Session, provider: str, endpoint_id: str) -> WebhookEndpoint | None:
    ident = parse_uuid(endpoint_id)
    name = provider.upper()
    if ident is None or name not in WEBHOOK_PROVIDERS:
        return None
    endpoint = session.get(WebhookEndpoint, ident)
    if endpoint is None or endpoint.provider != name or endpoint.disabled_at is not None:
        return None
    return endpoint


def _count_rejection(engine: Engine, endpoint_id: uuid.UUID) -> None:
    with Session(engine) as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)  # type: ignore[arg-type]
            .values(
                rejected_signatures=WebhookEndpoint.rejected_signatures + 1,
                last_rejected_at=utcnow(),
            )
        )
        session.commit()


def verify_handshake(
    engine: Engine, *, provider: str, endpoint_id: str, query: Mapping[str, str]
) -> tuple[int, str]:
    """WhatsApp Cloud's ``GET`` subscription check: (200, the challenge) when
    ``hub.verify_token`` is the endpoint's secret, else (403 or 404, a reason)."""
    with Session(engine) as session:
        endpoint = _endpoint(session, provider, endpoint_id)
        if endpoint is None or endpoint.provider != "WHATSAPP":
            return 404, "unknown endpoint"
        secret = secrets.decrypt(endpoint.secret_encrypted)
    token = query.get("hub.verify_token") or ""
    if query.get("hub.mode") != "subscribe" or not hmac.compare_digest(
        token.encode(), secret.encode()
    ):
        return 403, "verification failed"
    return 200, query.get("hub.challenge") or ""


def receive(
    engine: Engine,
    *,
    provider: str,
    endpoint_id: str,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
) -> Receipt:
    """Verify and store one delivery (committed before this returns): 2xx for stored ones and
    for duplicates, 401 for a bad signature (nothing stored but a counter), 404 for an unknown
    endpoint, 400 for a body that is not JSON (stored as ``rejected``).

    One connection and one transaction: the endpoint is read, the delivery inserted (``ON
    CONFLICT DO NOTHING``: the same event again finds the first one), committed."""
    ident, name = parse_uuid(endpoint_id), provider.upper()
    if ident is None or name not in WEBHOOK_PROVIDERS:
        return Receipt(404, reason="unknown endpoint")
    with engine.connect() as conn:
        found = conn.execute(_ENDPOINT, {"id": ident, "provider": name}).first()
        if found is None:
            return Receipt(404, reason="unknown endpoint")
        organization_id, token = found
        try:
            secret = secrets.decrypt(token)
        except ValueError:
            # CRM_SECRET_KEY changed: nothing can be verified; 503 so the provider retries
            log.error("crm.webhooks.secret_unreadable", endpoint_id=str(ident))
            return Receipt(503, reason="the endpoint's secret cannot be read")
        if not signatures.verified(name, secret=secret, body=body, headers=headers, query=query):
            conn.rollback()
            _count_rejection(engine, ident)
            log.info("crm.webhooks.bad_signature", provider=name, endpoint_id=str(ident))
            return Receipt(401, reason="bad or missing signature")
        row = _delivery_row(organization_id, ident, name, body)
        stored = conn.execute(_INSERT[conn.dialect.name == "postgresql"], row).first()
        first = None
        if stored is None:
            # the same event again: one effect, and the same 2xx
            first = conn.execute(_FIRST, {"endpoint_id": ident, "event_id": row["event_id"]}).one()
        conn.commit()
    if first is not None:
        log.info("crm.webhooks.duplicate", provider=name, delivery_id=str(first.id))
        return Receipt(
            400 if first.status == "rejected" else 200,
            first.id,
            duplicate=True,
            to_process=first.status == "received",
            reason=first.last_error if first.status == "rejected" else None,
        )
    status, reason = row["status"], row["last_error"]
    log.info(
        "crm.webhooks.received",
        provider=name,
        delivery_id=str(row["id"]),
        event_type=row["event_type"],
        status=status,
    )
    if status == "rejected":
        return Receipt(400, row["id"], reason=reason)
    return Receipt(200, row["id"], to_process=True)


# the statements of ``receive``, built once (their parameters bound at each call)
_ENDPOINTS = WebhookEndpoint.__table__  # type: ignore[attr-defined]
_DELIVERIES = WebhookDelivery.__table__  # type: ignore[attr-defined]
_ENDPOINT = sa.select(_ENDPOINTS.c.organization_id, _ENDPOINTS.c.secret_encrypted).where(
    _ENDPOINTS.c.id == sa.bindparam("id"),
    _ENDPOINTS.c.provider == sa.bindparam("provider"),
    _ENDPOINTS.c.disabled_at.is_(None),
)
_INSERT = {
    postgres: (postgresql.insert if postgres else sqlite.insert)(_DELIVERIES)
    .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
    .returning(_DELIVERIES.c.id)
    for postgres in (True, False)
}
_FIRST = sa.select(_DELIVERIES.c.id, _DELIVERIES.c.status, _DELIVERIES.c.last_error).where(
    _DELIVERIES.c.endpoint_id == sa.bindparam("endpoint_id"),
    _DELIVERIES.c.event_id == sa.bindparam("event_id"),
)


def _delivery_row(
    organization_id: uuid.UUID, endpoint_id: uuid.UUID, provider: str, body: bytes
) -> dict[str, object]:
    """The inbox row of a verified delivery: ``received``, or ``rejected`` when the body is
    not a JSON object; the event id is the provider's, else ``h:`` + the body's SHA-256."""
    digest = hashlib.sha256(body).hexdigest()
    status, reason, event_type, event_id = "received", None, None, None
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError):
        status, reason = "rejected", "the body is not a JSON object"
    else:
        event_type, event_id = providers.event_of(provider, payload)
    if event_id is not None and len(event_id) > MAX_EVENT_ID:
        event_id = None
    return {
        "id": uuid7(),
        "organization_id": organization_id,
        "endpoint_id": endpoint_id,
        "provider": provider,
        "event_type": (event_type or None) and event_type[:100],
        "event_id": event_id or "h:" + digest,
        "received_at": utcnow(),
        "body": body,
        "content_hash": digest,
        "status": status,
        "attempts": 0,
        "last_error": reason,
    }


def get_delivery(
    session: Session, *, organization_id: uuid.UUID, delivery_id: str | uuid.UUID
) -> WebhookDelivery:
    """The organization's delivery, or NOT_FOUND."""
    ident = parse_uuid(delivery_id)
    row = session.get(WebhookDelivery, ident) if ident is not None else None
    if row is None or row.organization_id != organization_id:
        raise NotFound("webhook delivery", field="id")
    return row
