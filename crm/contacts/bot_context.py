"""What a messaging bot needs about a contact, in one call: ``contactContext``.

The contact's next and last kept appointment, its active subscriptions and its last order,
with those of the contacts merged into it (one level, as ``Contact.activity`` reads
appointments). Four small prepared statements on the request's connection, no ORM: this is
the messaging integrations' hot path, like ``contactByIdentifier``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import bindparam, or_, select
from sqlalchemy.engine import Connection, Dialect

from crm.models import Contact, Order, PmsAppointment, Subscription
from crm.models.base import as_loaded, utcnow
from crm.pms.activity import KEPT
from crm.prepared import PreparedSelect

# active subscriptions listed, at most
MAX_SUBSCRIPTIONS = 20


@dataclass(slots=True)
class BotContext:
    next_appointment: PmsAppointment | None = None
    last_appointment: PmsAppointment | None = None
    active_subscriptions: list[Subscription] = field(default_factory=list)
    last_order: Order | None = None


_CONTACTS = Contact.__table__
_APPOINTMENTS = PmsAppointment.__table__
_ORDERS = Order.__table__
_SUBSCRIPTIONS = Subscription.__table__


def _columns(model: type) -> list[str]:
    return [model.__mapper__.get_property_by_column(c).key for c in model.__table__.columns]


def _owned(table: Any) -> Any:
    """``table``'s rows of the contact or of a contact merged into it."""
    return table.c.contact_id.in_(
        select(_CONTACTS.c.id).where(
            _CONTACTS.c.organization_id == bindparam("org"),
            or_(_CONTACTS.c.id == bindparam("cid"), _CONTACTS.c.merged_into_id == bindparam("cid")),
        )
    )


def _appointment(upcoming: bool) -> PreparedSelect:
    t = _APPOINTMENTS
    when = t.c.starts_at >= bindparam("now") if upcoming else t.c.starts_at < bindparam("now")
    order = t.c.starts_at.asc() if upcoming else t.c.starts_at.desc()
    return PreparedSelect(
        select(*t.columns)
        .where(
            t.c.organization_id == bindparam("org"),
            _owned(t),
            # not IN (...): an expanding parameter cannot be prepared once
            or_(*(t.c.status == status for status in KEPT)),
            when,
        )
        .order_by(order, t.c.id)
        .limit(1)
    )


_NEXT = _appointment(upcoming=True)
_LAST = _appointment(upcoming=False)
_ACTIVE_SUBSCRIPTIONS = PreparedSelect(
    select(*_SUBSCRIPTIONS.columns)
    .where(
        _SUBSCRIPTIONS.c.organization_id == bindparam("org"),
        _owned(_SUBSCRIPTIONS),
        _SUBSCRIPTIONS.c.status == "active",
    )
    .order_by(_SUBSCRIPTIONS.c.created_at.desc(), _SUBSCRIPTIONS.c.id)
    .limit(MAX_SUBSCRIPTIONS)
)
_LAST_ORDER = PreparedSelect(
    select(*_ORDERS.columns)
    .where(_ORDERS.c.organization_id == bindparam("org"), _owned(_ORDERS))
    .order_by(_ORDERS.c.created_at.desc(), _ORDERS.c.id.desc())
    .limit(1)
)
_APPOINTMENT_ATTRS = _columns(PmsAppointment)
_ORDER_ATTRS = _columns(Order)
_SUBSCRIPTION_ATTRS = _columns(Subscription)


def _loaded(model: type, attrs: list[str], row: tuple | None) -> Any:
    if row is None:
        return None
    return as_loaded(model, dict(zip(attrs, row, strict=True)))


def _context(nxt: Any, last: Any, subscriptions: list[tuple], order: Any) -> BotContext:
    return BotContext(
        next_appointment=_loaded(PmsAppointment, _APPOINTMENT_ATTRS, nxt),
        last_appointment=_loaded(PmsAppointment, _APPOINTMENT_ATTRS, last),
        active_subscriptions=[_loaded(Subscription, _SUBSCRIPTION_ATTRS, r) for r in subscriptions],
        last_order=_loaded(Order, _ORDER_ATTRS, order),
    )


def bot_context(
    connection: Connection,
    *,
    organization_id: uuid.UUID,
    contact_id: uuid.UUID,
    now: datetime | None = None,
) -> BotContext:
    """The contact's next and last kept appointment, active subscriptions and last order."""
    params = {"org": organization_id, "cid": contact_id, "now": now or utcnow()}
    return _context(
        _NEXT.first(connection, params),
        _LAST.first(connection, params),
        _ACTIVE_SUBSCRIPTIONS.all(connection, params),
        _LAST_ORDER.first(connection, params),
    )


async def bot_context_async(
    connection: AsyncConnection,
    dialect: Dialect,
    *,
    organization_id: uuid.UUID,
    contact_id: uuid.UUID,
    now: datetime | None = None,
) -> BotContext:
    """:func:`bot_context` on an asynchronous psycopg connection (the API's)."""
    params = {"org": organization_id, "cid": contact_id, "now": now or utcnow()}
    return _context(
        await _NEXT.first_async(connection, dialect, params),
        await _LAST.first_async(connection, dialect, params),
        await _ACTIVE_SUBSCRIPTIONS.all_async(connection, dialect, params),
        await _LAST_ORDER.first_async(connection, dialect, params),
    )
