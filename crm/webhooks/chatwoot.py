"""Chatwoot: ``contact_created``, ``contact_updated`` and ``message_created``.

The Chatwoot contact id is the exclusive ``CHATWOOT`` identifier; its phone and email find
a contact imported with them (households by first name, as ``resolveContact``). Of a message
only its metadata is kept. Other events are accepted and ignored.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from crm.models import Organization, WebhookDelivery
from crm.webhooks.common import resolve, text, when
from crm.webhooks.messaging import record_message
from crm.webhooks.providers import Unprocessable

SOURCE = "chatwoot"
CONTACT_EVENTS = frozenset({"contact_created", "contact_updated"})


def event_of(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    event = payload.get("event")
    event = str(event) if event is not None else None
    if event in {"message_created"} and payload.get("id") is not None:
        # a message is created once: its id names the event (Chatwoot sends no delivery id)
        return event, f"message:{payload['id']}"
    return event, None


def _contact(
    session: Session,
    organization: Organization,
    person: dict[str, Any],
    *,
    delivery: WebhookDelivery,
) -> uuid.UUID:
    chatwoot_id = text(person, "id")
    if chatwoot_id is None:
        raise Unprocessable("the Chatwoot contact has no id")
    raw: dict[str, Any] = {
        "name": text(person, "name"),
        "email": text(person, "email"),
        "phone": text(person, "phone_number"),
        "chatwoot_id": chatwoot_id,
    }
    if identifier := text(person, "identifier"):
        raw["metadata"] = {"chatwoot_identifier": identifier}
    return resolve(
        session,
        organization=organization,
        raw=raw,
        source=SOURCE,
        source_id=f"contact:{chatwoot_id}",
        observed_at=when(person.get("updated_at")) or delivery.received_at,
        actor=f"webhook:{delivery.id}",
    )


def handle(
    session: Session, *, organization: Organization, delivery: WebhookDelivery, payload: dict
) -> str:
    event = str(payload.get("event") or "")
    if event in CONTACT_EVENTS:
        _contact(session, organization, payload, delivery=delivery)
        return "processed"
    if event != "message_created":
        return "ignored"
    conversation = payload.get("conversation") or {}
    sender = payload.get("sender") or {}
    if not isinstance(sender, dict) or sender.get("type") not in (None, "contact"):
        # an agent wrote: the person is the conversation's contact
        meta = conversation.get("meta") if isinstance(conversation, dict) else None
        sender = (meta or {}).get("sender") or {}
    if not isinstance(sender, dict) or sender.get("id") is None:
        return "ignored"
    contact_id = _contact(session, organization, sender, delivery=delivery)
    kind = payload.get("message_type")
    direction = "outbound" if kind in ("outgoing", 1, "1", "template", 3, "3") else "inbound"
    conversation_id = text(conversation, "id") if isinstance(conversation, dict) else None
    record_message(
        session,
        organization_id=organization.id,
        contact_id=contact_id,
        channel="CHATWOOT",
        external_id=str(payload.get("id")),
        direction=direction,
        sent_at=when(payload.get("created_at")) or delivery.received_at,
        conversation_id=conversation_id,
    )
    return "processed"
