"""An import's pets (docs/pets.md): each row's pet columns, stored for the row's owner once
the batch's contacts are stored.

A row's owner is the contact its record is attached to now (found by the record's source id,
after the batch's writes), or the contact it names (``contact_id``, from ``crm export``),
a merged one leading to its survivor. A rejected row has no owner: its pet waits in the
rejects file with it. Bad pet values and conflicts are row warnings; the owner row imports.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import Session

from crm.db import in_values, insert
from crm.importing.pet_columns import PET_COLUMN_FIELDS
from crm.importing.reader import Row
from crm.importing.rows import _Prepared
from crm.models import MAX_MERGE_CHAIN, Contact, ImportRowError, SourceRecord
from crm.models.base import parse_uuid
from crm.pets.store import MISSING_PET_NAME, PetObservation, apply_pets
from crm.pets.values import PetIssue, normalize_pet

if TYPE_CHECKING:
    from crm.importing.importer import Importer

# pet field -> its CSV column, to name the column of a warning
_COLUMN_OF = {f: c for c, f in PET_COLUMN_FIELDS.items() if f}
MAX_PET_ID = 200
MISSING_NAME = PetIssue(MISSING_PET_NAME, "pet_name", "a new pet needs a name: not stored")


def _column(field: str) -> str:
    return _COLUMN_OF.get(field, field)


def read_pet(
    row: Row, *, region: str | None
) -> tuple[dict[str, Any], str | None, Any, list[PetIssue]]:
    """A row's pet values normalised, its source pet id, its ``crm_pet_id`` and the issues."""
    cells = row.pet or {}
    raw = {field: cells[c] for c, field in PET_COLUMN_FIELDS.items() if field and c in cells}
    values, issues = normalize_pet(raw, region=region)
    external = cells.get("pet_external_id") or None
    if external is not None and len(external) > MAX_PET_ID:
        issues.append(
            PetIssue("INVALID_EXTERNAL_ID", "pet_external_id", f"at most {MAX_PET_ID} characters")
        )
        external = None
    pet_id = None
    if cells.get("crm_pet_id"):
        pet_id = parse_uuid(cells["crm_pet_id"])
        if pet_id is None:
            issues.append(PetIssue("INVALID_INPUT", "crm_pet_id", "not a pet id of this service"))
    return values, external, pet_id, issues


class PetRows:
    """The pet step of ``Importer`` (a mixin: the importer's state)."""

    def _pet_error(self: Importer, row: Row, issue: PetIssue) -> dict[str, Any]:
        return self._error(
            row, code=issue.code, column=_column(issue.field), message=issue.message, rejected=False
        )

    def _pet_value_errors(
        self: Importer, prepared: _Prepared, *, rejected: set[int]
    ) -> list[dict[str, Any]]:
        """A dry run's pet warnings: the values, and a new pet without a name (a pet row
        with no name, id or microchip can only be new: the import skips it with
        ``MISSING_PET_NAME`` unless its owner row is rejected). Conflicts are the import's."""
        errors = []
        for row in prepared.batch:
            if row.pet:
                values, external, pet_id, issues = read_pet(row, region=self.region)
                errors.extend(self._pet_error(row, i) for i in issues)
                unnamed = not any((values.get("name"), values.get("microchip"), external, pet_id))
                if unnamed and row.line not in rejected:
                    errors.append(self._pet_error(row, MISSING_NAME))
        return errors

    def _store_pets(self: Importer, session: Session, prepared: _Prepared) -> None:
        """Store the batch's pets on ``session``, after its contacts (same transaction)."""
        rows = [row for row in prepared.batch if row.pet]
        if not rows:
            return
        owners = self._pet_owners(session, prepared, rows)
        errors: list[dict[str, Any]] = []
        observations: list[PetObservation] = []
        lines: list[Row] = []
        for row in rows:
            values, external, pet_id, issues = read_pet(row, region=self.region)
            errors.extend(self._pet_error(row, i) for i in issues)
            owner = owners.get(row.line)
            if owner is None:
                continue
            observations.append(
                PetObservation(
                    owner_id=owner,
                    values=values,
                    payload=dict(row.pet or {}),
                    source=self.options.source,
                    external_id=external,
                    pet_id=pet_id,
                    line=row.line,
                )
            )
            lines.append(row)
        outcomes = apply_pets(
            session,
            organization_id=self.org.id,
            observations=observations,
            actor=self.job.actor,
            import_job_id=self.job.id,
        )
        for row, outcome in zip(lines, outcomes, strict=True):
            errors.extend(self._pet_error(row, i) for i in outcome.issues)
        if errors:
            self.warnings += len(errors)
            session.execute(insert(session, ImportRowError.__table__), errors)

    def _pet_owners(
        self: Importer, session: Session, prepared: _Prepared, rows: list[Row]
    ) -> dict[int, uuid.UUID]:
        """line -> the active contact that owns the row's pet."""
        wanted = {row.line for row in rows}
        source_ids: dict[int, str] = {
            line: sid for line, sid in prepared.seen.items() if line in wanted
        }
        named: dict[int, uuid.UUID] = {}
        for row, _target, obs, _issues in prepared.results or ():
            if obs is None or row.line not in wanted:
                continue
            if obs.contact_id is not None:
                named[row.line] = obs.contact_id
            else:
                source_ids[row.line] = obs.source_id
        found: dict[str, uuid.UUID] = {}
        if source_ids:
            sr = SourceRecord
            found = dict(
                session.execute(
                    select(sr.source_id, sr.contact_id).where(
                        sr.organization_id == self.org.id,
                        sr.source_system == self.options.source,
                        in_values(sr.source_id, set(source_ids.values())),
                        sr.is_current.is_(True),
                    )
                ).all()
            )
        owners = {line: found[sid] for line, sid in source_ids.items() if sid in found}
        owners.update(named)
        live = _live(session, self.org.id, set(owners.values()))
        return {line: live[cid] for line, cid in owners.items() if cid in live}


def _live(
    session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Each contact -> itself when active, its survivor when merged; erased ones left out."""
    result: dict[uuid.UUID, uuid.UUID] = {}
    pending = {cid: cid for cid in ids}
    for _ in range(MAX_MERGE_CHAIN):
        if not pending:
            break
        rows = session.execute(
            select(Contact.id, Contact.status, Contact.merged_into_id).where(
                Contact.organization_id == organization_id,
                in_values(Contact.id, set(pending.values())),
            )
        ).all()
        state = {cid: (status, into) for cid, status, into in rows}
        following: dict[uuid.UUID, uuid.UUID] = {}
        for origin, current in pending.items():
            status, into = state.get(current, (None, None))
            if status == "active":
                result[origin] = current
            elif status == "merged" and into is not None:
                following[origin] = into
        pending = following
    return result
