"""Writing events to the outbox, in the transaction of the change they report.

One row per event and subscription that wants it, inserted set-based (COPY on PostgreSQL), so
an import batch costs one subscriptions read plus, only when someone subscribed, one insert.
Payloads carry ids, never personal data: a receiver reads the contact through the API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from crm.db_write import insert_rows
from crm.models import WebhookOutbox, WebhookSubscription, utcnow
from crm.models.base import uuid7

OUTBOX = WebhookOutbox.__table__
SUBSCRIPTIONS = WebhookSubscription.__table__


Subscribed = list[tuple[uuid.UUID, list[str]]]


def subscribed(session: Session, organization_id: uuid.UUID) -> Subscribed:
    """The live, enabled subscriptions and the events each wants (one indexed read)."""
    rows = session.execute(
        select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.events).where(
            SUBSCRIPTIONS.c.organization_id == organization_id,
            SUBSCRIPTIONS.c.deleted_at.is_(None),
            SUBSCRIPTIONS.c.disabled_at.is_(None),
        )
    ).all()
    return [(sid, list(events or [])) for sid, events in rows]


def body(event_type: str, data: Mapping[str, Any], at: datetime) -> str:
    """The Standard Webhooks payload: ``{"type", "timestamp", "data"}``."""
    return json.dumps(
        {"type": event_type, "timestamp": at.isoformat(), "data": dict(data)},
        separators=(",", ":"),
        sort_keys=True,
    )


def emit(
    session: Session,
    *,
    organization_id: uuid.UUID,
    event_type: str,
    items: Iterable[Mapping[str, Any]],
    subscriptions: Subscribed | None = None,
) -> int:
    """Queue ``event_type`` once per item for every subscription that wants it; how many rows.
    ``subscriptions``: what :func:`subscribed` returned, when the caller already read it."""
    items = list(items)
    if not items:
        return 0
    if subscriptions is None:
        subscriptions = subscribed(session, organization_id)
    targets = [sid for sid, events in subscriptions if event_type in events]
    if not targets:
        return 0
    now = utcnow()
    rows = [
        {
            "id": uuid7(),
            "organization_id": organization_id,
            "subscription_id": sid,
            "event_type": event_type,
            "body": body(event_type, item, now),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "last_status_code": None,
            "last_error": None,
            "created_at": now,
            "delivered_at": None,
        }
        for sid in targets
        for item in items
    ]
    insert_rows(session, OUTBOX, rows)
    return len(rows)


# contact events (the audit trail) -> webhook events
_UPDATES = ("field_changed", "identifier_linked", "identifier_unlinked")


def from_contact_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Queue contact.created / updated / merged / unmerged / erased for contact events written
    (the pipeline's store and the merges call this beside their insert)."""
    if not events:
        return
    by_org: dict[uuid.UUID, dict[str, list[dict[str, Any]]]] = {}
    settled: set[tuple[uuid.UUID, Any]] = set()  # contacts with a created/merge event here
    for e in events:
        kind, data = e["kind"], e.get("data") or {}
        out = by_org.setdefault(e["organization_id"], {})
        if kind in ("created", "erased"):
            out.setdefault(f"contact.{kind}", []).append({"contactId": str(e["contact_id"])})
            settled.add((e["organization_id"], e["contact_id"]))
        elif kind in ("merged", "unmerged") and data.get("role") == "survivor":
            item = {
                "contactId": str(e["contact_id"]),
                "mergeId": data.get("merge_id"),
            }
            if kind == "merged":
                item["mergedContactIds"] = [data.get("merged_id")] if data.get("merged_id") else []
            else:
                item["restoredContactId"] = data.get("merged_id")
            out.setdefault(f"contact.{kind}", []).append(item)
            settled.add((e["organization_id"], e["contact_id"]))
    for e in events:
        key = (e["organization_id"], e["contact_id"])
        if e["kind"] in _UPDATES and key not in settled:
            settled.add(key)
            by_org.setdefault(e["organization_id"], {}).setdefault("contact.updated", []).append(
                {"contactId": str(e["contact_id"])}
            )
    for organization_id, kinds in by_org.items():
        if not kinds:
            continue
        subscriptions = subscribed(session, organization_id)
        if not subscriptions:
            continue
        for event_type, items in kinds.items():
            emit(
                session,
                organization_id=organization_id,
                event_type=event_type,
                items=items,
                subscriptions=subscriptions,
            )
