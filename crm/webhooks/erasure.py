"""What erasing a contact removes from the webhook side (docs/webhooks.md, "Erasure").

- Its activity: orders (with line items and status history), subscriptions, prescriptions
  and message metadata are deleted: they describe the person's purchases, treatment and
  conversations, and nothing else needs them.
- The raw deliveries that named it: their body is replaced by ``{}``. A delivery names the
  contact when its processing wrote an event on it (``actor = webhook:<delivery id>``), or when
  one of the identity keys its provider's handler reads (CarePortals customer email, phone and
  ``_id``; Chatwoot contact id, email and phone; WhatsApp ``wa_id``) normalises to one of
  the contact's keys. The delivery row stays, with its event id: a provider re-sending the
  same event is still a duplicate and does not bring the person back.

Finding those deliveries reads every stored delivery of the organization once, in pages:
erasure is rare, and no index maps a body to a person.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session

from crm.identity import Channel, IdentityError, normalize_identifier
from crm.models import (
    ContactEvent,
    Message,
    Order,
    Prescription,
    Subscription,
    WebhookDelivery,
)
from crm.webhooks.common import flatten, text

Key = tuple[str, str]  # (namespace, normalised value)

REDACTED = b"{}"
REDACTED_NOTE = "the body was erased with the contact it named"
PAGE = 500


def erase_activity(
    session: Session, *, organization_id: uuid.UUID, contact_ids: Collection[uuid.UUID]
) -> dict[str, int]:
    """Delete the contacts' orders, subscriptions, prescriptions and messages; counts."""
    counts: dict[str, int] = {}
    for model, name in (
        (Order, "orders"),
        (Subscription, "subscriptions"),
        (Prescription, "prescriptions"),
        (Message, "messages"),
    ):
        result = session.execute(
            delete(model).where(
                model.organization_id == organization_id,  # type: ignore[arg-type]
                model.contact_id.in_(list(contact_ids)),  # type: ignore[union-attr]
            )
        )
        counts[name] = result.rowcount or 0
    return counts


def _key(channel: Channel, value: Any, region: str | None) -> Key | None:
    if value is None or isinstance(value, dict | list | bool):
        return None
    try:
        found = normalize_identifier(channel, str(value), region=region)
    except IdentityError:
        return None
    return (found.namespace, found.value)


def named_keys(provider: str, payload: dict[str, Any], *, region: str | None) -> set[Key]:
    """The identity keys a delivery's handler reads to find its person."""
    keys: set[Key | None] = set()
    if provider == "CAREPORTALS":
        data = payload.get("data")
        data = flatten(data) if isinstance(data, dict) else {}
        keys.add(_key(Channel.EMAIL, text(data, "customer.email", "email"), region))
        phone = text(data, "customer.phone", "customer.phoneNumber", "phone")
        keys.add(_key(Channel.PHONE, phone, region))
        customer = text(data, "customer._id", "customer.id", "customerId")
        keys.add(_key(Channel.CAREPORTALS, customer, region))
    elif provider == "CHATWOOT":
        people = [payload]
        for path in (("sender",), ("conversation", "meta", "sender")):
            node: Any = payload
            for step in path:
                node = node.get(step) if isinstance(node, dict) else None
            if isinstance(node, dict):
                people.append(node)
        for person in people:
            keys.add(_key(Channel.CHATWOOT, text(person, "id"), region))
            keys.add(_key(Channel.EMAIL, text(person, "email"), region))
            keys.add(_key(Channel.PHONE, text(person, "phone_number"), region))
    elif provider == "WHATSAPP":
        for entry in payload.get("entry") or []:
            for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
                value = change.get("value") if isinstance(change, dict) else None
                if not isinstance(value, dict):
                    continue
                for item in (value.get("messages") or []) + (value.get("contacts") or []):
                    if isinstance(item, dict):
                        wa_id = item.get("from") or item.get("wa_id")
                        if wa_id:
                            keys.add(_key(Channel.WHATSAPP, "+" + str(wa_id).lstrip("+"), region))
    keys.discard(None)
    return keys  # type: ignore[return-value]


def _acted(
    session: Session, *, organization_id: uuid.UUID, contact_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Deliveries whose processing wrote an event on one of the contacts."""
    actors = session.execute(
        select(ContactEvent.actor)  # type: ignore[call-overload]
        .where(
            ContactEvent.organization_id == organization_id,
            ContactEvent.contact_id.in_(list(contact_ids)),  # type: ignore[attr-defined]
            ContactEvent.actor.like("webhook:%"),  # type: ignore[union-attr]
        )
        .distinct()
    ).scalars()
    out: set[uuid.UUID] = set()
    for actor in actors:
        # "webhook:<id>", or "webhook:<first id>+<n>" for a batch (the rest of which the
        # keys find)
        try:
            out.add(uuid.UUID(actor.removeprefix("webhook:").split("+")[0]))
        except ValueError:
            continue
    return out


def _pages(session: Session, organization_id: uuid.UUID) -> Iterator[list[Any]]:
    last: uuid.UUID | None = None
    while True:
        statement = (
            select(WebhookDelivery.id, WebhookDelivery.provider, WebhookDelivery.body)  # type: ignore[call-overload]
            .where(WebhookDelivery.organization_id == organization_id)
            .order_by(WebhookDelivery.id)
            .limit(PAGE)
        )
        if last is not None:
            statement = statement.where(WebhookDelivery.id > last)
        rows = session.execute(statement).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def redact_deliveries(
    session: Session,
    *,
    organization_id: uuid.UUID,
    region: str | None,
    contact_ids: Collection[uuid.UUID],
    keys: Collection[Key],
) -> int:
    """Empty the body of every delivery of the organization that named one of the contacts
    (by event actor or by one of ``keys``); how many."""
    wanted = set(keys)
    named = _acted(session, organization_id=organization_id, contact_ids=contact_ids)
    for rows in _pages(session, organization_id):
        for ident, provider, body in rows:
            if ident in named or body == REDACTED:
                continue
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(payload, dict) and named_keys(provider, payload, region=region) & wanted:
                named.add(ident)
    if not named:
        return 0
    found = 0
    chunk = sorted(named)
    for start in range(0, len(chunk), PAGE):
        scope = (
            WebhookDelivery.organization_id == organization_id,
            WebhookDelivery.id.in_(chunk[start : start + PAGE]),  # type: ignore[attr-defined]
        )
        # nothing is left to process in a delivery still waiting for it
        session.execute(
            update(WebhookDelivery)
            .where(*scope, WebhookDelivery.status.in_(("received", "failed")))  # type: ignore[attr-defined]
            .values(status="ignored", next_attempt_at=None)
        )
        result = session.execute(
            update(WebhookDelivery).where(*scope).values(body=REDACTED, last_error=REDACTED_NOTE)
        )
        found += result.rowcount or 0
    return found
