"""What an import does to its first rows (``crm import --preview N``): created, updated,
linked to which contact, unchanged, or rejected and why. Filled in batch by batch by the
importer, from the outcomes it counts, so a dry run's preview is what the import would do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crm.ingest import CREATED, REJECTED, UNCHANGED, Observation, Outcome

if TYPE_CHECKING:
    from crm.importing.rows import Normalised


@dataclass(slots=True)
class PreviewRow:
    line: int
    outcome: str
    # the contact the row went to: None for a rejected row, or for a contact the row created
    # (a dry run's new contacts have no id yet: ``new_from`` names the line that made it)
    contact_id: str | None
    new_from: int | None
    codes: list[str]
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "outcome": self.outcome,
            "contact_id": self.contact_id,
            "new_contact_from_line": self.new_from,
            "codes": self.codes,
            "note": self.note,
        }

    def describe(self) -> str:
        """One line for people: what happened and to which contact, never the row's values."""
        if self.outcome == REJECTED:
            what = "rejected"
        elif self.outcome == CREATED:
            what = "creates a new contact" + (f" {self.contact_id}" if self.contact_id else "")
        elif self.new_from is not None:
            what = f"{self.outcome}: the new contact of line {self.new_from}"
        elif self.contact_id is not None:
            what = f"{self.outcome}: contact {self.contact_id}"
        else:
            what = self.outcome
        if self.note:
            what += f" ({self.note})"
        if self.codes:
            what += " [" + ", ".join(self.codes) + "]"
        return f"line {self.line}: {what}"


@dataclass(slots=True)
class RowPreview:
    """The first ``limit`` data rows' outcomes, in file order."""

    limit: int
    dry_run: bool = True
    rows: list[PreviewRow] = field(default_factory=list)
    # contacts created by a row so far -> that row's line
    _new: dict[uuid.UUID, int] = field(default_factory=dict)

    @property
    def full(self) -> bool:
        return len(self.rows) >= self.limit

    def add(
        self,
        *,
        seen: dict[int, str],
        results: list[Normalised],
        exported: list[Observation],
        planned: list[tuple[Observation, Outcome]],
        pet_lines: set[int] | frozenset[int] = frozenset(),
    ) -> None:
        """One batch's rows: ``seen`` stored before as they are, ``results`` as normalised
        (those rejected there), ``exported`` export rows still as stored, ``planned`` the
        rest with their outcomes."""
        rows: list[PreviewRow] = []
        for line in seen:
            rows.append(PreviewRow(line, UNCHANGED, None, None, [], "imported before as it is"))
        for row, _target, obs, issues in results:
            if obs is None:
                rows.append(PreviewRow(row.line, REJECTED, None, None, [i.code for i in issues]))
        for obs in exported:
            contact = str(obs.contact_id) if obs.contact_id else None
            codes = [i.code for i in obs.issues]
            note = "export row as the contact is"
            rows.append(PreviewRow(obs.line or 0, UNCHANGED, contact, None, codes, note))
        for obs, outcome in planned:
            line = obs.line or 0
            codes = [issue.code for issue in outcome.issues]
            owner = outcome.contact_id
            if outcome.outcome == CREATED and owner is not None:
                self._new[owner] = line
                contact = None if self.dry_run else str(owner)
                rows.append(PreviewRow(line, CREATED, contact, None, codes))
                continue
            new_from = self._new.get(owner) if owner is not None else None
            contact = None if new_from is not None or owner is None else str(owner)
            if self.dry_run is False and owner is not None:
                contact = str(owner)
            rows.append(PreviewRow(line, outcome.outcome, contact, new_from, codes))
        # a pet row says so (its pet's own outcome is decided when the owner is stored)
        for r in rows:
            if r.line in pet_lines:
                pet = "its pet not stored" if r.outcome == REJECTED else "with a pet"
                r.note = f"{r.note}; {pet}" if r.note else pet
        # a batch planned again (a conflict on PostgreSQL) is not shown twice
        last = self.rows[-1].line if self.rows else 0
        rows = sorted((r for r in rows if r.line > last), key=lambda r: r.line)
        self.rows.extend(rows[: self.limit - len(self.rows)])
