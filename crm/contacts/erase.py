"""eraseContact: remove a person's personal data on request (right to erasure).

The contact and every contact merged into it (the same person) become ``erased``
tombstones: their fields are emptied; their identifiers (a household member sharing an email
or phone becomes its primary holder), source records, identifier retractions, duplicate
candidates and pets are deleted; the values in their history events and merge snapshots are
dropped; their appointments are unlinked. Webhook activity and raw deliveries:
``crm.webhooks.erasure``. One ``erased`` event remains, and subscribers get
``contact.erased``.

Source records go rather than keeping their keys: the pipeline follows a record's lineage to
its contact, so a kept record would attach the person's next observation (a new order, a
re-import) to the tombstone, out of sight. Without it, new data about the person is a new
contact, as for anyone never seen; the same webhook event re-sent stays a duplicate in the
inbox and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlmodel import Session

from crm.errors import ErrorCode, NotFound, ServiceError
from crm.identity import SHARED_NAMESPACES
from crm.logging import get_logger
from crm.merging.rows import event, insert_events
from crm.models import (
    MAX_MERGE_CHAIN,
    Contact,
    ContactEvent,
    ContactIdentifier,
    DuplicateCandidate,
    IdentifierRetraction,
    Merge,
    Organization,
    Pet,
    PetVersion,
    PmsAppointment,
    SourceRecord,
    utcnow,
)
from crm.models.base import parse_uuid
from crm.webhooks.erasure import erase_activity, redact_deliveries

log = get_logger(__name__)

PERSONAL_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
)


def _person(session: Session, organization_id: uuid.UUID, contact: Contact) -> list[uuid.UUID]:
    """The contact and every contact merged into it, transitively."""
    ids, frontier = [contact.id], [contact.id]
    for _ in range(MAX_MERGE_CHAIN):
        merged = list(
            session.execute(
                select(Contact.id).where(
                    Contact.organization_id == organization_id,
                    Contact.merged_into_id.in_(frontier),  # type: ignore[union-attr]
                )
            ).scalars()
        )
        frontier = [m for m in merged if m not in ids]
        ids.extend(frontier)
        if not frontier:
            break
    return ids


def _drop_identifiers(
    session: Session, organization_id: uuid.UUID, ids: list[uuid.UUID]
) -> set[tuple[str, str]]:
    """Delete the identifiers; a shared value's next holder becomes its primary. Their keys."""
    ci = ContactIdentifier
    rows = session.execute(
        select(ci.namespace, ci.value, ci.ordinal).where(
            ci.organization_id == organization_id,
            ci.contact_id.in_(ids),  # type: ignore[attr-defined]
        )
    ).all()
    session.execute(
        delete(ci).where(ci.organization_id == organization_id, ci.contact_id.in_(ids))  # type: ignore[arg-type, attr-defined]
    )
    for namespace, value, ordinal in rows:
        if ordinal != 0 or namespace not in SHARED_NAMESPACES:
            continue
        where = (
            ci.organization_id == organization_id,
            ci.namespace == namespace,
            ci.value == value,
        )
        successor = session.execute(select(func.min(ci.ordinal)).where(*where)).scalar()
        if successor is not None:
            session.execute(update(ci).where(*where, ci.ordinal == successor).values(ordinal=0))
    return {(namespace, value) for namespace, value, _ in rows}


