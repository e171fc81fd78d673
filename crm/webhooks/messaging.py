"""Message metadata (channel, direction, time, conversation): never the text."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from crm.models import Message


def record_message(
    session: Session,
    *,
    organization_id: uuid.UUID,
    contact_id: uuid.UUID,
    channel: str,
    external_id: str,
    direction: str,
    sent_at: datetime,
    conversation_id: str | None,
) -> Message:
    """The message's row: one per channel and provider message id (a redelivery adds none)."""
    statement = select(Message).where(
        Message.organization_id == organization_id,
        Message.channel == channel,
        Message.external_id == external_id,
    )
    row = session.exec(statement).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = Message(
                organization_id=organization_id,
                contact_id=contact_id,
                channel=channel,
                external_id=external_id[:200],
                direction=direction,
                sent_at=sent_at,
                conversation_id=conversation_id,
            )
            session.add(row)
            session.flush()
    except IntegrityError:
        row = session.exec(statement).one()
    return row
