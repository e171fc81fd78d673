"""The pipeline's first step, **load**: one snapshot of what a batch can reach.

``load`` reads, in one statement each, the holders of the batch's identity keys, the current
source records of its rows, the identifiers unlinked from those records, the contacts all
these lead to (and the ones its rows name, along their merge chains), and the current
records of the contacts the batch may change (for survivorship). ``plan`` then works on
the snapshot alone.

``Pending``: what batches planned but may not have stored yet (the overlapped import's
batch in flight, a dry run's batches so far). ``load(pending=...)`` gives the snapshot as if
they were stored: read from the database, then updated with what they planned.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import Session

from crm.db import in_values
from crm.ingest.observation import Observation
from crm.ingest.outcome import ConcurrentUpdate
from crm.ingest.recompute import Retracted, current_records, retracted_keys, without
from crm.models import MAX_MERGE_CHAIN, Contact, ContactIdentifier, SourceRecord

if TYPE_CHECKING:
    from crm.ingest.plan import Plan

_CONTACTS = Contact.__table__

Key = tuple[str, str]


@dataclass(slots=True)
class Current:
    """A current source record version; ``planned``: its row, when a plan made it."""

    id: uuid.UUID
    contact_id: uuid.UUID
    version: int
    content_hash: str
    planned: dict[str, Any] | None = None


@dataclass(slots=True)
class Person:
    first_name: str | None
    date_of_birth: date | None


@dataclass(slots=True)
class Snapshot:
    """What ``load`` read for one batch (a plain data object; ``plan`` only reads it)."""

    organization_id: uuid.UUID
    # (namespace, value) -> [(ordinal, contact_id)] sorted, for the batch's keys only
    holders: dict[Key, list[tuple[int, uuid.UUID]]] = field(default_factory=dict)
    # (source system, source id) -> its current record, for the batch's rows
    current: dict[Key, Current] = field(default_factory=dict)
    # current record id -> the identifiers unlinked from it (``unlinkIdentifier``)
    retracted: dict[uuid.UUID, Retracted] = field(default_factory=dict)
    # the contacts' rows (as the table has them)
    contacts: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    people: dict[uuid.UUID, Person] = field(default_factory=dict)
    # named contact (``obs.contact_id``) -> the live contact it leads to, None if erased
    named: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)
    # the current records of the contacts the batch may change, as
    # ``(id, contact_id, source_system, normalized, observed_at)``
    records: list[tuple[Any, ...]] = field(default_factory=list)

    def add_contact(self, row: dict[str, Any]) -> None:
        self.contacts[row["id"]] = row
        self.people[row["id"]] = Person(row["first_name"], row["date_of_birth"])


@dataclass(slots=True)
class Pending:
    """What plans made that the database may not have yet, to ``load`` as if it had."""

    holders: dict[Key, list[tuple[int, uuid.UUID]]] = field(default_factory=dict)
    # the records the plans made current
    current: dict[Key, Current] = field(default_factory=dict)
    # each contact the plans insert or update, as its row will be
    contacts: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    superseded: set[uuid.UUID] = field(default_factory=set)
    # record id -> (id, contact_id, source_system, normalized, observed_at), current ones
    records: dict[uuid.UUID, tuple[Any, ...]] = field(default_factory=dict)
    # record id -> the unlinks the plans carried forward to it
    retracted: dict[uuid.UUID, Retracted] = field(default_factory=dict)

    @classmethod
    def of(cls, plan: Plan) -> Pending:
        return cls().add(plan)

    def add(self, plan: Plan) -> Pending:
        """Take in what ``plan`` (planned after the ones already in) writes."""
        # a plan's holders of a key include those planned before it (``load``)
        for key, held in plan.holders.items():
            self.holders[key] = list(held)
        self.current.update((k, cur) for k, cur in plan.current.items() if cur.planned)
        self.contacts.update(plan.contacts)
        gone = plan.writes.superseded
        self.superseded.update(gone)
        for record_id in gone:
            self.records.pop(record_id, None)
        self.retracted.update(plan.retracted)
        for r in plan.writes.records:
            if r["is_current"]:
                kept = plan.retracted.get(r["id"])
                # as survivorship reads it: without its unlinked values
                shown = without(r["normalized"], set(kept)) if kept else r["normalized"]
                self.records[r["id"]] = (
                    r["id"],
                    r["contact_id"],
                    r["source_system"],
                    shown,
                    r["observed_at"],
                )
        return self


def load(
    session: Session,
    *,
    organization_id: uuid.UUID,
    observations: Sequence[Observation],
    pending: Pending | None = None,
) -> Snapshot:
    """Read what planning ``observations`` needs (with ``pending`` as if it were stored)."""
    snap = Snapshot(organization_id)
    by_namespace: dict[str, set[str]] = defaultdict(set)
    by_system: dict[str, set[str]] = defaultdict(set)
    for obs in observations:
        for key in obs.keys:
            by_namespace[key.namespace].add(key.value)
        by_system[obs.source].add(obs.source_id)
    holders: dict[Key, list[tuple[int, uuid.UUID]]] = defaultdict(list)
    ci = ContactIdentifier
    for namespace, values in by_namespace.items():
        rows = session.execute(
            select(ci.contact_id, ci.value, ci.ordinal).where(
                ci.organization_id == organization_id,
                ci.namespace == namespace,
                in_values(ci.value, values),
            )
        )
        for contact_id, value, ordinal in rows:
            holders[(namespace, value)].append((ordinal, contact_id))
    if pending is not None:
        for namespace, values in by_namespace.items():
            for value in values:
                if planned := pending.holders.get((namespace, value)):
                    held = holders[(namespace, value)]
                    held.extend(h for h in planned if h not in held)
    for held in holders.values():
        held.sort()
    snap.holders = dict(holders)
    sr = SourceRecord
    for system, ids in by_system.items():
        rows = session.execute(
            select(sr.id, sr.contact_id, sr.source_id, sr.version, sr.content_hash).where(
                sr.organization_id == organization_id,
                sr.source_system == system,
                in_values(sr.source_id, ids),
                sr.is_current.is_(True),
            )
        )
        for rid, contact_id, source_id, version, content_hash in rows:
            snap.current[(system, source_id)] = Current(rid, contact_id, version, content_hash)
        if pending is not None:
            for source_id in ids:
                if (cur := pending.current.get((system, source_id))) is not None:
                    snap.current[(system, source_id)] = Current(
                        cur.id, cur.contact_id, cur.version, cur.content_hash
                    )
    # the unlinks recorded against the current versions of the batch's records; those the
    # plans before carried forward to versions they made are taken from them
    ids = {cur.id for cur in snap.current.values()}
    snap.retracted = dict(retracted_keys(session, record_ids=ids)) if ids else {}
    if pending is not None:
        for rid, kept in pending.retracted.items():
            if rid in ids:
                snap.retracted[rid] = {**snap.retracted.get(rid, {}), **kept}
    _load_contacts(session, snap, observations, pending)
    _load_records(session, snap, observations, pending)
    return snap


def _load_contacts(
    session: Session,
    snap: Snapshot,
    observations: Sequence[Observation],
    pending: Pending | None,
) -> None:
    """The contacts the batch's keys and records lead to, and those its rows name."""
    reached = {cid for held in snap.holders.values() for _, cid in held}
    reached |= {cur.contact_id for cur in snap.current.values()}
    named = {obs.contact_id for obs in observations if obs.contact_id}
    contact_ids = reached | named
    planned = {}
    if pending is not None:
        planned = {cid: pending.contacts[cid] for cid in contact_ids if cid in pending.contacts}
    if contact_ids - planned.keys():
        rows = session.execute(
            select(_CONTACTS).where(
                _CONTACTS.c.organization_id == snap.organization_id,
                in_values(_CONTACTS.c.id, contact_ids - planned.keys()),
            )
        ).mappings()
        for row in rows:
            snap.add_contact(dict(row))
    for row in planned.values():
        snap.add_contact(dict(row))
    # A merge moves every identifier and record off the contacts it merges: reaching a
    # tombstone through them means these reads straddled a merge's commit (the records
    # read before it, the contacts after). Planned on that, the batch would write onto
    # the tombstone (its version matches): it is read again instead.
    if any(snap.contacts.get(cid, {}).get("status") == "merged" for cid in reached):
        raise ConcurrentUpdate("a contact was merged while the batch was read")
    for start in named:
        snap.named[start] = _follow(session, snap, start)