def erase_contact(
    session: Session, *, organization: Organization, contact_id: Any, actor: str | None
) -> tuple[Contact, dict[str, int]]:
    """Erase the contact (and those merged into it); the erased contact and what was removed.
    Erasing it again changes nothing; a merged contact is erased through its survivor."""
    ident = parse_uuid(contact_id)
    contact = session.get(Contact, ident) if ident is not None else None
    if contact is None or contact.organization_id != organization.id:
        raise NotFound("contact", field="id")
    if contact.status == "erased":
        return contact, {}
    if contact.status == "merged":
        raise ServiceError(
            ErrorCode.NOT_ACTIVE,
            f"the contact was merged into {contact.merged_into_id}: erase that contact",
            field="id",
        )
    org, now = organization.id, utcnow()
    ids = _person(session, org, contact)
    counts: dict[str, int] = {"contacts": len(ids)}

    keys = _drop_identifiers(session, org, ids)
    counts["identifiers"] = len(keys)
    counts |= erase_activity(session, organization_id=org, contact_ids=ids)
    counts["deliveries_redacted"] = redact_deliveries(
        session,
        organization_id=org,
        region=organization.default_region,
        contact_ids=ids,
        keys=keys,
    )
    session.execute(
        delete(IdentifierRetraction).where(
            IdentifierRetraction.organization_id == org,  # type: ignore[arg-type]
            IdentifierRetraction.contact_id.in_(ids),  # type: ignore[attr-defined]
        )
    )
    counts["source_records"] = (
        session.execute(
            delete(SourceRecord).where(
                SourceRecord.organization_id == org,  # type: ignore[arg-type]
                SourceRecord.contact_id.in_(ids),  # type: ignore[attr-defined]
            )
        ).rowcount
        or 0
    )
    session.execute(
        update(ContactEvent)
        .where(ContactEvent.organization_id == org, ContactEvent.contact_id.in_(ids))  # type: ignore[arg-type, attr-defined]
        .values(old_value=None, new_value=None, data={})
    )
    session.execute(
        update(Merge)
        .where(
            Merge.organization_id == org,  # type: ignore[arg-type]
            Merge.survivor_id.in_(ids) | Merge.merged_id.in_(ids),  # type: ignore[attr-defined]
        )
        .values(undo={})
    )
    pair = DuplicateCandidate.contact_a_id.in_(ids) | DuplicateCandidate.contact_b_id.in_(ids)  # type: ignore[attr-defined]
    candidates = select(DuplicateCandidate.id).where(
        DuplicateCandidate.organization_id == org,  # type: ignore[arg-type]
        pair,
    )
    session.execute(
        update(Merge).where(Merge.candidate_id.in_(candidates)).values(candidate_id=None)  # type: ignore[union-attr]
    )
    session.execute(
        delete(DuplicateCandidate).where(DuplicateCandidate.organization_id == org, pair)  # type: ignore[arg-type]
    )
    pets = select(Pet.id).where(Pet.organization_id == org, Pet.contact_id.in_(ids))  # type: ignore[arg-type, attr-defined]
    session.execute(delete(PetVersion).where(PetVersion.pet_id.in_(pets)))  # type: ignore[attr-defined]
    counts["pets"] = (
        session.execute(
            delete(Pet).where(Pet.organization_id == org, Pet.contact_id.in_(ids))  # type: ignore[arg-type, attr-defined]
        ).rowcount
        or 0
    )
    session.execute(
        update(PmsAppointment)
        .where(PmsAppointment.organization_id == org, PmsAppointment.contact_id.in_(ids))  # type: ignore[arg-type, union-attr]
        .values(contact_id=None)
    )
    session.execute(
        update(Contact)
        .where(Contact.organization_id == org, Contact.id.in_(ids))  # type: ignore[arg-type, attr-defined]
        .values(
            {name: None for name in PERSONAL_FIELDS}
            | {
                "status": "erased",
                "attributes": {},
                "field_sources": {},
                "search_text": "",
                "source_systems": [],
                "version": Contact.version + 1,
                "updated_at": now,
            }
        )
    )
    insert_events(
        session,
        [
            event(
                organization_id=org,
                contact_id=contact.id,
                kind="erased",
                actor=actor,
                now=now,
                data={"contacts": len(ids)},
            )
        ],
    )
    session.flush()
    session.refresh(contact)
    log.info("crm.contacts.erased", contact_id=str(contact.id), **counts)
    return contact, counts
