"""A contact's commerce and messaging activity, for many contacts in four statements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from crm.models import Message, Order, Prescription, Subscription


@dataclass
class CommerceActivity:
    orders: list[Order] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    prescriptions: list[Prescription] = field(default_factory=list)
    last_message_at: datetime | None = None


def activity_for(
    session: Session, *, organization_id: uuid.UUID, contact_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CommerceActivity]:
    """Each contact's orders (newest first), subscriptions, prescriptions and last message."""
    ids = list(dict.fromkeys(contact_ids))
    out = {i: CommerceActivity() for i in ids}
    if not ids:
        return out
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
            getattr(out[row.contact_id], attr).append(row)
    last = session.exec(
        select(Message.contact_id, func.max(Message.sent_at))
        .where(Message.organization_id == organization_id, Message.contact_id.in_(ids))  # type: ignore[union-attr]
        .group_by(Message.contact_id)
    )
    for contact_id, sent_at in last:
        if sent_at is not None and sent_at.tzinfo is None:
            from datetime import UTC

            sent_at = sent_at.replace(tzinfo=UTC)
        out[contact_id].last_message_at = sent_at
    return out
