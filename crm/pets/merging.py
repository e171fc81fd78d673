"""Pets through merges: a merged contact's pets move to the survivor, and unmerge takes back
exactly the ones it moved (the merge's undo data lists them: ``pets``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlmodel import Session

from crm.db import in_values
from crm.db_write import update_rows
from crm.models import Pet, utcnow

PETS = Pet.__table__


def pets_held(
    session: Session, *, organization_id: uuid.UUID, contact_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each contact's pet ids, in one statement."""
    held: dict[uuid.UUID, list[uuid.UUID]] = {}
    ids = list(contact_ids)
    if not ids:
        return held
    for pet_id, contact_id in session.execute(
        select(Pet.id, Pet.contact_id)
        .where(Pet.organization_id == organization_id, in_values(Pet.contact_id, ids))
        .order_by(Pet.id)
    ):
        held.setdefault(contact_id, []).append(pet_id)
    return held


def move_pets(session: Session, moves: dict[uuid.UUID, uuid.UUID]) -> None:
    """Each pet (id) to its new owner (contact id); content and version unchanged."""
    if moves:
        now = utcnow()
        update_rows(
            session,
            PETS,
            [{"id": pid, "contact_id": cid, "updated_at": now} for pid, cid in moves.items()],
        )


def restore_pets(
    session: Session,
    *,
    organization_id: uuid.UUID,
    merged_id: uuid.UUID,
    pet_ids: Iterable[str],
    chain: set[uuid.UUID],
) -> None:
    """The pets a merge moved go back to the merged contact, those still with the survivor
    (or a contact it was merged into since); a pet a person moved elsewhere since stays."""
    ids = [uuid.UUID(p) for p in pet_ids]
    if not ids:
        return
    session.execute(
        update(Pet)
        .where(
            Pet.organization_id == organization_id,
            Pet.id.in_(ids),
            Pet.contact_id.in_(list(chain)),
        )
        .values(contact_id=merged_id, updated_at=utcnow())
    )
