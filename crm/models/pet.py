"""Pets: an animal per owner contact, with its versions (what each source said, in order)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from crm.models.base import (
    byte_ordered,
    contact_of_same_organization,
    json_column,
    ts_column,
    utcnow,
    uuid7,
)

# The pet fields a version carries, in display order (docs/pets.md).
PET_FIELDS = (
    "name",
    "species",
    "breed",
    "sex",
    "desexed",
    "date_of_birth",
    "colour",
    "weight_kg",
    "microchip",
    "status",
)


class Pet(SQLModel, table=True):
    """An animal, owned by one contact (``contact_id``); its fields are its current version.

    ``(organization, microchip)`` is unique: a microchip is an exclusive identifier, so the
    same chip on another owner's pet is a conflict, never a move. ``(organization,
    source_system, source_pet_id)`` is unique: a source's own pet id keys the pet.
    ``version`` is the number of its latest ``pet_versions`` row and the optimistic lock of
    ``updatePet``; a merge moving the pet to the survivor changes ``contact_id`` only.
    """

    __tablename__ = "pets"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID
    contact_id: uuid.UUID = Field(index=True)
    name: str = Field(max_length=100)
    # the name folded (case, accents, spaces): the key of a pet without a source id, per owner
    name_key: str = Field(max_length=100)
    species: str | None = Field(default=None, max_length=50)
    breed: str | None = Field(default=None, max_length=100)
    sex: str | None = Field(default=None, max_length=16)
    desexed: bool | None = None
    date_of_birth: date | None = None
    colour: str | None = Field(default=None, max_length=50)
    weight_kg: float | None = None
    microchip: str | None = Field(default=None, sa_type=byte_ordered(15))
    status: str = Field(default="active", max_length=16)
    source_system: str | None = Field(default=None, sa_type=byte_ordered(64))
    source_pet_id: str | None = Field(default=None, sa_type=byte_ordered(200))
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (
        contact_of_same_organization(),
        sa.UniqueConstraint("organization_id", "microchip"),
        sa.UniqueConstraint("organization_id", "source_system", "source_pet_id"),
        # staff search finds an owner by a substring of a pet's name (``crm.pets.search``)
        sa.Index(
            "ix_pets_name_key_trgm",
            "name_key",
            postgresql_using="gin",
            postgresql_ops={"name_key": "gin_trgm_ops"},
            info={"dialects": ["postgresql"]},
        ).ddl_if(dialect="postgresql"),
        sa.CheckConstraint("status IN ('active','deceased')", name="status"),
        sa.CheckConstraint("sex IN ('male','female','unknown')", name="sex"),
    )


class PetVersion(SQLModel, table=True):
    """One version of a pet: what a source (an import, a person through the API) said, as
    received (``payload``) and the pet's whole state after it (``normalized``). Immutable;
    identical content is never stored twice (no version when nothing changed)."""

    __tablename__ = "pet_versions"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    organization_id: uuid.UUID
    pet_id: uuid.UUID = Field(foreign_key="pets.id")
    version: int
    # the owner when this version was observed
    contact_id: uuid.UUID
    source_system: str = Field(max_length=64)
    source_pet_id: str | None = Field(default=None, max_length=200)
    # sha256 of ``normalized``
    content_hash: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    normalized: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    actor: str | None = Field(default=None, max_length=200)
    import_job_id: uuid.UUID | None = Field(default=None, foreign_key="import_jobs.id")
    line: int | None = None
    observed_at: datetime = Field(default_factory=utcnow, sa_column=ts_column())

    __table_args__ = (sa.UniqueConstraint("pet_id", "version"),)
