"""Merging contacts into a survivor, recording everything needed to undo each merge exactly.

Per merged contact: its identifiers and source records (every version) move to the survivor,
the survivor's fields are recomputed by survivorship, the merged contact becomes a tombstone
(``status`` merged, ``merged_into_id``) and a ``merges`` row keeps the undo snapshot:

``format``                   1
``merged``, ``survivor``     both contacts' rows before the merge (every column, as JSON)
``identifiers``              the merged contact's identifier rows (every column) and ``moved``:
                             False when the survivor held the value and the row was dropped
``promoted``                 survivor identifier rows whose ordinal improved: ``{id, from, to}``
``source_records``           ids of every record version the merged contact held
``current_source_records``   which of them were current
``survivor_source_records``  the survivor's current record ids before the merge
``candidates``               review-queue rows closed (``closed``) or moved (``moved``)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from crm.errors import ErrorCode, NotFound, ServiceError
from crm.ingest.recompute import recompute
from crm.merging import candidates
from crm.merging.identifiers import move_identifiers
from crm.merging.queue import get_candidate
from crm.merging.rows import (
    CONTACTS,
    event,
    field_events,
    insert_events,
    lock_contacts,
    refresh_loaded,
    row_to_json,
    write_contact,
)
from crm.models import Contact, DuplicateCandidate, Merge, Organization, SourceRecord, utcnow
from crm.models.base import parse_uuid

REASONS = ("manual", "sweep")
MAX_MERGE = 50
UNDO_FORMAT = 1


@dataclass(slots=True)
class MergeOutcome:
    survivor: Contact
    merges: list[Merge]


@dataclass(slots=True)
class _Request:
    survivor_id: uuid.UUID
    merge_ids: list[uuid.UUID]
    reason: str
    score: float | None
    candidate: DuplicateCandidate | None


def merge(
    session: Session,
    *,
    organization: Organization,
    survivor_id: Any,
    merge_ids: Sequence[Any],
    actor: str | None,
    reason: str = "manual",
    score: float | None = None,
    candidate_id: Any = None,
) -> MergeOutcome:
    """Merge ``merge_ids`` into the survivor; one ``merges`` row each. Call in a savepoint."""
    request = _validate(session, organization, survivor_id, merge_ids, reason, score, candidate_id)
    group = {request.survivor_id, *request.merge_ids}
    rows = lock_contacts(session, organization_id=organization.id, ids=group)
    _check_contacts(rows, request)
    now = utcnow()
    overrides = (organization.settings or {}).get("source_priorities")
    merges = []
    survivor = rows[request.survivor_id]
    for merged_id in request.merge_ids:
        merge_row, survivor = _merge_one(
            session,
            organization_id=organization.id,
            survivor=survivor,
            merged=rows[merged_id],
            group=group,
            request=request,
            overrides=overrides,
            actor=actor,
            now=now,
        )
        merges.append(merge_row)
    session.flush()
    refresh_loaded(session, group)
    contact = session.get(Contact, request.survivor_id)
    assert contact is not None
    return MergeOutcome(survivor=contact, merges=merges)


def _validate(
    session: Session,
    organization: Organization,
    survivor_id: Any,
    merge_ids: Sequence[Any],
    reason: str,
    score: float | None,
    candidate_id: Any,
) -> _Request:
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
        raise ServiceError(ErrorCode.INVALID_INPUT, "reason is manual or sweep", field="reason")
    candidate = None
    if candidate_id is not None:
        candidate = get_candidate(
            session, organization_id=organization.id, candidate_id=candidate_id, lock=True
        )
        if candidate.status != "pending":
            raise ServiceError(
                ErrorCode.CANDIDATE_CLOSED,
                f"this candidate is already {candidate.status}",
                field="candidate_id",
            )
        if not {candidate.contact_a_id, candidate.contact_b_id} <= {survivor, *parsed}:
            raise ServiceError(
                ErrorCode.MERGE_CONFLICT,
                "the candidate's contacts are not the ones being merged",
                field="candidate_id",
            )
    return _Request(survivor, parsed, reason, score, candidate)


def _check_contacts(rows: dict[uuid.UUID, dict[str, Any]], request: _Request) -> None:
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


def _merge_one(
    session: Session,
    *,
    organization_id: uuid.UUID,
    survivor: dict[str, Any],
    merged: dict[str, Any],
    group: set[uuid.UUID],
    request: _Request,
    overrides: Any,
    actor: str | None,
    now: datetime,
) -> tuple[Merge, dict[str, Any]]:
    survivor_id, merged_id = survivor["id"], merged["id"]
    sr = SourceRecord
    records = session.execute(
        select(sr.id, sr.contact_id, sr.is_current).where(
            sr.organization_id == organization_id,
            sr.contact_id.in_([survivor_id, merged_id]),
        )
    ).all()
    identifiers, promoted = move_identifiers(
        session, organization_id=organization_id, survivor_id=survivor_id, merged_id=merged_id
    )
    session.execute(
        update(sr)
        .where(sr.organization_id == organization_id, sr.contact_id == merged_id)
        .values(contact_id=survivor_id)
    )
    changed_candidates = candidates.on_merge(
        session,
        organization_id=organization_id,
        survivor_id=survivor_id,
        merged_id=merged_id,
        group=group,
        actor=actor,
        now=now,
    )
    values = recompute(
        session, organization_id=organization_id, contact_ids=[survivor_id], overrides=overrides
    )[survivor_id]
    changes = {k: v for k, v in values.items() if survivor[k] != v}
    write_contact(session, row=survivor, values=changes, now=now)
    write_contact(
        session, row=merged, values={"status": "merged", "merged_into_id": survivor_id}, now=now
    )
    candidate_id, score = _decided_candidate(
        session, survivor_id, merged_id, changed_candidates, request
    )
    undo = {
        "format": UNDO_FORMAT,
        "merged": row_to_json(CONTACTS, merged),
        "survivor": row_to_json(CONTACTS, survivor),
        "identifiers": identifiers,
        "promoted": promoted,
        "source_records": sorted(str(r.id) for r in records if r.contact_id == merged_id),
        "current_source_records": sorted(
            str(r.id) for r in records if r.contact_id == merged_id and r.is_current
        ),
        "survivor_source_records": sorted(
            str(r.id) for r in records if r.contact_id == survivor_id and r.is_current
        ),
        "candidates": changed_candidates,
    }
    merge_row = Merge(
        organization_id=organization_id,
        survivor_id=survivor_id,
        merged_id=merged_id,
        reason=request.reason,
        score=score,
        candidate_id=candidate_id,
        undo=undo,
        actor=actor,
        created_at=now,
    )
    session.add(merge_row)
    data = {
        "merge_id": str(merge_row.id),
        "survivor_id": str(survivor_id),
        "merged_id": str(merged_id),
        "reason": request.reason,
        "score": merge_row.score,
        "candidate_id": str(merge_row.candidate_id) if merge_row.candidate_id else None,
        "identifiers": len(identifiers),
        "source_records": len(undo["source_records"]),
    }
    insert_events(
        session,
        [
            event(
                organization_id=organization_id,
                contact_id=survivor_id,
                kind="merged",
                actor=actor,
                now=now,
                data={**data, "role": "survivor"},
            ),
            event(
                organization_id=organization_id,
                contact_id=merged_id,
                kind="merged",
                actor=actor,
                now=now,
                data={**data, "role": "merged"},
            ),
            *field_events(
                before=survivor,
                after=values,
                organization_id=organization_id,
                contact_id=survivor_id,
                actor=actor,
                data={"merge_id": str(merge_row.id)},
                now=now,
            ),
        ],
    )
    return merge_row, {**survivor, **changes, "version": survivor["version"] + 1, "updated_at": now}


def _decided_candidate(
    session: Session,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    changed_candidates: list[dict[str, Any]],
    request: _Request,
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
        score = session.execute(
            select(DuplicateCandidate.score).where(DuplicateCandidate.id == candidate_id)
        ).scalar_one()
    return candidate_id, score