def _follow(session: Session, snap: Snapshot, start: uuid.UUID) -> uuid.UUID | None:
    """Where a write naming a contact goes: a merged contact leads to its survivor (along
    the ``merged_into`` chain), an erased or unknown one nowhere (the row is refused).

    Decided on what was read: a merge committing after these reads moves the contact's
    version, so the batch's versioned ``UPDATE`` misses and it is planned again."""
    chain = [start]
    while len(chain) <= MAX_MERGE_CHAIN:
        row = snap.contacts.get(chain[-1])
        if row is None:
            row = (
                session.execute(
                    select(_CONTACTS).where(
                        _CONTACTS.c.organization_id == snap.organization_id,
                        _CONTACTS.c.id == chain[-1],
                    )
                )
                .mappings()
                .one_or_none()
            )
            if row is None:
                return None
            snap.add_contact(dict(row))
        if row["status"] == "active":
            return row["id"]
        following = row["merged_into_id"] if row["status"] == "merged" else None
        if following is None or following in chain:
            return None
        chain.append(following)
    return None


def _load_records(
    session: Session,
    snap: Snapshot,
    observations: Sequence[Observation],
    pending: Pending | None,
) -> None:
    """The current records of every contact a row that is not unchanged may write to:
    survivorship recomputes those it does from all their records."""
    cids = changing(snap, observations)
    stored = current_records(session, organization_id=snap.organization_id, contact_ids=cids)
    if pending is not None:
        # the records the plans before made, as if stored: in the database or not yet,
        # they are taken once, from the plans
        exclude = pending.superseded | pending.records.keys()
        stored = [row for row in stored if row[0] not in exclude]
        stored.extend(r for r in pending.records.values() if r[1] in cids)
    snap.records = stored


