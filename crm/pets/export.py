"""Pets in the canonical CSV export: one row per pet, its owner's columns repeated."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlmodel import Session

from crm.importing.pet_columns import PET_COLUMN_FIELDS
from crm.models import Pet

# every pet column, in the order the format lists them (docs/pets.md)
PET_EXPORT_COLUMNS = tuple(PET_COLUMN_FIELDS)


def has_pets(session: Session, *, organization_id: uuid.UUID) -> bool:
    """Whether the export writes pet columns: only for an organization with pets, so that
    every other export keeps its columns."""
    found = session.execute(
        select(Pet.id).where(Pet.organization_id == organization_id).limit(1)
    ).first()
    return found is not None


def pet_export_values(pet: Pet | None) -> dict[str, str]:
    """The pet's columns (all empty for a contact without pets)."""
    row = dict.fromkeys(PET_EXPORT_COLUMNS, "")
    if pet is None:
        return row
    for column, field in PET_COLUMN_FIELDS.items():
        if field is None:
            continue
        value = getattr(pet, field)
        if value is None:
            continue
        if isinstance(value, bool):
            row[column] = "yes" if value else "no"
        elif hasattr(value, "isoformat"):
            row[column] = value.isoformat()
        elif isinstance(value, float):
            row[column] = f"{value:g}"
        else:
            row[column] = str(value)
    row["pet_external_id"] = pet.source_pet_id or ""
    row["crm_pet_id"] = str(pet.id)
    return row
