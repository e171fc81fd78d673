"""A contact's timeline: appointments, orders and their status changes, subscription changes,
prescriptions and messages, newest first, for many contacts in a fixed number of statements.

Entries of the contacts merged into a contact count for it (activity rows keep the contact
they came to, so an unmerge gives them back). Pages are keyset pages over (time, key), the key
being unique per entry, so a page boundary never repeats or skips an entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, select

from crm.models import (
    MAX_MERGE_CHAIN,
    Contact,
    Message,
    Order,
    PmsAppointment,
    Prescription,
    Subscription,
)
from crm.pagination import check_first, decode_cursor, encode_cursor, invalid_cursor

MAX_TIMELINE_PAGE = 200


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    kind: str  # appointment, order, order_status, subscription, prescription, message
    at: datetime
    key: str  # unique per entry: kind, row id and change
    status: str | None = None  # the appointment's, order's or subscription's status
    title: str | None = None  # appointment type, drug, channel
    detail: str | None = None  # practitioner, message direction, order total
    reference: str | None = None  # the row's id in its source (order, PMS appointment...)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _owners(
    session: Session, organization_id: uuid.UUID, requested: list[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    owner = {i: i for i in requested}
    frontier = list(requested)
    for _ in range(MAX_MERGE_CHAIN):
        merged = session.exec(
            select(Contact.id, Contact.merged_into_id).where(
                Contact.organization_id == organization_id,
                Contact.merged_into_id.in_(frontier),  # type: ignore[union-attr]
            )
        ).all()
        frontier = [m for m, _ in merged if m not in owner]
        for merged_id, into in merged:
            owner.setdefault(merged_id, owner[into])
        if not frontier:
            break
    return owner


def _rows(session: Session, model: type, organization_id: uuid.UUID, ids: list[uuid.UUID]):
    return session.exec(
        select(model).where(
            model.organization_id == organization_id,  # type: ignore[attr-defined]
            model.contact_id.in_(ids),  # type: ignore[attr-defined]
        )
    )


def _order_entries(o: Order) -> list[TimelineEntry]:
    placed = _aware(o.ordered_at or o.created_at)
    total = f"{o.total_amount} {o.currency or ''}".strip() if o.total_amount is not None else None
    out = [
        TimelineEntry(
            kind="order",
            at=placed,  # type: ignore[arg-type]
            key=f"order:{o.id}",
            status=o.status,
            detail=total,
            reference=o.external_id,
        )
    ]
    for n, change in enumerate(o.status_history or []):
        at = _parse(change.get("at")) if isinstance(change, dict) else None
        if at is None or change.get("created"):
            continue  # the order's creation is the order entry itself
        out.append(
            TimelineEntry(
                kind="order_status",
                at=at,
                key=f"order_status:{o.id}:{n}",
                status=change.get("status"),
                reference=o.external_id,
            )
        )
    return out


def _subscription_entries(s: Subscription) -> list[TimelineEntry]:
    changes = [("created", s.created_at), ("paused", s.paused_at), ("cancelled", s.cancelled_at)]
    return [
        TimelineEntry(
            kind="subscription",
            at=_aware(at),  # type: ignore[arg-type]
            key=f"subscription:{s.id}:{change}",
            status=change,
            reference=s.external_id,
        )
        for change, at in changes
        if at is not None
    ]


def timelines_for(
    session: Session, *, organization_id: uuid.UUID, contact_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[TimelineEntry]]:
    """Each contact's whole timeline, newest first (six statements whatever the number of
    contacts, plus one per level of merges)."""
    requested = list(dict.fromkeys(contact_ids))
    out: dict[uuid.UUID, list[TimelineEntry]] = {i: [] for i in requested}
    if not requested:
        return out
    owner = _owners(session, organization_id, requested)
    ids = list(owner)
    for a in _rows(session, PmsAppointment, organization_id, ids):
        if a.status == "deleted":
            continue
        out[owner[a.contact_id]].append(
            TimelineEntry(
                kind="appointment",
                at=_aware(a.starts_at),  # type: ignore[arg-type]
                key=f"appointment:{a.id}",
                status=a.status,
                title=a.appointment_type_name,
                detail=a.practitioner_name,
                reference=a.pms_id,
            )
        )
    for o in _rows(session, Order, organization_id, ids):
        out[owner[o.contact_id]].extend(_order_entries(o))
    for s in _rows(session, Subscription, organization_id, ids):
        out[owner[s.contact_id]].extend(_subscription_entries(s))
    for p in _rows(session, Prescription, organization_id, ids):
        out[owner[p.contact_id]].append(
            TimelineEntry(
                kind="prescription",
                at=_aware(p.prescribed_at or p.created_at),  # type: ignore[arg-type]
                key=f"prescription:{p.id}",
                title=p.drug_name,
                reference=p.external_id,
            )
        )
    for m in _rows(session, Message, organization_id, ids):
        out[owner[m.contact_id]].append(
            TimelineEntry(
                kind="message",
                at=_aware(m.sent_at),  # type: ignore[arg-type]
                key=f"message:{m.id}",
                title=m.channel,
                detail=m.direction,
                reference=m.conversation_id,
            )
        )
    for entries in out.values():
        entries.sort(key=lambda e: (e.at, e.key), reverse=True)
    return out


@dataclass(frozen=True, slots=True)
class TimelinePage:
    entries: list[TimelineEntry]
    cursors: list[str]
    has_next: bool
    total: int


def _cursor(entry: TimelineEntry) -> str:
    return encode_cursor({"at": entry.at.isoformat(), "k": entry.key})


def timeline_page(
    entries: Sequence[TimelineEntry], *, first: int, after: str | None
) -> TimelinePage:
    """``first`` entries (at most 200) older than the ``after`` cursor's, newest first."""
    first = check_first(first, maximum=MAX_TIMELINE_PAGE)
    start = 0
    cursor = decode_cursor(after)
    if cursor is not None:
        at, key = _parse(cursor.get("at")), cursor.get("k")
        if at is None or not isinstance(key, str):
            raise invalid_cursor()
        boundary = (at, key)
        start = next((n for n, e in enumerate(entries) if (e.at, e.key) < boundary), len(entries))
    page = list(entries[start : start + first])
    return TimelinePage(
        entries=page,
        cursors=[_cursor(e) for e in page],
        has_next=start + first < len(entries),
        total=len(entries),
    )
