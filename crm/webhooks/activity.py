"""A contact's commerce and messaging activity, for many contacts in four statements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from crm.models import MAX_MERGE_CHAIN, Contact, Message, Order, Prescription, Subscription


@dataclass
class CommerceActivity:
    orders: list[Order] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    prescriptions: list[Prescription] = field(default_factory=list)
    last_message_at: datetime | None = None


def activity_for(
    session: Session, *, organization_id: uuid.UUID, contact_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CommerceActivity]:
    """Each contact's orders (newest first), subscriptions, prescriptions and last message,
    with those of the contacts merged into it (activity rows keep the contact they came to)."""
    requested = list(dict.fromkeys(contact_ids))
    out = {i: CommerceActivity() for i in requested}
    if not requested:
        return out
    # contact id -> the requested contact it counts for (itself, or the survivor of a merge)
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
    ids = list(owner)
    for model, attr in (
        (Order, "orders"),
        (Subscription, "subscriptions"),
        (Prescription, "prescriptions"),
    ):
        rows = session.exec(
            select(model)
            .where(model.organization_id == organization_id, model.contact_id.in_(ids))  # type: ignore[attr-defined]
            .order_by(model.created_at.desc())  # type: ignore[attr-defined]
        )
        for row in rows:
            getattr(out[owner[row.contact_id]], attr).append(row)
    last = session.exec(
        select(Message.contact_id, func.max(Message.sent_at))
        .where(Message.organization_id == organization_id, Message.contact_id.in_(ids))  # type: ignore[union-attr]
        .group_by(Message.contact_id)
    )
    for contact_id, sent_at in last:
        if sent_at is None:
            continue
        if sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=UTC)
        target = out[owner[contact_id]]
        if target.last_message_at is None or sent_at > target.last_message_at:
            target.last_message_at = sent_at
    return out
