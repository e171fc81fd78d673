"""The review queue through merges and unmerges.

A merge closes the candidates between the contacts it merges (``merged``: a pending one, and
a dismissed one too, since a person merging them is the later decision; the sweep never
merges a dismissed pair) and moves the merged contact's other pending candidates to the
survivor, so that a proposal stays in the queue. Where the survivor already has a candidate
with that contact, the old one is left pointing at the tombstone (the queue only lists
pending pairs of active contacts).

A dismissal ("these two are different people") of the merged contact is **carried** to the
survivor: the original stays as it is, and the survivor's pair with the other contact (or
the contact that one was merged into since) becomes dismissed, a new row or the survivor's
pending one. The merge's undo data says which (``carried``, with ``from``: the dismissal it
came from, and ``was``: pending, or null for a new row).

An unmerge is a person's decision that the two are different: the pair is dismissed, so that
no sweep merges it again, the candidates the merge moved come back while still pending, and
the dismissals it carried go (a new row is deleted, a pending one is pending again) unless
someone decided on them since.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from crm.db import in_values
from crm.merging.dismissals import live_contacts, ordered
from crm.merging.rows import as_dicts, jsonable
from crm.models import DuplicateCandidate, Merge, uuid7

CANDIDATES = DuplicateCandidate.__table__
_STEP_COLUMNS = ("id", "contact_a_id", "contact_b_id", "status", "decided_at", "decided_by")

__all__ = ["CANDIDATES", "CandidateBook", "on_unmerge", "ordered"]


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
        self.organization_id = organization_id
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
        # where the other sides of dismissals live now (a dismissal is carried to the live
        # one); the batch's own contacts are followed in memory as they merge
        batch = set(ids)
        others = {
            c
            for row in self.rows.values()
            if row["status"] == "dismissed"
            for c in (row["contact_a_id"], row["contact_b_id"])
            if c not in batch
        }
        self.live = live_contacts(session, organization_id=organization_id, ids=others)
        self.merged_into: dict[uuid.UUID, uuid.UUID] = {}
        self.steps: list[tuple[str, dict[str, Any]]] = []

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
        """Close, move or carry the merged contact's candidates; returns what changed (for
        the undo)."""
        changes: list[dict[str, Any]] = []
        self.merged_into[merged_id] = survivor_id
        for row_id in sorted(self.of_contact.get(merged_id, ())):
            row = self.rows[row_id]
            before = {
                "id": str(row_id),
                "contact_a_id": str(row["contact_a_id"]),
                "contact_b_id": str(row["contact_b_id"]),
            }
            other = row["contact_b_id"] if row["contact_a_id"] == merged_id else row["contact_a_id"]
            if other in group:
                if row["status"] in ("pending", "dismissed"):
                    row.update(status="merged", decided_at=now, decided_by=actor)
                    self._step(row)
                    changes.append({**before, "change": "closed"})
                continue
            if row["status"] == "dismissed":
                carried = self._carry(row, survivor_id, other, now)
                if carried is not None:
                    changes.append(carried)
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

    def _carry(
        self, row: dict[str, Any], survivor_id: uuid.UUID, other: uuid.UUID, now: datetime
    ) -> dict[str, Any] | None:
        """Dismiss the survivor's pair with (the live contact of) ``other``: the merged
        contact's dismissal ``row`` holds for the survivor. None when nothing changes."""
        target: uuid.UUID | None = self.live.get(other, other)
        while target in self.merged_into:
            target = self.merged_into[target]
        if target is None or target == survivor_id:
            return None
        pair = ordered(survivor_id, target)
        decided = {"decided_at": now, "decided_by": row["decided_by"]}
        change = {
            "contact_a_id": str(pair[0]),
            "contact_b_id": str(pair[1]),
            "change": "carried",
            "from": str(row["id"]),
            "decided_at": jsonable(now),
        }
        existing_id = self.pairs.get(pair)
        if existing_id is not None:
            existing = self.rows[existing_id]
            if existing["status"] != "pending":
                return None  # dismissed already, or decided otherwise
            existing.update(status="dismissed", **decided)
            self._step(existing)
            return {"id": str(existing_id), **change, "was": "pending"}
        carried = {
            "id": uuid7(),
            "organization_id": self.organization_id,
            "contact_a_id": pair[0],
            "contact_b_id": pair[1],
            "score": row["score"],
            "reasons": row["reasons"],
            "status": "dismissed",
            "created_at": now,
            **decided,
        }
        self.rows[carried["id"]] = carried
        self._index(carried["id"])
        self.steps.append(("insert", dict(carried)))
        return {"id": str(carried["id"]), **change, "was": None}

    def _step(self, row: dict[str, Any]) -> None:
        self.steps.append(("update", {k: row[k] for k in _STEP_COLUMNS}))

    def write(self, session: Session) -> None:
        """The changes, in the order they were decided, a batch of statements per run of
        updates or inserts."""
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
        for kind, steps in groupby(self.steps, key=lambda step: step[0]):
            rows = [row for _, row in steps]
            if kind == "insert":
                session.execute(dc.insert(), rows)
                continue
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
                    for s in rows
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
    """Dismiss the pair the unmerge splits; move back the candidates still pending; take
    back the dismissals the merge carried (and those later merges carried on from them)."""
    dc = CANDIDATES
    _uncarry(session, organization_id, [c for c in changes if c["change"] == "carried"])
    for change in changes:
        if change["change"] == "carried":
            continue
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


def _uncarry(session: Session, organization_id: uuid.UUID, carried: list[dict[str, Any]]) -> None:
    """Undo carried dismissals still as the carry left them (a row someone decided on since
    stays): a new row goes, a pending one is pending again. Then the same for what later
    merges (not undone) carried on from them, hop after hop."""
    dc = CANDIDATES
    seen: set[str] = set()
    while carried:
        undone: set[str] = set()
        sides: set[uuid.UUID] = set()
        for change in carried:
            if change["id"] in seen:
                continue
            seen.add(change["id"])
            candidate_id = uuid.UUID(change["id"])
            row = (
                session.execute(select(dc).where(dc.c.id == candidate_id).with_for_update())
                .mappings()
                .one_or_none()
            )
            if (
                row is None
                or row["status"] != "dismissed"
                or jsonable(row["decided_at"]) != change["decided_at"]
            ):
                continue
            if change["was"] == "pending":
                session.execute(
                    update(dc)
                    .where(dc.c.id == candidate_id)
                    .values(status="pending", decided_at=None, decided_by=None)
                )
            else:
                session.execute(dc.delete().where(dc.c.id == candidate_id))
            undone.add(change["id"])
            sides |= {row["contact_a_id"], row["contact_b_id"]}
        carried = _carried_on(session, organization_id, undone, sides)


def _carried_on(
    session: Session, organization_id: uuid.UUID, sources: set[str], sides: set[uuid.UUID]
) -> list[dict[str, Any]]:
    """The carries that merges of ``sides`` (not undone) made from the ``sources`` rows."""
    if not sources:
        return []
    undo_data = session.execute(
        select(Merge.undo).where(
            Merge.organization_id == organization_id,
            in_values(Merge.merged_id, sides),
            Merge.undone_at.is_(None),
        )
    ).scalars()
    return [
        change
        for undo in undo_data
        for change in undo.get("candidates", ())
        if change["change"] == "carried" and change["from"] in sources
    ]


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
