"""Dismissals ("these two are different people") through merges.

A merge carries every dismissal of the merged contact to the survivor (``CandidateBook``),
so a dismissed pair stays dismissed whichever contacts absorb its two sides. These helpers
answer the questions around it: where a contact lives now (``live_contacts``), which pairs
of a set of contacts are dismissed (``dismissed_among``: a sweep never merges them), and
every dismissed pair as it stands among live contacts (``dismissed_pairs``: what the sweep
never proposes), following merge chains also for dismissals no merge carried (decided on a
contact merged already, or left behind by a merge that raced the dismissal).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable

from sqlalchemy import select
from sqlmodel import Session

from crm.db import in_values
from crm.merging.rows import CONTACTS
from crm.models import MAX_MERGE_CHAIN, DuplicateCandidate

Pair = tuple[uuid.UUID, uuid.UUID]
# contacts per statement (SQLite binds each one as a parameter)
_CHUNK = 5_000
CANDIDATES = DuplicateCandidate.__table__


def ordered(a: uuid.UUID, b: uuid.UUID) -> Pair:
    """A candidate's pair as stored: the smaller id first."""
    return (a, b) if a < b else (b, a)


def live_contacts(
    session: Session, *, organization_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID | None]:
    """Each contact's live one: itself when active, the end of its merge chain when merged,
    None when erased (or unknown); a statement per hop (and per ``_CHUNK`` contacts)."""
    result: dict[uuid.UUID, uuid.UUID | None] = {}
    # contact -> the contact its chain has reached so far
    reached = {i: i for i in set(ids)}
    for _ in range(MAX_MERGE_CHAIN):
        if not reached:
            break
        found: dict[uuid.UUID, tuple[str, uuid.UUID | None]] = {}
        wanted = list(set(reached.values()))
        for start in range(0, len(wanted), _CHUNK):
            rows = session.execute(
                select(CONTACTS.c.id, CONTACTS.c.status, CONTACTS.c.merged_into_id).where(
                    CONTACTS.c.organization_id == organization_id,
                    in_values(CONTACTS.c.id, wanted[start : start + _CHUNK]),
                )
            )
            found.update((cid, (status, target)) for cid, status, target in rows)
        following: dict[uuid.UUID, uuid.UUID] = {}
        for start, at in reached.items():
            status, target = found.get(at, (None, None))
            if status == "merged" and target is not None:
                following[start] = target
            else:
                result[start] = at if status == "active" else None
        reached = following
    for start in reached:  # a chain past MAX_MERGE_CHAIN is a cycle: nobody
        result[start] = None
    return result


def dismissed_among(
    session: Session, *, organization_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> set[Pair]:
    """The dismissed pairs whose two contacts are both among ``ids``."""
    if not ids:
        return set()
    dc = CANDIDATES
    wanted = set(ids)
    rows = session.execute(
        select(dc.c.contact_a_id, dc.c.contact_b_id).where(
            dc.c.organization_id == organization_id,
            dc.c.status == "dismissed",
            in_values(dc.c.contact_a_id, wanted),
        )
    )
    return {(a, b) for a, b in rows if b in wanted}


def dismissed_pairs(session: Session, *, organization_id: uuid.UUID) -> set[Pair]:
    """Every dismissed pair, and each one's pair of live contacts where a side was merged
    since (A~X dismissed, A merged into B, X into Y: B~Y too)."""
    dc = CANDIDATES
    side_a, side_b = CONTACTS.alias("side_a"), CONTACTS.alias("side_b")
    rows = session.execute(
        select(dc.c.contact_a_id, dc.c.contact_b_id, side_a.c.status, side_b.c.status)
        .join(side_a, side_a.c.id == dc.c.contact_a_id)
        .join(side_b, side_b.c.id == dc.c.contact_b_id)
        .where(dc.c.organization_id == organization_id, dc.c.status == "dismissed")
    ).all()
    pairs = {(a, b) for a, b, _, _ in rows}
    merged = {
        side
        for a, b, status_a, status_b in rows
        for side, status in ((a, status_a), (b, status_b))
        if status == "merged"
    }
    if not merged:
        return pairs
    live = live_contacts(session, organization_id=organization_id, ids=merged)
    for a, b in list(pairs):
        la = live.get(a) if a in merged else a
        lb = live.get(b) if b in merged else b
        if la is not None and lb is not None and la != lb:
            pairs.add(ordered(la, lb))
    return pairs
