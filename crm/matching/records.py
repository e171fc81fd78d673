"""What the matcher knows of a contact: comparison keys, read from the database in chunks.

A ``MatchRecord`` holds only what blocking and scoring need (name keys, date of birth, the
contact's emails, phones and exclusive identifiers, postcode, city and address tokens), with
repeated strings interned, so that a whole organization fits in a few hundred bytes a contact.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from crm.db import is_postgres
from crm.identity import name_key
from crm.models import Contact, ContactIdentifier

# identifiers that say nothing across contacts: "external" is one source's own record id
_IGNORED_NAMESPACES = frozenset({"external"})
_ADDRESS_WORDS = {
    "street": "st",
    "str": "st",
    "road": "rd",
    "avenue": "ave",
    "av": "ave",
    "parade": "pde",
    "crescent": "cres",
    "court": "ct",
    "drive": "dr",
    "place": "pl",
    "lane": "ln",
    "highway": "hwy",
    "terrace": "tce",
    "boulevard": "blvd",
    "circuit": "cct",
    "close": "cl",
    "square": "sq",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
}
# unit markers carry no information once the unit number is a token of its own
_ADDRESS_NOISE = frozenset({"unit", "u", "apt", "apartment", "flat", "suite", "level", "lvl"})
_TOKEN = re.compile(r"[^\W_]+")


@dataclass(slots=True, eq=False)
class MatchRecord:
    """One active contact as the matcher sees it; ``idx`` is its position in the run."""

    idx: int
    id: uuid.UUID
    first: str  # the first name as stored ("" when none): nicknames and initials need it
    fkey: str  # name_key of the first name
    lkey: str  # name_key of the last name
    dob: date | None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    # exclusive identifiers (PMS patient ids, social handles, chat ids): (namespace, value)
    ids: tuple[tuple[str, str], ...] = ()
    postcode: str = ""
    city: str = ""
    street: str = ""  # normalised address line 1 tokens, space-separated
    changed: bool = field(default=True)

    @property
    def has_address(self) -> bool:
        return bool(self.street or self.postcode)


def address_tokens(value: str | None) -> str:
    """Address line tokens, lower-case with common abbreviations folded ("12 Smith Street"
    and "12 smith st" give "12 smith st"); unit markers dropped ("Unit 3/12" -> "3 12")."""
    if not value:
        return ""
    tokens = []
    for token in _TOKEN.findall(value.lower()):
        if token in _ADDRESS_NOISE:
            continue
        tokens.append(_ADDRESS_WORDS.get(token, token))
    return " ".join(tokens)


def postcode_key(value: str | None) -> str:
    return "".join(value.split()).upper() if value else ""


def build_record(
    idx: int,
    row: Any,
    identifiers: Iterable[tuple[str, str]] = (),
    *,
    changed: bool = True,
) -> MatchRecord:
    """A record from a contact row (attributes or mapping keys named as the contact's columns)
    and its identifiers as ``(namespace, value)``."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name, None)
    intern = sys.intern
    first = get("first_name") or ""
    emails: list[str] = []
    phones: list[str] = []
    ids: list[tuple[str, str]] = []
    for namespace, value in identifiers:
        if namespace == "email":
            emails.append(value)
        elif namespace == "tel":
            phones.append(value)
        elif namespace not in _IGNORED_NAMESPACES:
            ids.append((intern(namespace), value))
    if (email := get("email")) and email not in emails:
        emails.append(email)
    if (phone := get("phone")) and phone not in phones:
        phones.append(phone)
    dob = get("date_of_birth")
    if isinstance(dob, str):
        dob = date.fromisoformat(dob)
    return MatchRecord(
        idx=idx,
        id=get("id"),
        first=intern(first),
        fkey=intern(name_key(first)),
        lkey=intern(name_key(get("last_name"))),
        dob=dob,
        emails=tuple(emails),
        phones=tuple(phones),
        ids=tuple(ids),
        postcode=intern(postcode_key(get("postal_code"))),
        city=intern(name_key(get("city"))),
        street=address_tokens(get("address_line1")),
        changed=changed,
    )


_COLUMNS = (
    Contact.id,
    Contact.first_name,
    Contact.last_name,
    Contact.date_of_birth,
    Contact.email,
    Contact.phone,
    Contact.address_line1,
    Contact.city,
    Contact.postal_code,
    Contact.updated_at,
)


def iter_record_chunks(
    session: Session,
    *,
    organization_id: uuid.UUID,
    changed_since: datetime | None = None,
    chunk_size: int | None = None,
    start: int = 0,
) -> Iterator[list[MatchRecord]]:
    """Every active contact of the organization as records, ``chunk_size`` at a time.

    Keyset paging by id: each chunk is one statement for the contacts and one range scan for
    their identifiers, and no transaction stays open between chunks. With ``changed_since``,
    ``changed`` marks the contacts updated at or after it (all are returned).
    """
    if chunk_size is None:
        chunk_size = 20_000 if is_postgres(session) else 5_000
    ci = ContactIdentifier
    after: uuid.UUID | None = None
    idx = start
    while True:
        stmt = select(*_COLUMNS).where(
            Contact.organization_id == organization_id, Contact.status == "active"
        )
        if after is not None:
            stmt = stmt.where(Contact.id > after)
        rows = session.execute(stmt.order_by(Contact.id).limit(chunk_size)).all()
        if not rows:
            return
        lo, hi = rows[0].id, rows[-1].id
        held: dict[uuid.UUID, list[tuple[str, str]]] = {}
        for contact_id, namespace, value in session.execute(
            select(ci.contact_id, ci.namespace, ci.value).where(
                ci.organization_id == organization_id,
                ci.contact_id >= lo,
                ci.contact_id <= hi,
            )
        ):
            held.setdefault(contact_id, []).append((namespace, value))
        chunk = []
        for row in rows:
            changed = changed_since is None or _at_or_after(row.updated_at, changed_since)
            chunk.append(build_record(idx, row, held.get(row.id, ()), changed=changed))
            idx += 1
        yield chunk
        after = hi
        if len(rows) < chunk_size:
            return


def _at_or_after(value: datetime | None, since: datetime) -> bool:
    if value is None:
        return True
    if value.tzinfo is None and since.tzinfo is not None:
        value = value.replace(tzinfo=since.tzinfo)
    return value >= since
