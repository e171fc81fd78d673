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
from crm.merging.rows import CONTACTS, MAX_CHAIN
from crm.models import DuplicateCandidate

Pair = tuple[uuid.UUID, uuid.UUID]
CANDIDATES = DuplicateCandidate.__table__


def ordered(a: uuid.UUID, b: uuid.UUID) -> Pair:
    """A candidate's pair as stored: the smaller id first."""
    return (a, b) if a < b else (b, a)


def live_contacts(
    session: Session, *, organization_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID | None]:
    """Each contact's live one: itself when active, the end of its merge chain when merged,
    None when erased (or unknown); one statement per hop of the longest chain."""
    result: dict[uuid.UUID, uuid.UUID | None] = {}
    # contact -> the contact its chain has reached so far
    reached = {i: i for i in set(ids)}
    for _ in range(MAX_CHAIN):
        if not reached:
            break
        rows = session.execute(
            select(CONTACTS.c.id, CONTACTS.c.status, CONTACTS.c.merged_into_id).where(
                CONTACTS.c.organization_id == organization_id,
                in_values(CONTACTS.c.id, set(reached.values())),
            )
        ).all()
        found = {cid: (status, target) for cid, status, target in rows}
        following: dict[uuid.UUID, uuid.UUID] = {}
        for start, at in reached.items():
            status, target = found.get(at, (None, None))
            if status == "merged" and target is not None:
                following[start] = target
            else:
                result[start] = at if status == "active" else None
        reached = following
    for start in reached:  # a chain past MAX_CHAIN is a cycle: nobody
        result[start] = None
    return result


def dismissed_among(
    session: Session, *, organization_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> set[Pair]:
    """The dismissed pairs whose two contacts are both among ``ids``."""
    if not ids:
        return set()
    dc = CANDIDATES
    rows = session.execute(
        select(dc.c.contact_a_id, dc.c.contact_b_id).where(
            dc.c.organization_id == organization_id,
            dc.c.status == "dismissed",
            in_values(dc.c.contact_a_id, ids),
            in_values(dc.c.contact_b_id, ids),
        )
    )
    return {(a, b) for a, b in rows}


def dismissed_pairs(session: Session, *, organization_id: uuid.UUID) -> set[Pair]:
    """Every dismissed pair, and each one's pair of live contacts where a side was merged
    since (A~X dismissed, A merged into B, X into Y: B~Y too)."""
    dc = CANDIDATES
    pairs = {
        (a, b)
        for a, b in session.execute(
            select(dc.c.contact_a_id, dc.c.contact_b_id).where(
                dc.c.organization_id == organization_id, dc.c.status == "dismissed"
            )
        )
    }
    if not pairs:
        return pairs
    sides = {c for pair in pairs for c in pair}
    merged = {
        cid
        for (cid,) in session.execute(
            select(CONTACTS.c.id).where(
                CONTACTS.c.organization_id == organization_id,
                CONTACTS.c.status == "merged",
                in_values(CONTACTS.c.id, sides),
            )
        )
    }
    if not merged:
        return pairs
    live = live_contacts(session, organization_id=organization_id, ids=merged)
    resolved = set(pairs)
    for a, b in pairs:
        if a not in merged and b not in merged:
            continue
        la = live.get(a, a) if a in merged else a
        lb = live.get(b, b) if b in merged else b
        if la is not None and lb is not None and la != lb:
            resolved.add(ordered(la, lb))
    return resolved
