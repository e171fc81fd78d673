"""What a messaging bot needs about a contact, in one call: ``contactContext``.

The contact's next and last kept appointment, its active subscriptions and its last order,
with those of the contacts merged into it (one level, as ``Contact.activity`` reads
appointments). This is the messaging integrations' hot path, like ``contactByIdentifier``.

On the API's asynchronous PostgreSQL connection it is one prepared statement: the
identifier's primary holder (or a contact by id) with its context in LATERAL subqueries, one
row back, the activity as plain rows (named tuples, no ORM instances). Elsewhere (SQLite, the
synchronous connection) four small statements that return ORM-shaped rows; both give the same
answer (``tests/webhooks/test_contact_context.py`` compares them on PostgreSQL).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from psycopg import AsyncConnection
from sqlalchemy import bindparam, or_, select
from sqlalchemy.engine import Connection, Dialect

from crm.contacts.queries import identifier_key, loaded_contact
from crm.models import Contact, Order, PmsAppointment, Subscription
from crm.models.base import as_loaded, utcnow
from crm.pms.activity import KEPT
from crm.prepared import PreparedSelect

# the column types' result processors, as PreparedSelect applies them
from crm.prepared import _result_processor as result_processor

# active subscriptions listed, at most
MAX_SUBSCRIPTIONS = 20


class AppointmentRow(NamedTuple):
    """What ``contactContext`` shows of an appointment (the model's attribute names)."""

    id: uuid.UUID
    pms_id: str
    starts_at: datetime
    ends_at: datetime | None
    status: str
    practitioner_name: str | None
    appointment_type_name: str | None
    telehealth: bool


class OrderRow(NamedTuple):
    """What ``contactContext`` shows of an order (the model's attribute names)."""

    external_id: str
    source: str
    status: str | None
    total_amount: Decimal | None
    currency: str | None
    coupon: str | None
    ordered_at: datetime | None
    created_at: datetime
    status_history: list[Any]
    line_items: list[Any]


class SubscriptionRow(NamedTuple):
    """What ``contactContext`` shows of a subscription (the model's attribute names)."""

    external_id: str
    status: str
    paused_at: datetime | None
    cancelled_at: datetime | None


@dataclass(slots=True)
class BotContext:
    """The context: model instances (synchronous path) or the rows above (one statement);
    both have the attributes ``contactContext``'s types read."""

    next_appointment: PmsAppointment | AppointmentRow | None = None
    last_appointment: PmsAppointment | AppointmentRow | None = None
    active_subscriptions: list[Subscription] | list[SubscriptionRow] = field(default_factory=list)
    last_order: Order | OrderRow | None = None


_CONTACTS = Contact.__table__
_APPOINTMENTS = PmsAppointment.__table__
_ORDERS = Order.__table__
_SUBSCRIPTIONS = Subscription.__table__


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


# of a contact by id (the synchronous path)
_BY_ID = _statements(bindparam("cid"))
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


# One statement (PostgreSQL): the holder, then its context in LATERAL subqueries ------------

assert all(status.isalpha() for status in KEPT)  # inlined in the SQL below
_KEPT_SQL = " OR ".join(f"a.status = '{status}'" for status in KEPT)


def _appointment_sql(alias: str, *, upcoming: bool) -> str:
    columns = ", ".join(f"a.{name}" for name in AppointmentRow._fields)
    if upcoming:
        when, order = "a.starts_at >= %(now)s", "a.starts_at"
    else:
        when, order = "a.starts_at < %(now)s", "a.starts_at DESC"
    return (
        f"LEFT JOIN LATERAL (SELECT {columns} FROM pms_appointments AS a "
        "WHERE a.organization_id = %(org)s AND a.contact_id = ANY (owned.ids) "
        f"AND ({_KEPT_SQL}) AND {when} ORDER BY {order}, a.id LIMIT 1) AS {alias} ON true"
    )


def _context_sql(holder: str, contact_columns: str) -> str:
    """The statement: ``holder`` (a subquery ``h`` with the contact's ``id``) and its context.
    Zero rows when there is no holder; else one: ``contact_columns``, then the next and last
    appointment's, the last order's and the active subscriptions' columns as arrays (newest
    first). The contact and those merged into it (``owned.ids``) are read once."""
    appointment = ", ".join(f"{{0}}.{name}" for name in AppointmentRow._fields)
    order = ", ".join(f"o.{name}" for name in OrderRow._fields)
    subscription = ", ".join(f"v.{name}" for name in SubscriptionRow._fields)
    arrays = ", ".join(
        f"array_agg(v.{name} ORDER BY v.created_at DESC, v.id) AS {name}"
        for name in SubscriptionRow._fields
    )
    return " ".join(
        [
            f"SELECT {contact_columns}{appointment.format('n')}, {appointment.format('l')}, "
            f"{', '.join(f'lo.{name}' for name in OrderRow._fields)}, "
            f"{', '.join(f's.{name}' for name in SubscriptionRow._fields)}",
            f"FROM {holder} AS h",
            "CROSS JOIN LATERAL (SELECT array_agg(m.id) AS ids FROM contacts AS m "
            "WHERE m.organization_id = %(org)s AND (m.id = h.id OR m.merged_into_id = h.id)) "
            "AS owned",
            _appointment_sql("n", upcoming=True),
            _appointment_sql("l", upcoming=False),
            f"LEFT JOIN LATERAL (SELECT {order} FROM orders AS o "
            "WHERE o.organization_id = %(org)s AND o.contact_id = ANY (owned.ids) "
            "ORDER BY o.created_at DESC, o.id DESC LIMIT 1) AS lo ON true",
            f"CROSS JOIN LATERAL (SELECT {arrays} FROM (SELECT {subscription}, v.created_at, "
            "v.id FROM subscriptions AS v WHERE v.organization_id = %(org)s "
            "AND v.contact_id = ANY (owned.ids) AND v.status = 'active' "
            f"ORDER BY v.created_at DESC, v.id LIMIT {MAX_SUBSCRIPTIONS}) AS v) AS s",
        ]
    )


_CONTACT_COLUMN_NAMES = [c.name for c in _CONTACTS.columns]
_CONTACT_SQL = "".join(f'h."{name}", ' for name in _CONTACT_COLUMN_NAMES)
# the identifier's primary holder, as ``PRIMARY_HOLDER`` finds it, with every contact column
_BY_IDENTIFIER_SQL = _context_sql(
    "(SELECT c.* FROM contact_identifiers AS i JOIN contacts AS c ON c.id = i.contact_id "
    "WHERE i.organization_id = %(org)s AND i.namespace = %(namespace)s "
    "AND i.value = %(value)s ORDER BY i.ordinal LIMIT 1)",
    _CONTACT_SQL,
)
# a contact by id (the contact itself is not read back)
_BY_ID_SQL = _context_sql(
    "(SELECT c.id FROM contacts AS c WHERE c.organization_id = %(org)s AND c.id = %(cid)s)", ""
)


class _Decoder:
    """A result row of the statements above as (contact values, BotContext), the values
    processed as SQLAlchemy would (its result processors, computed once per dialect)."""

    def __init__(self, dialect: Dialect) -> None:
        def processors(table: Any, names: list[str] | tuple[str, ...]) -> list[Any]:
            return [result_processor(table.c[name], dialect) for name in names]

        self.contact = processors(_CONTACTS, _CONTACT_COLUMN_NAMES)
        self.appointment = processors(_APPOINTMENTS, AppointmentRow._fields)
        self.order = processors(_ORDERS, OrderRow._fields)
        self.subscription = processors(_SUBSCRIPTIONS, SubscriptionRow._fields)

    @staticmethod
    def _values(processors: list[Any], values: tuple | list) -> list[Any]:
        return [
            v if p is None or v is None else p(v) for p, v in zip(processors, values, strict=True)
        ]

    def contact_values(self, row: tuple) -> list[Any]:
        return self._values(self.contact, row[: len(self.contact)])

    def context(self, row: tuple, start: int) -> BotContext:
        """The context from the row's columns at ``start`` onwards."""
        width = len(self.appointment)
        at = start
        nxt, last = row[at : at + width], row[at + width : at + 2 * width]
        at += 2 * width
        order = row[at : at + len(self.order)]
        at += len(self.order)
        arrays = row[at:]
        subscriptions = []
        if arrays[0] is not None:
            subscriptions = [
                SubscriptionRow._make(self._values(self.subscription, values))
                for values in zip(*arrays, strict=True)
            ]
        return BotContext(
            # the id and the start are never null: a null one means no appointment
            next_appointment=AppointmentRow._make(self._values(self.appointment, nxt))
            if nxt[0] is not None
            else None,
            last_appointment=AppointmentRow._make(self._values(self.appointment, last))
            if last[0] is not None
            else None,
            active_subscriptions=subscriptions,
            last_order=OrderRow._make(self._values(self.order, order))
            if order[0] is not None
            else None,
        )


_DECODERS: dict[int, _Decoder] = {}


def _decoder(dialect: Dialect) -> _Decoder:
    found = _DECODERS.get(id(dialect))
    if found is None:
        found = _DECODERS[id(dialect)] = _Decoder(dialect)
    return found


async def _one_row(connection: AsyncConnection, sql: str, params: dict[str, Any]) -> tuple | None:
    async with connection.cursor() as cursor:
        await cursor.execute(sql, params, prepare=True)
        return await cursor.fetchone()


async def bot_context_async(
    connection: AsyncConnection,
    dialect: Dialect,
    *,
    organization_id: uuid.UUID,
    contact_id: uuid.UUID,
    now: datetime | None = None,
) -> BotContext:
    """:func:`bot_context` on an asynchronous psycopg connection (the API's): one statement."""
    params = {"org": organization_id, "cid": contact_id, "now": now or utcnow()}
    row = await _one_row(connection, _BY_ID_SQL, params)
    return _decoder(dialect).context(row, 0) if row is not None else BotContext()


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
    """The identifier's primary holder (as ``contact_by_identifier``) and its context, in one
    statement."""
    namespace, normalized = identifier_key(channel, value, region=region)
    params = {
        "org": organization_id,
        "namespace": namespace,
        "value": normalized,
        "now": now or utcnow(),
    }
    row = await _one_row(connection, _BY_IDENTIFIER_SQL, params)
    if row is None:
        return None, BotContext()
    decoder = _decoder(dialect)
    return loaded_contact(decoder.contact_values(row)), decoder.context(row, len(decoder.contact))
