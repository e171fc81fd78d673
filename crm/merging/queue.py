"""The duplicate review queue: listing candidates and dismissing them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from crm.contacts.queries import Page
from crm.errors import ErrorCode, NotFound, ServiceError
from crm.merging.dismissals import live_contacts, ordered
from crm.models import Contact, DuplicateCandidate, utcnow
from crm.models.base import parse_uuid
from crm.pagination import check_first, cursor_number, decode_cursor, encode_cursor

STATUSES = ("pending", "merged", "dismissed")


def get_candidate(
    session: Session, *, organization_id: uuid.UUID, candidate_id: Any, lock: bool = False
) -> DuplicateCandidate:
    """The organization's candidate with this id (row-locked with ``lock``), or NOT_FOUND."""
    parsed = parse_uuid(candidate_id)
    found = None
    if parsed is not None:
        stmt = select(DuplicateCandidate).where(
            DuplicateCandidate.organization_id == organization_id,
            DuplicateCandidate.id == parsed,
        )
        if lock:
            stmt = stmt.with_for_update()
        found = session.exec(stmt.execution_options(populate_existing=True)).scalar_one_or_none()
    if found is None:
        raise NotFound("duplicate candidate", field="candidate_id")
    return found


def list_candidates(
    session: Session,
    *,
    organization_id: uuid.UUID,
    status: str = "pending",
    first: int = 50,
    after: str | None = None,
) -> Page:
    """A page of candidates, highest score first, with the total.

    Pending candidates are listed only while both contacts are active: one whose contact was
    merged or erased since is moot.
    """
    first = check_first(first)
    if status not in STATUSES:
        raise ServiceError(ErrorCode.INVALID_INPUT, "unknown status", field="status")
    dc = DuplicateCandidate
    conditions: list[Any] = [dc.organization_id == organization_id, dc.status == status]
    if status == "pending":
        a, b = aliased(Contact), aliased(Contact)
        conditions.append(
            select(a.id).where(a.id == dc.contact_a_id, a.status == "active").exists()
        )
        conditions.append(
            select(b.id).where(b.id == dc.contact_b_id, b.status == "active").exists()
        )
    cursor = decode_cursor(after)
    page_conditions = list(conditions)
    if cursor is not None:
        score, after_id = cursor_number(cursor, "s"), parse_uuid(cursor.get("id"))
        if after_id is None:
            raise ServiceError(ErrorCode.INVALID_INPUT, "invalid cursor", field="after")
        page_conditions.append(or_(dc.score < score, and_(dc.score == score, dc.id > after_id)))
    total_sq = select(func.count()).select_from(dc).where(*conditions).scalar_subquery()
    rows = session.exec(
        select(dc, total_sq.label("total"))
        .where(*page_conditions)
        .order_by(dc.score.desc(), dc.id)
        .limit(first + 1)
    ).all()
    if rows:
        total = rows[0][1]
    else:
        total = session.exec(select(func.count()).select_from(dc).where(*conditions)).one()[0]
    items = [row[0] for row in rows[:first]]
    return Page(
        items=items,
        cursors=[encode_cursor({"s": c.score, "id": str(c.id)}) for c in items],
        has_next=len(rows) > first,
        has_previous=cursor is not None,
        total=total,
    )


def dismiss(
    session: Session, *, organization_id: uuid.UUID, candidate_id: Any, actor: str | None
) -> DuplicateCandidate:
    """Mark a candidate as two different people; dismissing it again changes nothing. When a
    side was merged since, the pair of the contacts it leads to is dismissed too."""
    candidate = get_candidate(
        session, organization_id=organization_id, candidate_id=candidate_id, lock=True
    )
    if candidate.status == "dismissed":
        return candidate
    if candidate.status != "pending":
        raise ServiceError(
            ErrorCode.CANDIDATE_CLOSED,
            f"this candidate is already {candidate.status}",
            field="candidate_id",
        )
    candidate.status = "dismissed"
    candidate.decided_at = utcnow()
    candidate.decided_by = actor
    session.add(candidate)
    session.flush()
    _to_live_pair(session, candidate)
    return candidate


def _to_live_pair(session: Session, candidate: DuplicateCandidate) -> None:
    """A dismissal of a contact merged since (a queue page read before the merge, or a
    dismissal racing it) holds for the contacts it leads to: their pair is dismissed too."""
    org_id = candidate.organization_id
    own = (candidate.contact_a_id, candidate.contact_b_id)
    live = live_contacts(session, organization_id=org_id, ids=own)
    a, b = live.get(own[0]), live.get(own[1])
    if a is None or b is None or a == b or ordered(a, b) == own:
        return
    pair = ordered(a, b)
    dc = DuplicateCandidate
    found = session.exec(
        select(dc)
        .where(dc.organization_id == org_id, dc.contact_a_id == pair[0], dc.contact_b_id == pair[1])
        .with_for_update()
    ).scalar_one_or_none()
    if found is not None and found.status != "pending":
        return
    row = found or DuplicateCandidate(
        organization_id=org_id,
        contact_a_id=pair[0],
        contact_b_id=pair[1],
        score=candidate.score,
        reasons=candidate.reasons,
    )
    row.status = "dismissed"
    row.decided_at = candidate.decided_at
    row.decided_by = candidate.decided_by
    session.add(row)
    session.flush()
