"""Storing pet observations: find the pet (source id, microchip, owner and name), then create
it, add a version, or do nothing when nothing changed. Conflicts are reported, never forced.

Every source goes through ``apply_pets``: an import's batch (many observations) and the API's
``createPet``/``updatePet`` (one). Keys, in order (docs/pets.md):

1. ``pet_id`` (this service's id, as ``crm export`` writes it) of a pet of the same owner;
2. ``(source, pet_external_id)``: the source's own id; a pet so found under another owner
   is PET_OWNER_CONFLICT (a transfer is a person's decision: ``updatePet``);
3. the microchip, an exclusive identifier: held by another owner's pet it is
   MICROCHIP_CONFLICT, never a silent move;
4. ``(owner, folded name)``, for sources without pet ids.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from crm.models import PET_FIELDS, Pet, PetVersion, utcnow
from crm.pets.values import PetIssue, as_json, name_key

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
SKIPPED = "skipped"

MICROCHIP_CONFLICT = "MICROCHIP_CONFLICT"
PET_OWNER_CONFLICT = "PET_OWNER_CONFLICT"
MISSING_PET_NAME = "MISSING_PET_NAME"


@dataclass(slots=True)
class PetObservation:
    """What one source said of one pet of ``owner_id``: normalised ``values`` (only the
    fields it gave) and the ``payload`` as received."""

    owner_id: uuid.UUID
    values: dict[str, Any]
    payload: dict[str, Any]
    source: str
    external_id: str | None = None
    pet_id: uuid.UUID | None = None
    line: int | None = None
    # ``pet_id`` names the pet whoever owns it, and it moves to ``owner_id`` (updatePet)
    transfer: bool = False
    # always a new pet (createPet): a person creating one means another animal
    new: bool = False


@dataclass(slots=True)
class PetOutcome:
    outcome: str
    pet: Pet | None
    issues: list[PetIssue] = field(default_factory=list)


def pet_state(pet: Pet) -> dict[str, Any]:
    return {name: getattr(pet, name) for name in PET_FIELDS}


def content_hash(state: dict[str, Any]) -> str:
    text = json.dumps(as_json(state), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class _Book:
    """The pets a batch can reach, indexed by each key; kept up to date as it is planned."""

    def __init__(self, pets: list[Pet]) -> None:
        self.by_id: dict[uuid.UUID, Pet] = {}
        self.by_source: dict[tuple[str, str], Pet] = {}
        self.by_chip: dict[str, Pet] = {}
        self.by_name: dict[tuple[uuid.UUID, str], list[Pet]] = {}
        for pet in pets:
            self.add(pet)

    def add(self, pet: Pet) -> None:
        self.by_id[pet.id] = pet
        if pet.source_system and pet.source_pet_id:
            self.by_source[(pet.source_system, pet.source_pet_id)] = pet
        if pet.microchip:
            self.by_chip[pet.microchip] = pet
        self.by_name.setdefault((pet.contact_id, pet.name_key), []).append(pet)

    def forget(self, pet: Pet) -> None:
        """Before a pet's keys change (``add`` again after)."""
        if self.by_chip.get(pet.microchip or "") is pet:
            del self.by_chip[pet.microchip or ""]
        named = self.by_name.get((pet.contact_id, pet.name_key), [])
        if pet in named:
            named.remove(pet)


