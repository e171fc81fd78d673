"""WhatsApp Cloud API: inbound messages. ``wa_id`` is the person's number (the shared ``tel``
key, so it finds the contact imported with that phone), observed as source ``whatsapp``.
The profile name is a self-chosen display name: it never decides who the person is (it is
not matched against a household's first names); once the number has found its contact, the
name is observed on that contact as source ``social:whatsapp``, the lowest priority, so any
other source's name wins. Statuses, system and unknown message types are accepted and
ignored.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from crm.identity import Channel
from crm.models import Organization, WebhookDelivery
from crm.webhooks.common import resolve, when
from crm.webhooks.messaging import record_message

SOURCE = "whatsapp"
PROFILE_SOURCE = "social:whatsapp"
MESSAGE_TYPES = frozenset(
    {
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "button",
        "reaction",
        "order",
    }
)


def _values(payload: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or [] if isinstance(entry, dict) else []:
            if isinstance(change, dict) and isinstance(change.get("value"), dict):
                out.append(change["value"])
    return out


def event_of(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    values = _values(payload)
    if any(v.get("messages") for v in values):
        return "messages", None
    if any(v.get("statuses") for v in values):
        return "statuses", None
    return str(payload.get("object") or "unknown"), None


def handle(
    session: Session, *, organization: Organization, delivery: WebhookDelivery, payload: dict
) -> str:
    recorded = 0
    for value in _values(payload):
        names = {
            str(c.get("wa_id")): ((c.get("profile") or {}).get("name"))
            for c in value.get("contacts") or []
            if isinstance(c, dict)
        }
        for message in value.get("messages") or []:
            if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
                continue
            wa_id = str(message.get("from") or "").strip()
            if not wa_id or not message.get("id"):
                continue
            sent_at = when(message.get("timestamp")) or delivery.received_at
            contact_id = resolve(
                session,
                organization=organization,
                raw={},
                source=SOURCE,
                keys=[(Channel.WHATSAPP, "+" + wa_id.lstrip("+"))],
                source_id=f"wa:{wa_id}",
                observed_at=sent_at,
                actor=f"webhook:{delivery.id}",
            )
            if profile := names.get(wa_id):
                contact_id = resolve(
                    session,
                    organization=organization,
                    raw={"name": str(profile)},
                    source=PROFILE_SOURCE,
                    source_id=f"profile:{wa_id}",
                    observed_at=sent_at,
                    contact_id=contact_id,
                    actor=f"webhook:{delivery.id}",
                )
            record_message(
                session,
                organization_id=organization.id,
                contact_id=contact_id,
                channel="WHATSAPP",
                external_id=str(message["id"]),
                direction="inbound",
                sent_at=sent_at,
                conversation_id=wa_id,
            )
            recorded += 1
    return "processed" if recorded else "ignored"
