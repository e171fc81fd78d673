"""Reading the inbox: deliveries newest first, by keyset."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from crm.errors import ErrorCode, ServiceError
from crm.models import WebhookDelivery
from crm.models.base import parse_uuid
from crm.models.webhooks import DELIVERY_STATUSES
from crm.pagination import check_first, decode_cursor, encode_cursor, invalid_cursor


@dataclass
class DeliveryPage:
    items: list[WebhookDelivery]
    cursors: list[str]
    has_next: bool
    total: int


def list_deliveries(
    session: Session,
    *,
    organization_id: uuid.UUID,
    status: str | None = None,
    first: int = 50,
    after: str | None = None,
) -> DeliveryPage:
    """The organization's deliveries (of one status), newest first; ``first`` 0 to 500."""
    check_first(first)
    if status is not None and status not in DELIVERY_STATUSES:
        raise ServiceError(ErrorCode.INVALID_INPUT, "unknown delivery status", field="status")
    scope = [WebhookDelivery.organization_id == organization_id]
    if status is not None:
        scope.append(WebhookDelivery.status == status)
    total = session.exec(select(func.count()).select_from(WebhookDelivery).where(*scope)).one()
    statement = select(WebhookDelivery).where(*scope)
    cursor = decode_cursor(after)
    if cursor is not None:
        last = parse_uuid(cursor.get("id"))
        if last is None:
            raise invalid_cursor()
        statement = statement.where(WebhookDelivery.id < last)  # type: ignore[operator]
    rows = list(
        session.exec(statement.order_by(WebhookDelivery.id.desc()).limit(first + 1))  # type: ignore[attr-defined]
    )
    items = rows[:first]
    return DeliveryPage(
        items=items,
        cursors=[encode_cursor({"id": str(r.id)}) for r in items],
        has_next=len(rows) > first,
        total=total,
    )
