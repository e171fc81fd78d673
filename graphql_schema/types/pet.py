"""The Pet type: an animal of an owner contact, with its versions (docs/pets.md)."""

from __future__ import annotations

import datetime
import enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from crm.models import Pet as PetModel
from crm.models import PetVersion as PetVersionModel
from crm.pets.service import MAX_VERSIONS, pet_versions
from graphql_schema.context import Info
from graphql_schema.off_the_loop import database_field

if TYPE_CHECKING:
    from graphql_schema.types.contact import Contact


@strawberry.enum(description="A pet's sex as recorded (desexing is `desexed`).")
class PetSex(enum.Enum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


@strawberry.enum(description="Whether the pet is alive.")
class PetStatus(enum.Enum):
    ACTIVE = "active"
    DECEASED = "deceased"


@strawberry.type(description="One version of a pet: what a source said and the pet after it.")
class PetVersion:
    version: int = strawberry.field(description="1 for the first, +1 for each change.")
    source: str = strawberry.field(description="The source (csv, manual...) that said it.")
    external_id: str | None = strawberry.field(description="The source's own pet id, if any.")
    owner_id: strawberry.ID = strawberry.field(description="The owner when it was observed.")
    payload: JSON = strawberry.field(description="What the source sent, as received.")
    normalized: JSON = strawberry.field(description="The pet's fields after this version.")
    actor: str | None = strawberry.field(description="The API key or import that wrote it.")
    observed_at: datetime.datetime = strawberry.field(description="When it was stored.")

    @classmethod
    def from_model(cls, row: PetVersionModel) -> PetVersion:
        return cls(
            version=row.version,
            source=row.source_system,
            external_id=row.source_pet_id,
            owner_id=strawberry.ID(str(row.contact_id)),
            payload=row.payload,
            normalized=row.normalized,
            actor=row.actor,
            observed_at=row.observed_at,
        )


@strawberry.type(
    description="An animal of an owner contact: what a vet prescription needs. The microchip "
    "identifies one animal in the organization."
)
class Pet:
    _model: strawberry.Private[PetModel]

    id: strawberry.ID = strawberry.field(description="Pet id.")
    name: str = strawberry.field(description="The pet's name.")
    species: str | None = strawberry.field(description="Dog, cat... as the source wrote it.")
    breed: str | None = strawberry.field(description="Breed as the source wrote it.")
    sex: PetSex | None = strawberry.field(description="MALE, FEMALE or UNKNOWN; null if not given.")
    desexed: bool | None = strawberry.field(
        description="Desexed (neutered/spayed); null if unknown."
    )
    date_of_birth: datetime.date | None = strawberry.field(description="Date of birth.")
    colour: str | None = strawberry.field(description="Colour / markings.")
    weight_kg: float | None = strawberry.field(description="Weight in kilograms.")
    microchip: str | None = strawberry.field(
        description="Microchip number without separators: 15 digits (ISO 11784/11785), or an "
        "older chip's 9 digits or 10 hexadecimal characters."
    )
    status: PetStatus = strawberry.field(description="ACTIVE or DECEASED.")
    source: str | None = strawberry.field(description="The source whose pet id keys it.")
    external_id: str | None = strawberry.field(description="That source's pet id.")
    owner_id: strawberry.ID = strawberry.field(description="The owner contact's id.")
    version: int = strawberry.field(
        description="Increments on every change; pass it to updatePet for optimistic locking."
    )
    created_at: datetime.datetime = strawberry.field(description="When it was created.")
    updated_at: datetime.datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_model(cls, row: PetModel) -> Pet:
        return cls(
            _model=row,
            id=strawberry.ID(str(row.id)),
            name=row.name,
            species=row.species,
            breed=row.breed,
            sex=PetSex(row.sex) if row.sex else None,
            desexed=row.desexed,
            date_of_birth=row.date_of_birth,
            colour=row.colour,
            weight_kg=row.weight_kg,
            microchip=row.microchip,
            status=PetStatus(row.status),
            source=row.source_system,
            external_id=row.source_pet_id,
            owner_id=strawberry.ID(str(row.contact_id)),
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The owner contact.")
    async def owner(
        self, info: Info
    ) -> Annotated[Contact, strawberry.lazy("graphql_schema.types.contact")] | None:
        from graphql_schema.types.contact import Contact

        row = await info.context.loaders.contact_by_id.load(self._model.contact_id)
        return Contact.from_model(row) if row is not None else None

    @database_field(description=f"The pet's versions, newest first (at most {MAX_VERSIONS}).")
    def versions(self, info: Info) -> list[PetVersion]:
        ctx = info.context
        rows = pet_versions(ctx.session, organization_id=ctx.organization.id, pet_id=self._model.id)
        return [PetVersion.from_model(r) for r in rows]


def pet_or_none(row: PetModel | None) -> Pet | None:
    return Pet.from_model(row) if row is not None else None