def _load(session: Session, organization_id: uuid.UUID, batch: list[PetObservation]) -> _Book:
    conditions: list[Any] = []
    pet_ids = {o.pet_id for o in batch if o.pet_id}
    if pet_ids:
        conditions.append(Pet.id.in_(pet_ids))
    by_source: dict[str, set[str]] = {}
    for o in batch:
        if o.external_id:
            by_source.setdefault(o.source, set()).add(o.external_id)
    conditions.extend(
        and_(Pet.source_system == source, Pet.source_pet_id.in_(ids))
        for source, ids in by_source.items()
    )
    chips = {o.values["microchip"] for o in batch if o.values.get("microchip")}
    if chips:
        conditions.append(Pet.microchip.in_(chips))
    owners = {o.owner_id for o in batch}
    conditions.append(Pet.contact_id.in_(owners))
    pets = session.execute(
        select(Pet)
        .where(Pet.organization_id == organization_id, or_(*conditions))
        .order_by(Pet.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalars()
    return _Book(list(pets))


def _compatible(pet: Pet, obs: PetObservation) -> bool:
    """Whether a pet found by name or microchip may be the observed one: not when the same
    source knows it by another id."""
    return not (
        obs.external_id
        and pet.source_system == obs.source
        and pet.source_pet_id not in (None, obs.external_id)
    )


def apply_pets(
    session: Session,
    *,
    organization_id: uuid.UUID,
    observations: list[PetObservation],
    actor: str | None,
    import_job_id: uuid.UUID | None = None,
) -> list[PetOutcome]:
    """Store each observation in order (later ones see earlier ones); one outcome each.

    Runs in a savepoint: a unique key taken meanwhile by another writer (two imports of the
    same pet at once) plans the batch again on what is stored now, once.
    """
    if not observations:
        return []
    for attempt in (1, 2):
        try:
            with session.begin_nested():
                return _apply(session, organization_id, observations, actor, import_job_id)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _apply(
    session: Session,
    organization_id: uuid.UUID,
    observations: list[PetObservation],
    actor: str | None,
    import_job_id: uuid.UUID | None,
) -> list[PetOutcome]:
    book = _load(session, organization_id, observations)
    now = utcnow()
    outcomes = [
        _one(session, book, organization_id, o, actor, import_job_id, now) for o in observations
    ]
    session.flush()
    return outcomes


def _find(book: _Book, obs: PetObservation) -> tuple[Pet | None, PetIssue | None]:
    pet = None
    chip = obs.values.get("microchip")
    holder = book.by_chip.get(chip) if chip else None
    if obs.new:
        return None, _chip_conflict() if holder is not None else None
    if obs.pet_id is not None:
        named = book.by_id.get(obs.pet_id)
        if named is not None and (named.contact_id == obs.owner_id or obs.transfer):
            pet = named
    if pet is None and obs.external_id:
        pet = book.by_source.get((obs.source, obs.external_id))
        if pet is not None and pet.contact_id != obs.owner_id:
            return None, PetIssue(
                PET_OWNER_CONFLICT,
                "pet_external_id",
                "this pet id belongs to another contact's pet: not moved (move it with "
                "updatePet's ownerId)",
            )
    if pet is None and holder is not None:
        if holder.contact_id != obs.owner_id:
            return None, _chip_conflict()
        if _compatible(holder, obs):
            pet = holder
    if pet is None and obs.values.get("name"):
        key = name_key(obs.values["name"])
        pet = next(
            (p for p in book.by_name.get((obs.owner_id, key), []) if _compatible(p, obs)), None
        )
    if holder is not None and pet is not None and holder is not pet:
        return None, _chip_conflict()
    if holder is not None and pet is None:
        return None, _chip_conflict()
    return pet, None


def _chip_conflict() -> PetIssue:
    return PetIssue(
        MICROCHIP_CONFLICT,
        "microchip",
        "this microchip belongs to another pet (a microchip identifies one animal): the pet "
        "was not stored",
    )


def _one(
    session: Session,
    book: _Book,
    organization_id: uuid.UUID,
    obs: PetObservation,
    actor: str | None,
    import_job_id: uuid.UUID | None,
    now: datetime,
) -> PetOutcome:
    pet, conflict = _find(book, obs)
    if conflict is not None:
        return PetOutcome(SKIPPED, None, [conflict])
    given = {k: v for k, v in obs.values.items() if not (k == "name" and v is None)}
    if given.get("status") is None and "status" in given:
        given["status"] = "active"
    if pet is None:
        if not given.get("name"):
            return PetOutcome(
                SKIPPED,
                None,
                [PetIssue(MISSING_PET_NAME, "pet_name", "a new pet needs a name: not stored")],
            )
        pet = Pet(
            organization_id=organization_id,
            contact_id=obs.owner_id,
            name=given["name"],
            name_key=name_key(given["name"]),
            source_system=obs.source if obs.external_id else None,
            source_pet_id=obs.external_id,
            version=1,
            created_at=now,
            updated_at=now,
        )
        for name, value in given.items():
            setattr(pet, name, value)
        pet.status = pet.status or "active"
        session.add(pet)
        book.add(pet)
        _version(session, pet, obs, actor, import_job_id, now)
        return PetOutcome(CREATED, pet)
    before = pet_state(pet)
    after = {**before, **given}
    adopt = bool(
        obs.external_id
        and pet.source_pet_id is None
        and (obs.source, obs.external_id) not in book.by_source
    )
    moved = pet.contact_id != obs.owner_id
    if after == before and not adopt and not moved:
        return PetOutcome(UNCHANGED, pet)
    book.forget(pet)
    for name, value in after.items():
        setattr(pet, name, value)
    pet.contact_id = obs.owner_id
    pet.name_key = name_key(pet.name)
    if adopt:
        pet.source_system, pet.source_pet_id = obs.source, obs.external_id
    pet.version += 1
    pet.updated_at = now
    book.add(pet)
    _version(session, pet, obs, actor, import_job_id, now)
    return PetOutcome(UPDATED, pet)


def _version(
    session: Session,
    pet: Pet,
    obs: PetObservation,
    actor: str | None,
    import_job_id: uuid.UUID | None,
    now: datetime,
) -> None:
    state = pet_state(pet)
    session.add(
        PetVersion(
            organization_id=pet.organization_id,
            pet_id=pet.id,
            version=pet.version,
            contact_id=pet.contact_id,
            source_system=obs.source,
            source_pet_id=obs.external_id,
            content_hash=content_hash(state),
            payload=obs.payload,
            normalized=as_json(state),
            actor=actor,
            import_job_id=import_job_id,
            line=obs.line,
            observed_at=now,
        )
    )