def changing(snap: Snapshot, observations: Sequence[Observation]) -> set[uuid.UUID]:
    """The contacts (known to the snapshot) a plan of ``observations`` may change: those
    each row that is not already stored as it is can reach (by its keys, its record, the
    contact it names)."""
    last = {(obs.source, obs.source_id): obs.content_hash for obs in observations}
    cids: set[uuid.UUID] = set()
    for obs in observations:
        cur = snap.current.get((obs.source, obs.source_id))
        if cur is not None:
            if not unlinked(snap.retracted, obs, cur) and cur.content_hash in (
                obs.content_hash,
                last[(obs.source, obs.source_id)],
            ):
                continue
            cids.add(cur.contact_id)
        if obs.contact_id is not None and (target := snap.named.get(obs.contact_id)):
            cids.add(target)
        for key in obs.keys:
            cids.update(cid for _, cid in snap.holders.get(key.identity, ()))
    return cids & snap.contacts.keys()


def unlinked(retractions: Mapping[uuid.UUID, Retracted], obs: Observation, cur: Current) -> bool:
    """Every key of the row was unlinked from its record, and it has no id of the source's
    own (its id is its content): the record no longer says who this is."""
    retracted = retractions.get(cur.id)
    return (
        bool(retracted)
        and obs.external_id is None
        and bool(obs.keys)
        and all(key.identity in retracted for key in obs.keys)
    )
