"""Reading pets and the API's writes (``createPet``, ``updatePet``): the same store as imports."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session

from crm.contacts.queries import get_contact
from crm.errors import ErrorCode, NotFound, ServiceError
from crm.models import Organization, Pet, PetVersion
from crm.models.base import parse_uuid
from crm.pets.store import CREATED, SKIPPED, PetObservation, apply_pets
from crm.pets.values import PetIssue, as_json, normalize_microchip, normalize_pet

MANUAL_SOURCE = "manual"
MAX_VERSIONS = 100


def get_pet(session: Session, *, organization_id: uuid.UUID, pet_id: Any) -> Pet | None:
    """The organization's pet with this id, or None (another organization's included)."""
    parsed = parse_uuid(pet_id)
    if parsed is None:
        return None
    pet = session.get(Pet, parsed)
    return pet if pet is not None and pet.organization_id == organization_id else None


def pet_by_microchip(session: Session, *, organization_id: uuid.UUID, microchip: str) -> Pet | None:
    """The pet holding this microchip (any separators), or INVALID_MICROCHIP."""
    try:
        chip = normalize_microchip(microchip)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID_MICROCHIP, str(exc), field="microchip") from None
    return session.execute(
        select(Pet).where(Pet.organization_id == organization_id, Pet.microchip == chip)
    ).scalar_one_or_none()


def pets_for(
    session: Session, *, organization_id: uuid.UUID, contact_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Pet]]:
    """Each contact's pets, oldest first, in one statement."""
    found: dict[uuid.UUID, list[Pet]] = {}
    if not contact_ids:
        return found
    rows = session.execute(
        select(Pet)
        .where(Pet.organization_id == organization_id, Pet.contact_id.in_(set(contact_ids)))
        .order_by(Pet.id)
    ).scalars()
    for pet in rows:
        found.setdefault(pet.contact_id, []).append(pet)
    return found


def pet_versions(
    session: Session, *, organization_id: uuid.UUID, pet_id: uuid.UUID
) -> list[PetVersion]:
    """A pet's versions, newest first (at most ``MAX_VERSIONS``)."""
    return list(
        session.execute(
            select(PetVersion)
            .where(PetVersion.organization_id == organization_id, PetVersion.pet_id == pet_id)
            .order_by(PetVersion.version.desc())
            .limit(MAX_VERSIONS)
        ).scalars()
    )


def _raise(issues: list[PetIssue]) -> None:
    if issues:
        issue = issues[0]
        field = {"pet_name": "name", "pet_external_id": "owner_id"}.get(issue.field, issue.field)
        known = issue.code in ErrorCode.__members__
        code = ErrorCode(issue.code) if known else ErrorCode.INVALID_INPUT
        raise ServiceError(code, issue.message, field=field)


def _owner(session: Session, organization: Organization, owner_id: Any) -> uuid.UUID:
    contact = get_contact(
        session, organization_id=organization.id, contact_id=owner_id, follow_merges=True
    )
    if contact is None:
        raise NotFound("contact", field="owner_id")
    if contact.status != "active":
        raise ServiceError(ErrorCode.NOT_ACTIVE, f"contact is {contact.status}", field="owner_id")
    return contact.id


def _values(organization: Organization, data: Mapping[str, Any]) -> dict[str, Any]:
    values, issues = normalize_pet(dict(data), region=organization.default_region)
    _raise(issues)
    return values


def create_pet(
    session: Session,
    *,
    organization: Organization,
    owner_id: Any,
    data: Mapping[str, Any],
    actor: str | None,
    source: str = MANUAL_SOURCE,
) -> Pet:
    """A pet entered by a person, for an active contact (a merged one's survivor)."""
    owner = _owner(session, organization, owner_id)
    values = _values(organization, data)
    if not values.get("name"):
        raise ServiceError(ErrorCode.INVALID_INPUT, "a pet needs a name", field="name")
    obs = PetObservation(
        owner_id=owner, values=values, payload=as_json(dict(data)), source=source, new=True
    )
    [outcome] = apply_pets(
        session, organization_id=organization.id, observations=[obs], actor=actor
    )
    _raise(outcome.issues)
    assert outcome.pet is not None
    return outcome.pet


def update_pet(
    session: Session,
    *,
    organization: Organization,
    pet_id: Any,
    version: int | None,
    data: Mapping[str, Any],
    owner_id: Any = None,
    actor: str | None,
    source: str = MANUAL_SOURCE,
) -> Pet:
    """A person's change to a pet (a new version; none when nothing changes). ``owner_id``
    moves it to another contact. With ``version``, the pet must still be at it."""
    pet = get_pet(session, organization_id=organization.id, pet_id=pet_id)
    if pet is None:
        raise NotFound("pet", field="id")
    current = session.execute(
        select(Pet.version).where(Pet.id == pet.id).with_for_update()
    ).scalar_one()
    if version is not None and current != version:
        raise ServiceError(
            ErrorCode.VERSION_CONFLICT,
            f"pet is at version {current}, not {version}: reload and retry",
            field="version",
        )
    values = _values(organization, data)
    owner = pet.contact_id
    payload = as_json(dict(data))
    if owner_id is not None:
        owner = _owner(session, organization, owner_id)
        payload["owner_id"] = str(owner)
    if not values and owner == pet.contact_id:
        raise ServiceError(ErrorCode.INVALID_INPUT, "nothing to update", field=None)
    obs = PetObservation(
        owner_id=owner,
        values=values,
        payload=payload,
        source=source,
        pet_id=pet.id,
        transfer=True,
    )
    [outcome] = apply_pets(
        session, organization_id=organization.id, observations=[obs], actor=actor
    )
    _raise(outcome.issues)
    assert outcome.pet is not None and outcome.outcome not in (SKIPPED, CREATED)
    return outcome.pet


def import_pet_counts(
    session: Session, *, organization_id: uuid.UUID, import_job_id: uuid.UUID
) -> tuple[int, int]:
    """(pets created, pets changed) by an import job: its versions, first or later."""
    first = case((PetVersion.version == 1, 1), else_=0)
    created, total = session.execute(
        select(func.coalesce(func.sum(first), 0), func.count()).where(
            PetVersion.organization_id == organization_id,
            PetVersion.import_job_id == import_job_id,
        )
    ).one()
    return int(created), int(total) - int(created)
