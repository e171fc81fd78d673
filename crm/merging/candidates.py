"""The review queue through merges and unmerges.

A merge closes the pending candidates between the contacts it merges (``merged``) and moves
the merged contact's other candidates to the survivor, so that a pending proposal stays in the
queue and a dismissal ("these two are different people") keeps holding for the survivor. Where
the survivor already has a candidate with that contact, the old one is left pointing at the
tombstone (the queue only lists pending pairs of active contacts).

An unmerge is a person's decision that the two are different: the pair is dismissed, so that
no sweep merges it again, and the candidates the merge moved come back while still pending.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlmodel import Session

from crm.models import DuplicateCandidate, uuid7

CANDIDATES = DuplicateCandidate.__table__


def ordered(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """A candidate's pair as stored: the smaller id first."""
    return (a, b) if a < b else (b, a)


def on_merge(
    session: Session,
    *,
    organization_id: uuid.UUID,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    group: Collection[uuid.UUID],
    actor: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Close or move the merged contact's candidates; returns what changed (for the undo)."""
    dc = CANDIDATES
    rows = session.execute(
        select(dc)
        .where(
            dc.c.organization_id == organization_id,
            or_(dc.c.contact_a_id == merged_id, dc.c.contact_b_id == merged_id),
        )
        .order_by(dc.c.id)
        .with_for_update()
    ).mappings()
    changes: list[dict[str, Any]] = []
    for row in list(rows):
        other = row["contact_b_id"] if row["contact_a_id"] == merged_id else row["contact_a_id"]
        if other in group:
            if row["status"] == "pending":
                _decide(session, row["id"], status="merged", actor=actor, now=now)
                changes.append(
                    {
                        "id": str(row["id"]),
                        "change": "closed",
                        "contact_a_id": str(row["contact_a_id"]),
                        "contact_b_id": str(row["contact_b_id"]),
                    }
                )
            continue
        pair = ordered(survivor_id, other)
        if _find(session, organization_id, pair) is not None:
            continue
        session.execute(
            update(dc)
            .where(dc.c.id == row["id"])
            .values(contact_a_id=pair[0], contact_b_id=pair[1])
        )
        changes.append(
            {
                "id": str(row["id"]),
                "change": "moved",
                "contact_a_id": str(row["contact_a_id"]),
                "contact_b_id": str(row["contact_b_id"]),
            }
        )
    return changes


def on_unmerge(
    session: Session,
    *,
    organization_id: uuid.UUID,
    merged_id: uuid.UUID,
    survivor_id: uuid.UUID,
    changes: list[dict[str, Any]],
    score: float | None,
    actor: str | None,
    now: datetime,
) -> None:
    """Dismiss the pair the unmerge splits; move back the candidates still pending."""
    dc = CANDIDATES
    for change in changes:
        candidate_id = uuid.UUID(change["id"])
        row = (
            session.execute(select(dc).where(dc.c.id == candidate_id).with_for_update())
            .mappings()
            .one_or_none()
        )
        if row is None:
            continue
        if change["change"] == "closed":
            if row["status"] == "merged":
                _decide(session, candidate_id, status="dismissed", actor=actor, now=now)
            continue
        pair = (uuid.UUID(change["contact_a_id"]), uuid.UUID(change["contact_b_id"]))
        other = pair[1] if pair[0] == merged_id else pair[0]
        current = (row["contact_a_id"], row["contact_b_id"])
        if row["status"] != "pending" or other not in current:
            continue
        if _find(session, organization_id, pair) is None:
            session.execute(
                update(dc)
                .where(dc.c.id == candidate_id)
                .values(contact_a_id=pair[0], contact_b_id=pair[1])
            )
    pair = ordered(survivor_id, merged_id)
    existing = _find(session, organization_id, pair)
    if existing is not None:
        if existing["status"] != "dismissed":
            _decide(session, existing["id"], status="dismissed", actor=actor, now=now)
        return
    session.execute(
        dc.insert().values(
            id=uuid7(),
            organization_id=organization_id,
            contact_a_id=pair[0],
            contact_b_id=pair[1],
            score=score if score is not None else 0.0,
            reasons=[],
            status="dismissed",
            created_at=now,
            decided_at=now,
            decided_by=actor,
        )
    )


def _find(
    session: Session, organization_id: uuid.UUID, pair: tuple[uuid.UUID, uuid.UUID]
) -> dict[str, Any] | None:
    dc = CANDIDATES
    row = (
        session.execute(
            select(dc).where(
                dc.c.organization_id == organization_id,
                dc.c.contact_a_id == pair[0],
                dc.c.contact_b_id == pair[1],
            )
        )
        .mappings()
        .one_or_none()
    )
    return dict(row) if row is not None else None


def _decide(
    session: Session, candidate_id: uuid.UUID, *, status: str, actor: str | None, now: datetime
) -> None:
    session.execute(
        update(CANDIDATES)
        .where(CANDIDATES.c.id == candidate_id)
        .values(status=status, decided_at=now, decided_by=actor)
    )
