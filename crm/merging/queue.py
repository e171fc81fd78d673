"""The duplicate review queue: listing candidates and dismissing them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from crm.contacts.queries import Page
from crm.errors import ErrorCode, NotFound, ServiceError
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
    """Mark a candidate as two different people; dismissing it again changes nothing."""
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
    return candidate
