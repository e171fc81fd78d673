"""createPet and updatePet: a person's pet data, versioned like every source's (docs/pets.md)."""

from __future__ import annotations

from typing import Any

import strawberry

from crm.pets.service import create_pet, update_pet
from graphql_schema.context import Info
from graphql_schema.mutations.base import run_command
from graphql_schema.types.common import UserError
from graphql_schema.types.pet import Pet, PetSex, PetStatus

_HELP = {
    "name": "The pet's name.",
    "species": "Dog, cat... (free text, at most 50 characters).",
    "breed": "Breed (free text, at most 100 characters).",
    "sex": "MALE, FEMALE or UNKNOWN.",
    "desexed": "Desexed (neutered/spayed).",
    "date_of_birth": "YYYY-MM-DD, YYYYMMDD or DD/MM/YYYY (the organization's region).",
    "colour": "Colour / markings (at most 50 characters).",
    "weight_kg": "Weight in kilograms (above 0).",
    "microchip": "Microchip number in any format: 15 digits (ISO 11784/11785), or an older "
    "chip's 9 digits or 10 hexadecimal characters. Held by another pet: MICROCHIP_CONFLICT.",
    "status": "ACTIVE or DECEASED.",
}


def _field(name: str) -> Any:
    return strawberry.field(default=None, description=_HELP[name])


def _data(input: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in _HELP:
        value = getattr(input, name)
        if value is None:
            continue
        data[name] = value.value if isinstance(value, PetSex | PetStatus) else value
    return data


@strawberry.input(description="A new pet of an active contact.")
class CreatePetInput:
    owner_id: strawberry.ID = strawberry.field(
        description="The owner contact (a merged contact's id leads to its survivor)."
    )
    name: str = strawberry.field(description=_HELP["name"])
    species: str | None = _field("species")
    breed: str | None = _field("breed")
    sex: PetSex | None = _field("sex")
    desexed: bool | None = _field("desexed")
    date_of_birth: str | None = _field("date_of_birth")
    colour: str | None = _field("colour")
    weight_kg: float | None = _field("weight_kg")
    microchip: str | None = _field("microchip")
    status: PetStatus | None = _field("status")


@strawberry.type(description="Result of createPet.")
class CreatePetPayload:
    pet: Pet | None = strawberry.field(description="The new pet; null on errors.")
    errors: list[UserError] = strawberry.field(description="Why nothing was created.")


@strawberry.input(
    description="Fields to change; omitted fields keep their value. `ownerId` moves the pet "
    "to another contact (a transfer, recorded in its versions)."
)
class UpdatePetInput:
    id: strawberry.ID = strawberry.field(description="The pet to change.")
    version: int | None = strawberry.field(
        default=None,
        description="The version you read; a different current version is VERSION_CONFLICT.",
    )
    owner_id: strawberry.ID | None = strawberry.field(
        default=None, description="The new owner contact, to move the pet."
    )
    name: str | None = _field("name")
    species: str | None = _field("species")
    breed: str | None = _field("breed")
    sex: PetSex | None = _field("sex")
    desexed: bool | None = _field("desexed")
    date_of_birth: str | None = _field("date_of_birth")
    colour: str | None = _field("colour")
    weight_kg: float | None = _field("weight_kg")
    microchip: str | None = _field("microchip")
    status: PetStatus | None = _field("status")


@strawberry.type(description="Result of updatePet.")
class UpdatePetPayload:
    pet: Pet | None = strawberry.field(description="The pet as now; null on errors.")
    errors: list[UserError] = strawberry.field(description="Why nothing changed.")


def resolve_create(info: Info, input: CreatePetInput) -> CreatePetPayload:
    ctx = info.context
    data = _data(input)
    row, errors = run_command(
        info,
        lambda s: create_pet(
            s,
            organization=ctx.organization,
            owner_id=input.owner_id,
            data=data,
            actor=ctx.principal.actor,
        ),
    )
    return CreatePetPayload(pet=Pet.from_model(row) if row else None, errors=errors)


def resolve_update(info: Info, input: UpdatePetInput) -> UpdatePetPayload:
    ctx = info.context
    data = _data(input)
    row, errors = run_command(
        info,
        lambda s: update_pet(
            s,
            organization=ctx.organization,
            pet_id=input.id,
            version=input.version,
            data=data,
            owner_id=input.owner_id,
            actor=ctx.principal.actor,
        ),
    )
    return UpdatePetPayload(pet=Pet.from_model(row) if row else None, errors=errors)
