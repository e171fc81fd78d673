"""Export active contacts as the canonical CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable
from typing import IO

from sqlalchemy import select
from sqlmodel import Session

from crm.contacts.queries import identifiers_for
from crm.importing.columns import EXPORT_COLUMNS
from crm.importing.reader import FORMULA_STARTS
from crm.models import Contact, ContactIdentifier
from crm.pets.export import PET_EXPORT_COLUMNS, has_pets, pet_export_values
from crm.pets.service import pets_for

CHUNK = 2000
# identifier namespace -> export column, for the channels that have their own column
_IDENTIFIER_COLUMNS = {
    "instagram": "instagram",
    "facebook": "facebook",
    "cliniko": "cliniko_id",
    "gentu": "gentu_id",
    "halaxy": "halaxy_id",
    "medirecords": "medirecords_id",
}


def neutralise(value: str) -> str:
    """Prefix a cell a spreadsheet would run as a formula (OWASP CSV injection)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def export_values(contact: Contact, identifiers: Iterable[ContactIdentifier]) -> dict[str, str]:
    """The contact as one canonical CSV row (plain values, not yet neutralised)."""
    row = dict.fromkeys(EXPORT_COLUMNS, "")
    row["contact_id"] = str(contact.id)
    for name in (
        "first_name",
        "last_name",
        "email",
        "phone",
        "address_line1",
        "address_line2",
        "city",
        "region",
        "postal_code",
        "country",
    ):
        row[name] = getattr(contact, name) or ""
    if contact.date_of_birth:
        row["date_of_birth"] = contact.date_of_birth.isoformat()
    for ident in identifiers:
        column = _IDENTIFIER_COLUMNS.get(ident.namespace)
        if ident.channel == "WHATSAPP":
            column = "whatsapp"
        if column and not row[column]:
            row[column] = ident.value
        elif ident.namespace == "external" and not row["external_id"]:
            row["external_id"] = _external_id(ident)
    notes = (contact.attributes or {}).get("notes")
    if isinstance(notes, str):
        row["notes"] = notes
    return row


def _external_id(ident: ContactIdentifier) -> str:
    """The id an import gave the contact (``<source>:<id>`` stored): its oldest, so that the
    export imported again (with the same ``--source``) finds the same source record."""
    prefix = f"{ident.source}:" if ident.source else ""
    if prefix and ident.value.startswith(prefix):
        return ident.value[len(prefix) :]
    return ident.value.partition(":")[2]


def export_contacts(session: Session, *, organization_id: uuid.UUID, out: IO[str]) -> int:
    """Write every active contact to ``out``; returns how many were written."""
    writer = csv.writer(out, lineterminator="\r\n")
    # pets (docs/pets.md): one row per pet, the owner repeated; columns only when there are
    with_pets = has_pets(session, organization_id=organization_id)
    columns = (*EXPORT_COLUMNS, *PET_EXPORT_COLUMNS) if with_pets else EXPORT_COLUMNS
    writer.writerow(columns)
    written = 0
    after: uuid.UUID | None = None
    while True:
        stmt = (
            select(Contact)
            .where(Contact.organization_id == organization_id, Contact.status == "active")
            .order_by(Contact.id)
            .limit(CHUNK)
        )
        if after is not None:
            stmt = stmt.where(Contact.id > after)
        contacts = list(session.exec(stmt).scalars())
        if not contacts:
            return written
        idents = identifiers_for(
            session, organization_id=organization_id, contact_ids=[c.id for c in contacts]
        )
        pets = (
            pets_for(session, organization_id=organization_id, contact_ids=[c.id for c in contacts])
            if with_pets
            else {}
        )
        for contact in contacts:
            values = export_values(contact, idents.get(contact.id, []))
            for pet in pets.get(contact.id) or [None]:
                if with_pets:
                    values.update(pet_export_values(pet))
                writer.writerow([neutralise(values[c]) for c in columns])
        written += len(contacts)
        after = contacts[-1].id
        session.expunge_all()
