"""Reading contacts: by id, by identifier, filtered and searched pages, nested lists in batches."""

from __future__ import annotations

import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection, Dialect
from sqlmodel import Session

from crm.errors import ErrorCode, ServiceError
from crm.identity import Channel, IdentityError, normalize_identifier
from crm.models import MAX_MERGE_CHAIN, Contact, ContactEvent, ContactIdentifier, SourceRecord
from crm.models.base import as_loaded, parse_uuid, utcnow
from crm.pagination import check_first, decode_cursor, encode_cursor
from crm.prepared import PreparedSelect
from crm.search.query import search_contact_ids

STATUSES = ("active", "merged", "erased")
MAX_HISTORY_PAGE = 100


@dataclass(slots=True)
class ContactFilter:
    search: str | None = None
    email: str | None = None
    phone: str | None = None
    status: str | None = "active"
    updated_since: datetime | None = None
    # with a kept PMS appointment within 90 days before or after now (crm.pms.activity)
    active: bool | None = None


@dataclass(slots=True)
class Page:
    items: list[Any]
    cursors: list[str]
    has_next: bool
    has_previous: bool
    total: int


def get_contact(
    session: Session,
    *,
    organization_id: uuid.UUID,
    contact_id: Any,
    follow_merges: bool = False,
) -> Contact | None:
    """The organization's contact with this id, or None (another organization's id included).

    With ``follow_merges``, a merged contact's id leads to the contact it was merged into, and
    on along a chain of merges to the one that is not merged.
    """
    contact_id = parse_uuid(contact_id)
    if contact_id is None:
        return None
    contact = session.get(Contact, contact_id)
    if contact is None or contact.organization_id != organization_id:
        return None
    seen = {contact.id}
    while follow_merges and contact.status == "merged" and contact.merged_into_id is not None:
        target = session.get(Contact, contact.merged_into_id)
        if (
            target is None
            or target.organization_id != organization_id
            or target.id in seen
            or len(seen) > MAX_MERGE_CHAIN
        ):
            break
        seen.add(target.id)
        contact = target
    return contact


def contacts_by_ids(
    session: Session, *, organization_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Contact]:
    """Contacts keyed by id, in one statement."""
    ids = list(set(ids))
    if not ids:
        return {}
    rows = session.exec(
        select(Contact).where(Contact.organization_id == organization_id, Contact.id.in_(ids))
    ).scalars()
    return {c.id: c for c in rows}


def identifier_key(channel: Channel | str, value: str, *, region: str | None) -> tuple[str, str]:
    """The (namespace, value) identity key for a channel and a raw value, or a ServiceError."""
    try:
        key = normalize_identifier(channel, value, region=region)
    except IdentityError as exc:
        raise ServiceError(exc.code.value, exc.message, field="value") from exc
    return key.namespace, key.value


def contacts_by_identifier(
    session: Session,
    *,
    organization_id: uuid.UUID,
    channel: Channel | str,
    value: str,
    region: str | None,
    limit: int | None = None,
) -> list[Contact]:
    """Every holder of the identifier, primary holder first (households share email and phone),
    the first ``limit`` of them when given."""
    namespace, normalized = identifier_key(channel, value, region=region)
    ci = ContactIdentifier
    rows = session.exec(
        select(Contact)
        .join(ci, ci.contact_id == Contact.id)
        .where(
            ci.organization_id == organization_id,
            ci.namespace == namespace,
            ci.value == normalized,
        )
        .order_by(ci.ordinal)
        .limit(limit)
    ).scalars()
    return list(rows)


def contact_by_identifier(
    db: Session | Connection,
    *,
    organization_id: uuid.UUID,
    channel: Channel | str,
    value: str,
    region: str | None,
) -> Contact | None:
    """The primary holder of the identifier, or None (a detached row: this is the hot path of
    messaging integrations, so it is one prepared statement on the connection, without the ORM).
    """
    namespace, normalized = identifier_key(channel, value, region=region)
    connection = db if isinstance(db, Connection) else db.connection()
    row = PRIMARY_HOLDER.first(
        connection, {"org": organization_id, "namespace": namespace, "value": normalized}
    )
    return loaded_contact(row)


async def contact_by_identifier_async(
    connection: AsyncConnection,
    dialect: Dialect,
    *,
    organization_id: uuid.UUID,
    channel: Channel | str,
    value: str,
    region: str | None,
) -> Contact | None:
    """:func:`contact_by_identifier` on an asynchronous psycopg connection (the API's)."""
    namespace, normalized = identifier_key(channel, value, region=region)
    row = await PRIMARY_HOLDER.first_async(
        connection, dialect, {"org": organization_id, "namespace": namespace, "value": normalized}
    )
    return loaded_contact(row)


