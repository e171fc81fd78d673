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

from crm.contacts.queries import PRIMARY_HOLDER, identifier_key, loaded_contact
from crm.models import Contact, ContactIdentifier, Order, PmsAppointment, Subscription
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
_IDENTIFIERS = ContactIdentifier.__table__


def _columns(model: type) -> list[str]:
    return [model.__mapper__.get_property_by_column(c).key for c in model.__table__.columns]


def _owned(table: Any, owner: Any) -> Any:
    """``table``'s rows of the contact ``owner`` or of a contact merged into it."""
    return table.c.contact_id.in_(
        select(_CONTACTS.c.id).where(
            _CONTACTS.c.organization_id == bindparam("org"),
            or_(_CONTACTS.c.id == owner, _CONTACTS.c.merged_into_id == owner),
        )
    )


def _appointment(owner: Any, *, upcoming: bool) -> PreparedSelect:
    t = _APPOINTMENTS
    when = t.c.starts_at >= bindparam("now") if upcoming else t.c.starts_at < bindparam("now")
    order = t.c.starts_at.asc() if upcoming else t.c.starts_at.desc()
    return PreparedSelect(
        select(*t.columns)
        .where(
            t.c.organization_id == bindparam("org"),
            _owned(t, owner),
            # not IN (...): an expanding parameter cannot be prepared once
            or_(*(t.c.status == status for status in KEPT)),
            when,
        )
        .order_by(order, t.c.id)
        .limit(1)
    )


def _statements(owner: Any) -> list[tuple[PreparedSelect, bool]]:
    """Next and last appointment, active subscriptions (every row), last order, of ``owner``."""
    subscriptions = PreparedSelect(
        select(*_SUBSCRIPTIONS.columns)
        .where(
            _SUBSCRIPTIONS.c.organization_id == bindparam("org"),
            _owned(_SUBSCRIPTIONS, owner),
            _SUBSCRIPTIONS.c.status == "active",
        )
        .order_by(_SUBSCRIPTIONS.c.created_at.desc(), _SUBSCRIPTIONS.c.id)
        .limit(MAX_SUBSCRIPTIONS)
    )
    last_order = PreparedSelect(
        select(*_ORDERS.columns)
        .where(_ORDERS.c.organization_id == bindparam("org"), _owned(_ORDERS, owner))
        .order_by(_ORDERS.c.created_at.desc(), _ORDERS.c.id.desc())
        .limit(1)
    )
    return [
        (_appointment(owner, upcoming=True), False),
        (_appointment(owner, upcoming=False), False),
        (subscriptions, True),
        (last_order, False),
    ]


# of a contact by id
_BY_ID = _statements(bindparam("cid"))
# of the primary holder of an identifier, so that the lookup and the context go together
_HOLDER = (
    select(_IDENTIFIERS.c.contact_id)
    .where(
        _IDENTIFIERS.c.organization_id == bindparam("org"),
        _IDENTIFIERS.c.namespace == bindparam("namespace"),
        _IDENTIFIERS.c.value == bindparam("value"),
    )
    .order_by(_IDENTIFIERS.c.ordinal)
    .limit(1)
    .scalar_subquery()
)
_BY_IDENTIFIER = _statements(_HOLDER)
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
        *(
            statement.all(connection, params) if every else statement.first(connection, params)
            for statement, every in _BY_ID
        )
    )


async def bot_context_async(
    connection: AsyncConnection,
    dialect: Dialect,
    *,
    organization_id: uuid.UUID,
    contact_id: uuid.UUID,
    now: datetime | None = None,
) -> BotContext:
    """:func:`bot_context` on an asynchronous psycopg connection (the API's), in one round
    trip (on a busy machine each round trip waits for the scheduler as much as for
    PostgreSQL)."""
    params = {"org": organization_id, "cid": contact_id, "now": now or utcnow()}
    found = await PreparedSelect.pipelined_async(
        connection, dialect, [(statement, params, every) for statement, every in _BY_ID]
    )
    return _context(*found)


async def contact_and_context_async(
    connection: AsyncConnection,
    dialect: Dialect,
    *,
    organization_id: uuid.UUID,
    channel: Any,
    value: str,
    region: str | None,
    now: datetime | None = None,
) -> tuple[Contact | None, BotContext]:
    """The identifier's primary holder (as ``contact_by_identifier``) and its context, the five
    statements in one round trip."""
    namespace, normalized = identifier_key(channel, value, region=region)
    params = {
        "org": organization_id,
        "namespace": namespace,
        "value": normalized,
        "now": now or utcnow(),
    }
    holder, *found = await PreparedSelect.pipelined_async(
        connection,
        dialect,
        [(PRIMARY_HOLDER, params, False)]
        + [(statement, params, every) for statement, every in _BY_IDENTIFIER],
    )
    return loaded_contact(holder), _context(*found)
