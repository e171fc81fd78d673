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
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from crm.db import in_values
from crm.merging.rows import as_dicts
from crm.models import DuplicateCandidate, uuid7

CANDIDATES = DuplicateCandidate.__table__


def ordered(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """A candidate's pair as stored: the smaller id first."""
    return (a, b) if a < b else (b, a)


class CandidateBook:
    """The review-queue rows a batch of merges touches, read once (row-locked) and kept in
    memory: each merge decides on them in turn exactly as if it ran alone, and ``write`` then
    replays the changes in order (each one leaves the pairs unique, as the constraint wants).
    """

    def __init__(
        self, session: Session, *, organization_id: uuid.UUID, contact_ids: Collection[uuid.UUID]
    ) -> None:
        dc = CANDIDATES
        ids = list(contact_ids)
        self.rows: dict[uuid.UUID, dict[str, Any]] = {}
        self.pairs: dict[tuple[uuid.UUID, uuid.UUID], uuid.UUID] = {}
        self.of_contact: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
        # one side at a time, by the contacts' own indexes (the organization's is a filter
        # here: the planner would otherwise walk the (organization, a, b) index for b)
        for column in (dc.c.contact_a_id, dc.c.contact_b_id):
            rows = session.execute(
                select(dc).where(in_values(column, ids)).order_by(dc.c.id).with_for_update()
            )
            for row in as_dicts(rows):
                if row["organization_id"] == organization_id and row["id"] not in self.rows:
                    self.rows[row["id"]] = row
                    self._index(row["id"])
        self.steps: list[dict[str, Any]] = []

    def _index(self, row_id: uuid.UUID) -> None:
        row = self.rows[row_id]
        self.pairs[(row["contact_a_id"], row["contact_b_id"])] = row_id
        self.of_contact[row["contact_a_id"]].add(row_id)
        self.of_contact[row["contact_b_id"]].add(row_id)

    def score(self, candidate_id: uuid.UUID) -> float | None:
        row = self.rows.get(candidate_id)
        return row["score"] if row is not None else None

    def on_merge(
        self,
        *,
        survivor_id: uuid.UUID,
        merged_id: uuid.UUID,
        group: Collection[uuid.UUID],
        actor: str | None,
        now: datetime,
    ) -> list[dict[str, Any]]:
        """Close or move the merged contact's candidates; returns what changed (for the undo)."""
        changes: list[dict[str, Any]] = []
        for row_id in sorted(self.of_contact.get(merged_id, ())):
            row = self.rows[row_id]
            before = {
                "id": str(row_id),
                "contact_a_id": str(row["contact_a_id"]),
                "contact_b_id": str(row["contact_b_id"]),
            }
            other = row["contact_b_id"] if row["contact_a_id"] == merged_id else row["contact_a_id"]
            if other in group:
                if row["status"] == "pending":
                    row.update(status="merged", decided_at=now, decided_by=actor)
                    self._step(row)
                    changes.append({**before, "change": "closed"})
                continue
            pair = ordered(survivor_id, other)
            if pair in self.pairs:
                continue
            del self.pairs[(row["contact_a_id"], row["contact_b_id"])]
            self.of_contact[merged_id].discard(row_id)
            self.of_contact[other].discard(row_id)
            row.update(contact_a_id=pair[0], contact_b_id=pair[1])
            self._index(row_id)
            self._step(row)
            changes.append({**before, "change": "moved"})
        return changes

    def _step(self, row: dict[str, Any]) -> None:
        self.steps.append(
            {k: row[k] for k in ("id", "contact_a_id", "contact_b_id", "status")}
            | {"decided_at": row["decided_at"], "decided_by": row["decided_by"]}
        )

    def write(self, session: Session) -> None:
        """The changes, in the order they were decided, in one batch of statements."""
        if not self.steps:
            return
        dc = CANDIDATES
        stmt = (
            update(dc)
            .where(dc.c.id == bindparam("k_id"))
            .values(
                contact_a_id=bindparam("v_a"),
                contact_b_id=bindparam("v_b"),
                status=bindparam("v_status"),
                decided_at=bindparam("v_decided_at"),
                decided_by=bindparam("v_decided_by"),
            )
        )
        session.execute(
            stmt,
            [
                {
                    "k_id": s["id"],
                    "v_a": s["contact_a_id"],
                    "v_b": s["contact_b_id"],
                    "v_status": s["status"],
                    "v_decided_at": s["decided_at"],
                    "v_decided_by": s["decided_by"],
                }
                for s in self.steps
            ],
        )
        self.steps = []


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