def loaded_contact(row: tuple | None) -> Contact | None:
    if row is None:
        return None
    return as_loaded(Contact, dict(zip(_CONTACT_ATTRIBUTES, row, strict=True)))


_CONTACTS_TABLE = Contact.__table__
_IDENTIFIERS_TABLE = ContactIdentifier.__table__
# the attribute each column loads into (the "metadata" column is the ``attributes`` field)
_CONTACT_ATTRIBUTES = [
    Contact.__mapper__.get_property_by_column(c).key for c in _CONTACTS_TABLE.columns
]
PRIMARY_HOLDER = PreparedSelect(
    select(*_CONTACTS_TABLE.columns)
    .join(_IDENTIFIERS_TABLE, _IDENTIFIERS_TABLE.c.contact_id == _CONTACTS_TABLE.c.id)
    .where(
        _IDENTIFIERS_TABLE.c.organization_id == bindparam("org"),
        _IDENTIFIERS_TABLE.c.namespace == bindparam("namespace"),
        _IDENTIFIERS_TABLE.c.value == bindparam("value"),
    )
    .order_by(_IDENTIFIERS_TABLE.c.ordinal)
    .limit(1)
)


def _conditions(
    *, organization_id: uuid.UUID, filter: ContactFilter, region: str | None
) -> list[Any]:
    conditions: list[Any] = [Contact.organization_id == organization_id]
    if filter.status:
        status = filter.status.lower()
        if status not in STATUSES:
            raise ServiceError(ErrorCode.INVALID_INPUT, "unknown status", field="status")
        conditions.append(Contact.status == status)
    ci = ContactIdentifier
    for channel, value, name in (
        (Channel.EMAIL, filter.email, "email"),
        (Channel.PHONE, filter.phone, "phone"),
    ):
        if value is None:
            continue
        try:
            namespace, normalized = identifier_key(channel, value, region=region)
        except ServiceError as exc:
            exc.field = name
            raise
        conditions.append(
            Contact.id.in_(
                select(ci.contact_id).where(
                    ci.organization_id == organization_id,
                    ci.namespace == namespace,
                    ci.value == normalized,
                )
            )
        )
    if filter.updated_since is not None:
        conditions.append(Contact.updated_at >= filter.updated_since)
    if filter.active is not None:
        from crm.pms.activity import DEFAULT_ACTIVE_DAYS, has_kept_appointment

        seen = has_kept_appointment(organization_id, DEFAULT_ACTIVE_DAYS, utcnow())
        conditions.append(seen if filter.active else ~seen)
    return conditions


def list_contacts(
    session: Session,
    *,
    organization_id: uuid.UUID,
    first: int = 50,
    after: str | None = None,
    filter: ContactFilter | None = None,
    region: str | None = None,
) -> Page:
    """A page of contacts in creation order (or by relevance when searching), with the total."""
    first = check_first(first)
    filter = filter or ContactFilter()
    conditions = _conditions(organization_id=organization_id, filter=filter, region=region)
    cursor = decode_cursor(after)
    if search := _searchable(filter.search):
        return _search_page(session, conditions, search, first, cursor)
    after_id = parse_uuid(cursor.get("id")) if cursor else None
    if cursor is not None and after_id is None:
        raise ServiceError(ErrorCode.INVALID_INPUT, "invalid cursor", field="after")
    total_sq = select(func.count()).select_from(Contact).where(*conditions).scalar_subquery()
    page_conditions = [*conditions] + ([Contact.id > after_id] if after_id else [])
    rows = session.exec(
        select(Contact, total_sq.label("total"))
        .where(*page_conditions)
        .order_by(Contact.id)
        .limit(first + 1)
    ).all()
    if rows:
        total = rows[0][1]
    else:
        total = session.exec(select(func.count()).select_from(Contact).where(*conditions)).one()[0]
    items = [row[0] for row in rows[:first]]
    return Page(
        items=items,
        cursors=[encode_cursor({"id": str(c.id)}) for c in items],
        has_next=len(rows) > first,
        has_previous=after_id is not None,
        total=total,
    )


def _searchable(text: str | None) -> str:
    """Search text without what no stored text holds: control characters (NUL, which
    PostgreSQL refuses in a parameter) and lone surrogates (which UTF-8 cannot encode)."""
    if not text:
        return ""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text).strip()


