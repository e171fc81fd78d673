"""What a merge is asked to do, the checks that refuse it before anything changes, and
what it answers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from crm.db import in_values
from crm.errors import ErrorCode, NotFound, ServiceError
from crm.merging.candidates import CandidateBook
from crm.merging.dismissals import dismissed_among
from crm.models import Contact, DuplicateCandidate, Merge
from crm.models.base import parse_uuid

REASONS = ("manual", "sweep", "pms")
MAX_MERGE = 50


@dataclass(slots=True)
class MergeOutcome:
    survivor: Contact
    merges: list[Merge]


@dataclass(slots=True)
class MergeGroup:
    """A survivor and the contacts to merge into it, for ``merge_groups``."""

    survivor_id: Any
    merge_ids: Sequence[Any]
    score: float | None = None
    candidate_id: Any = None


@dataclass(slots=True)
class GroupsOutcome:
    """Per group: the ``merges`` row ids it made, or why it was refused (nothing changed)."""

    merged: list[tuple[MergeGroup, list[uuid.UUID]]] = dataclass_field(default_factory=list)
    failed: list[tuple[MergeGroup, ServiceError]] = dataclass_field(default_factory=list)


@dataclass(slots=True)
class Request:
    survivor_id: uuid.UUID
    merge_ids: list[uuid.UUID]
    reason: str
    score: float | None
    candidate: DuplicateCandidate | None
    # field (``crm.merging.choices.CHOOSABLE``) -> the contact whose value the survivor keeps
    choices: dict[str, uuid.UUID] = dataclass_field(default_factory=dict)

    @property
    def members(self) -> set[uuid.UUID]:
        return {self.survivor_id, *self.merge_ids}


def parse(survivor_id: Any, merge_ids: Sequence[Any], reason: str, score: float | None) -> Request:
    survivor = parse_uuid(survivor_id)
    if survivor is None:
        raise NotFound("survivor contact", field="survivor_id")
    if isinstance(merge_ids, str | bytes):
        merge_ids = [merge_ids]
    parsed: list[uuid.UUID] = []
    for value in merge_ids:
        merged = parse_uuid(value)
        if merged is None:
            raise NotFound(f"contact {value!s:.40}", field="merge_ids")
        if merged not in parsed:
            parsed.append(merged)
    if not parsed:
        raise ServiceError(ErrorCode.INVALID_INPUT, "name contacts to merge", field="merge_ids")
    if len(parsed) > MAX_MERGE:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, f"at most {MAX_MERGE} contacts at once", field="merge_ids"
        )
    if survivor in parsed:
        raise ServiceError(
            ErrorCode.MERGE_CONFLICT, "a contact cannot be merged into itself", field="merge_ids"
        )
    if reason not in REASONS:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, "reason is manual, sweep or pms", field="reason"
        )
    return Request(survivor, parsed, reason, score, None)


def lock_candidates(
    session: Session, organization_id: uuid.UUID, ids: set[Any]
) -> dict[uuid.UUID, DuplicateCandidate]:
    if not ids:
        return {}
    dc = DuplicateCandidate
    rows = session.execute(
        select(dc)
        .where(dc.organization_id == organization_id, in_values(dc.id, ids))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalars()
    return {row.id: row for row in rows}


def check_candidate(candidate: DuplicateCandidate, request: Request) -> None:
    if candidate.status != "pending":
        raise ServiceError(
            ErrorCode.CANDIDATE_CLOSED,
            f"this candidate is already {candidate.status}",
            field="candidate_id",
        )
    if not {candidate.contact_a_id, candidate.contact_b_id} <= request.members:
        raise ServiceError(
            ErrorCode.MERGE_CONFLICT,
            "the candidate's contacts are not the ones being merged",
            field="candidate_id",
        )


def check_contacts(rows: dict[uuid.UUID, dict[str, Any]], request: Request) -> None:
    for contact_id, field in [
        (request.survivor_id, "survivor_id"),
        *((m, "merge_ids") for m in request.merge_ids),
    ]:
        row = rows.get(contact_id)
        if row is None:
            raise NotFound(f"contact {contact_id}", field=field)
        if row["status"] != "active":
            raise ServiceError(
                ErrorCode.NOT_ACTIVE, f"contact {contact_id} is {row['status']}", field=field
            )


def dismissed_refusals(
    session: Session, organization_id: uuid.UUID, requests: Sequence[Request]
) -> dict[int, ServiceError]:
    """By position: the automatic (``sweep``) requests that would merge a dismissed pair.

    A person said those two are different people: only a person merges them (a manual merge
    is that later decision, and closes the dismissal as merged)."""
    automatic = [(i, r) for i, r in enumerate(requests) if r.reason == "sweep"]
    ids = {c for _, r in automatic for c in r.members}
    dismissed = dismissed_among(session, organization_id=organization_id, ids=ids)
    if not dismissed:
        return {}
    refused: dict[int, ServiceError] = {}
    for i, request in automatic:
        members = request.members
        if any(a in members and b in members for a, b in dismissed):
            refused[i] = ServiceError(
                ErrorCode.MERGE_CONFLICT,
                "two of these contacts were dismissed as different people",
                field="merge_ids",
            )
    return refused


def decided_candidate(
    book: CandidateBook,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    changed_candidates: list[dict[str, Any]],
    request: Request,
) -> tuple[uuid.UUID | None, float | None]:
    """The review-queue candidate this merge decided (the pair's own, else the one named,
    when this merge closed it) and the merge's score (given, else the candidate's)."""
    candidate_id = None
    pair = {str(survivor_id), str(merged_id)}
    closed = [c for c in changed_candidates if c["change"] == "closed"]
    for change in closed:
        if {change["contact_a_id"], change["contact_b_id"]} == pair:
            candidate_id = uuid.UUID(change["id"])
    named = request.candidate
    if candidate_id is None and named is not None and str(named.id) in {c["id"] for c in closed}:
        candidate_id = named.id
    score = request.score
    if candidate_id is not None and score is None:
        score = book.score(candidate_id)
    return candidate_id, score
