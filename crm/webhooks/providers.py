"""Dispatch by provider: which event a body is, and what processing it does."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from crm.models import Organization, WebhookDelivery


class Unprocessable(Exception):
    """The delivery is well-formed JSON but cannot be processed (retrying will not help):
    stored as ``rejected`` with this reason (no personal data in it)."""


def event_of(provider: str, payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """(event type, the provider's event id or None) of a parsed body."""
    from crm.webhooks import careportals, chatwoot, whatsapp

    module = {"CAREPORTALS": careportals, "CHATWOOT": chatwoot, "WHATSAPP": whatsapp}[provider]
    return module.event_of(payload)


def handle(session: Session, *, organization: Organization, delivery: WebhookDelivery) -> str:
    """Process ``delivery`` in ``session``: ``processed`` or ``ignored`` (an event we do not
    use), or raise (``Unprocessable``: rejected; anything else: failed, retried)."""
    from crm.webhooks import careportals, chatwoot, whatsapp

    module = {"CAREPORTALS": careportals, "CHATWOOT": chatwoot, "WHATSAPP": whatsapp}[
        delivery.provider
    ]
    payload = json.loads(delivery.body)
    if not isinstance(payload, dict):
        raise Unprocessable("the body is not a JSON object")
    return module.handle(session, organization=organization, delivery=delivery, payload=payload)