def _search_page(
    session: Session, conditions: list[Any], text: str, first: int, cursor: dict | None
) -> Page:
    # a cursor of the unsearched listing ({"id": ...}) must not silently restart at the top
    offset = cursor.get("o") if cursor else 0
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ServiceError(ErrorCode.INVALID_INPUT, "invalid cursor", field="after")
    ranked = search_contact_ids(session, conditions=conditions, text=text)
    window = ranked[offset : offset + first]
    by_id = {c.id: c for c in session.exec(select(Contact).where(Contact.id.in_(window))).scalars()}
    items = [by_id[i] for i in window if i in by_id]
    return Page(
        items=items,
        cursors=[encode_cursor({"o": offset + n + 1}) for n in range(len(items))],
        has_next=offset + first < len(ranked),
        has_previous=offset > 0,
        total=len(ranked),
    )


def identifiers_for(
    session: Session, *, organization_id: uuid.UUID, contact_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[ContactIdentifier]]:
    """Each contact's identifiers, oldest first, in one statement."""
    result: dict[uuid.UUID, list[ContactIdentifier]] = defaultdict(list)
    ids = list(set(contact_ids))
    if ids:
        ci = ContactIdentifier
        rows = session.exec(
            select(ci)
            .where(ci.organization_id == organization_id, ci.contact_id.in_(ids))
            .order_by(ci.contact_id, ci.id)
        ).scalars()
        for row in rows:
            result[row.contact_id].append(row)
    return result


def sources_for(
    session: Session, *, organization_id: uuid.UUID, contact_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[SourceRecord]]:
    """Each contact's current source records (newest observation first), in one statement."""
    result: dict[uuid.UUID, list[SourceRecord]] = defaultdict(list)
    ids = list(set(contact_ids))
    if ids:
        sr = SourceRecord
        rows = session.exec(
            select(sr)
            .where(
                sr.organization_id == organization_id,
                sr.contact_id.in_(ids),
                sr.is_current.is_(True),
            )
            .order_by(sr.contact_id, sr.observed_at.desc(), sr.id)
        ).scalars()
        for row in rows:
            result[row.contact_id].append(row)
    return result


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """A validated request for a page of events: how many, and before which event."""

    first: int
    before: uuid.UUID | None = None


def history_page(*, first: int, after: str | None) -> HistoryPage:
    """``first`` (0 to 100) and the event ``after`` points at, or INVALID_INPUT."""
    first = check_first(first, maximum=MAX_HISTORY_PAGE)
    cursor = decode_cursor(after)
    before = parse_uuid(cursor.get("id")) if cursor else None
    if cursor is not None and before is None:
        raise ServiceError(ErrorCode.INVALID_INPUT, "invalid cursor", field="after")
    return HistoryPage(first=first, before=before)


def history_for(
    session: Session,
    *,
    organization_id: uuid.UUID,
    contact_ids: Iterable[uuid.UUID],
    page: HistoryPage,
) -> dict[uuid.UUID, tuple[list[ContactEvent], bool]]:
    """The newest ``page.first`` events of each contact (before the cursor), in one statement."""
    ids = list(set(contact_ids))
    result: dict[uuid.UUID, tuple[list[ContactEvent], bool]] = {i: ([], False) for i in ids}
    if not ids:
        return result
    ev = ContactEvent
    conditions = [ev.organization_id == organization_id, ev.contact_id.in_(ids)]
    if page.before is not None:
        conditions.append(ev.id < page.before)
    rank = func.row_number().over(partition_by=ev.contact_id, order_by=ev.id.desc()).label("rank")
    inner = select(ev, rank).where(*conditions).subquery()
    stmt = (
        select(inner)
        .where(inner.c.rank <= page.first + 1)
        .order_by(inner.c.contact_id, inner.c.rank)
    )
    grouped: dict[uuid.UUID, list[ContactEvent]] = defaultdict(list)
    for row in session.execute(stmt).mappings():
        data = {k: row[k] for k in row if k != "rank"}
        grouped[row["contact_id"]].append(ContactEvent(**data))
    for contact_id, events in grouped.items():
        result[contact_id] = (events[: page.first], len(events) > page.first)
    return result


def event_cursor(event: ContactEvent) -> str:
    return encode_cursor({"id": str(event.id)})


__all__ = [
    "MAX_HISTORY_PAGE",
    "ContactFilter",
    "HistoryPage",
    "Page",
    "contact_by_identifier",
    "contacts_by_identifier",
    "contacts_by_ids",
    "event_cursor",
    "get_contact",
    "history_for",
    "history_page",
    "identifiers_for",
    "list_contacts",
    "sources_for",
]
