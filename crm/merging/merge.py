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
``candidates``               review-queue rows closed (``closed``), moved (``moved``) or
                             dismissed by carrying a dismissal (``carried``: ``candidates``)
``field_choices``            only with choices: the manual record made (``choices``)
``pets``                     ids of the merged contact's pets, moved to the survivor

One engine does every merge, set-based: ``merge`` (one survivor, a few contacts: the
mutation) and ``merge_groups`` (thousands of groups: the dedup sweep) both plan in memory and
write with a handful of statements per round, a round being the n-th merged contact of every
group, so each merge sees the survivor as the previous one of its group left it, exactly as
merging them one at a time would.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from crm.db import in_values
from crm.db_write import update_rows
from crm.errors import ErrorCode, NotFound, ServiceError
from crm.ingest.recompute import contact_values, current_observations
from crm.ingest.store import update_contacts
from crm.merging.candidates import CandidateBook
from crm.merging.choices import check_values, choice_record, parse_choices
from crm.merging.identifiers import IdentifierMoves, identifier_rows
from crm.merging.queue import get_candidate
from crm.merging.requests import (
    GroupsOutcome,
    MergeGroup,
    MergeOutcome,
    Request,
    check_candidate,
    check_contacts,
    decided_candidate,
    dismissed_refusals,
    lock_candidates,
    parse,
)
from crm.merging.rows import (
    CONTACTS,
    event,
    field_events,
    insert_events,
    insert_rows,
    lock_contacts,
    refresh_loaded,
    row_to_json,
)
from crm.models import (
    Contact,
    Merge,
    Organization,
    SourceRecord,
    utcnow,
    uuid7,
)
from crm.models.base import parse_uuid
from crm.pets.merging import move_pets, pets_held

UNDO_FORMAT = 1
MERGES = Merge.__table__


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
    field_choices: Sequence[Any] | None = None,
) -> MergeOutcome:
    """Merge ``merge_ids`` into the survivor; one ``merges`` row each. Call in a savepoint.

    ``field_choices``: ``(field, contact_id)`` pairs, the survivor keeping that contact's
    value as a manual decision (``crm.merging.choices``)."""
    request = parse(survivor_id, merge_ids, reason, score)
    request.choices = parse_choices(field_choices, request)
    if candidate_id is not None:
        candidate = get_candidate(
            session, organization_id=organization.id, candidate_id=candidate_id, lock=True
        )
        check_candidate(candidate, request)
        request.candidate = candidate
    group = request.members
    rows = lock_contacts(session, organization_id=organization.id, ids=group)
    check_contacts(rows, request)
    check_values(request, rows)
    refused = dismissed_refusals(session, organization.id, [request])
    if refused:
        raise refused[0]
    [merge_ids_made] = _Engine(session, organization, rows, actor).run([request])
    session.flush()
    refresh_loaded(session, group)
    merges = session.execute(
        select(Merge).where(in_values(Merge.id, merge_ids_made)).order_by(Merge.id)
    ).scalars()
    contact = session.get(Contact, request.survivor_id)
    assert contact is not None
    return MergeOutcome(survivor=contact, merges=list(merges))


def merge_groups(
    session: Session,
    *,
    organization: Organization,
    groups: Sequence[MergeGroup],
    actor: str | None,
    reason: str = "sweep",
) -> GroupsOutcome:
    """Merge many disjoint groups at once; a group refused (not found, not active, in two
    groups, a closed candidate, a dismissed pair merged automatically) is reported and the
    others merge. Call in a savepoint."""
    outcome = GroupsOutcome()
    named = {parse_uuid(g.candidate_id) for g in groups if g.candidate_id is not None}
    found = lock_candidates(session, organization.id, named - {None})
    accepted: list[tuple[MergeGroup, Request]] = []
    seen: set[uuid.UUID] = set()
    for group in groups:
        try:
            request = parse(group.survivor_id, group.merge_ids, reason, group.score)
            if group.candidate_id is not None:
                candidate = found.get(parse_uuid(group.candidate_id))  # type: ignore[arg-type]
                if candidate is None:
                    raise NotFound("duplicate candidate", field="candidate_id")
                check_candidate(candidate, request)
                request.candidate = candidate
            members = request.members
            if members & seen:
                raise ServiceError(
                    ErrorCode.MERGE_CONFLICT, "a contact is in two groups", field="merge_ids"
                )
            seen |= members
        except ServiceError as exc:
            outcome.failed.append((group, exc))
            continue
        accepted.append((group, request))
    rows = lock_contacts(session, organization_id=organization.id, ids=seen)
    checked: list[tuple[MergeGroup, Request]] = []
    for group, request in accepted:
        try:
            check_contacts(rows, request)
        except ServiceError as exc:
            outcome.failed.append((group, exc))
            continue
        checked.append((group, request))
    refused = dismissed_refusals(session, organization.id, [r for _, r in checked])
    runnable: list[tuple[MergeGroup, Request]] = []
    for position, (group, request) in enumerate(checked):
        if position in refused:
            outcome.failed.append((group, refused[position]))
        else:
            runnable.append((group, request))
    made = _Engine(session, organization, rows, actor).run([r for _, r in runnable])
    outcome.merged = [(group, ids) for (group, _), ids in zip(runnable, made, strict=True)]
    session.flush()
    refresh_loaded(session, seen)
    return outcome


class _Engine:
    """Merges locked, checked groups: a round per position in the groups' merge lists."""

    def __init__(
        self,
        session: Session,
        organization: Organization,
        rows: dict[uuid.UUID, dict[str, Any]],
        actor: str | None,
    ) -> None:
        self.session = session
        self.org_id = organization.id
        self.overrides = (organization.settings or {}).get("source_priorities")
        self.rows = rows
        self.actor = actor
        self.now = utcnow()

    def run(self, requests: list[Request]) -> list[list[uuid.UUID]]:
        """The ``merges`` row ids each request made, in request order."""
        made: list[list[uuid.UUID]] = [[] for _ in requests]
        survivors = {r.survivor_id: self.rows[r.survivor_id] for r in requests}
        rounds = max((len(r.merge_ids) for r in requests), default=0)
        for position in range(rounds):
            this = [(i, r) for i, r in enumerate(requests) if position < len(r.merge_ids)]
            pairs = [
                (r, survivors[r.survivor_id], self.rows[r.merge_ids[position]]) for _, r in this
            ]
            after = self._round(pairs)
            for (i, request), (merge_id, survivor) in zip(this, after, strict=True):
                made[i].append(merge_id)
                survivors[request.survivor_id] = survivor
        return made

    def _round(
        self, pairs: list[tuple[Request, dict[str, Any], dict[str, Any]]]
    ) -> list[tuple[uuid.UUID, dict[str, Any]]]:
        """Merge each merged contact into its survivor, all pairs at once (disjoint)."""
        session, org_id, now, actor = self.session, self.org_id, self.now, self.actor
        survivor_ids = [s["id"] for _, s, _ in pairs]
        merged_ids = [m["id"] for _, _, m in pairs]
        everyone = [*survivor_ids, *merged_ids]
        sr = SourceRecord
        records: dict[uuid.UUID, list[tuple[uuid.UUID, bool]]] = {cid: [] for cid in everyone}
        for rid, contact_id, current in session.execute(
            select(sr.id, sr.contact_id, sr.is_current).where(
                sr.organization_id == org_id, in_values(sr.contact_id, everyone)
            )
        ):
            records[contact_id].append((rid, current))
        held = identifier_rows(session, organization_id=org_id, contact_ids=everyone)
        pets = pets_held(session, organization_id=org_id, contact_ids=merged_ids)
        book = CandidateBook(session, organization_id=org_id, contact_ids=everyone)
        moves = IdentifierMoves()
        planned = []
        chosen: list[dict[str, Any]] = []
        for request, survivor, merged in pairs:
            survivor_id, merged_id = survivor["id"], merged["id"]
            merge_id = uuid7()
            choice = choice_record(
                request,
                merged_id=merged_id,
                rows=self.rows,
                organization_id=org_id,
                merge_id=merge_id,
                now=now,
            )
            if choice is not None:
                chosen.append(choice)
            identifiers, promoted = moves.plan(
                survivor_id=survivor_id,
                survivor_rows=held[survivor_id],
                merged_rows=held[merged_id],
            )
            changed = book.on_merge(
                survivor_id=survivor_id,
                merged_id=merged_id,
                group=request.members,
                actor=actor,
                now=now,
            )
            planned.append((merge_id, identifiers, promoted, changed, choice))
        moves.write(session)
        update_rows(
            session,
            sr.__table__,
            [
                {"id": rid, "contact_id": s["id"]}
                for _, s, m in pairs
                for rid, _ in records[m["id"]]
            ],
        )
        move_pets(session, {p: s["id"] for _, s, m in pairs for p in pets.get(m["id"], [])})
        book.write(session)
        insert_rows(session, sr.__table__, chosen)
        found = current_observations(session, organization_id=org_id, contact_ids=survivor_ids)
        # the survivor's own values hold against their variants from the merged contacts
        shown = {s["id"]: s for _, s, _ in pairs}
        computed = {
            sid: contact_values(found.get(sid, []), overrides=self.overrides, shown=shown[sid])[0]
            for sid in survivor_ids
        }
        self._write_contacts(pairs, computed)

        merge_rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        after: list[tuple[uuid.UUID, dict[str, Any]]] = []
        for (request, survivor, merged), (merge_id, identifiers, promoted, changed, choice) in zip(
            pairs, planned, strict=True
        ):
            survivor_id, merged_id = survivor["id"], merged["id"]
            values = computed[survivor_id]
            candidate_id, score = decided_candidate(book, survivor_id, merged_id, changed, request)
            held_records = records[merged_id]
            undo = {
                "format": UNDO_FORMAT,
                "merged": row_to_json(CONTACTS, merged),
                "survivor": row_to_json(CONTACTS, survivor),
                "identifiers": identifiers,
                "promoted": promoted,
                "source_records": sorted(str(rid) for rid, _ in held_records),
                "current_source_records": sorted(str(rid) for rid, cur in held_records if cur),
                "survivor_source_records": sorted(
                    str(rid) for rid, cur in records[survivor_id] if cur
                ),
                "candidates": changed,
                "pets": sorted(str(p) for p in pets.get(merged_id, [])),
            }
            if choice is not None:
                undo["field_choices"] = {
                    "record": str(choice["id"]),
                    "fields": choice["payload"]["field_choices"],
                }
            merge_rows.append(
                {
                    "id": merge_id,
                    "organization_id": org_id,
                    "survivor_id": survivor_id,
                    "merged_id": merged_id,
                    "reason": request.reason,
                    "score": score,
                    "candidate_id": candidate_id,
                    "undo": undo,
                    "actor": actor,
                    "created_at": now,
                    "undone_at": None,
                }
            )
            data = {
                "merge_id": str(merge_id),
                "survivor_id": str(survivor_id),
                "merged_id": str(merged_id),
                "reason": request.reason,
                "score": score,
                "candidate_id": str(candidate_id) if candidate_id else None,
                "identifiers": len(identifiers),
                "source_records": len(undo["source_records"]),
                "pets": len(undo["pets"]),
            }
            if choice is not None:
                data["field_choices"] = choice["payload"]["field_choices"]
            common = {"organization_id": org_id, "kind": "merged", "actor": actor, "now": now}
            events.append(
                event(contact_id=survivor_id, data={**data, "role": "survivor"}, **common)
            )
            events.append(event(contact_id=merged_id, data={**data, "role": "merged"}, **common))
            events.extend(
                field_events(
                    before=survivor,
                    after=values,
                    organization_id=org_id,
                    contact_id=survivor_id,
                    actor=actor,
                    data={"merge_id": str(merge_id)},
                    now=now,
                )
            )
            changes = {k: v for k, v in values.items() if survivor[k] != v}
            after.append(
                (
                    merge_id,
                    {**survivor, **changes, "version": survivor["version"] + 1, "updated_at": now},
                )
            )
        insert_rows(session, MERGES, merge_rows)
        insert_events(session, events)
        return after

    def _write_contacts(
        self,
        pairs: list[tuple[Request, dict[str, Any], dict[str, Any]]],
        computed: dict[uuid.UUID, dict[str, Any]],
    ) -> None:
        """Survivors take their recomputed fields, merged contacts become tombstones; both
        versions move on (from the locked ones: a mismatch is a concurrent writer)."""
        now = self.now
        survivors = [
            {"id": s["id"], "version": s["version"], **computed[s["id"]], "updated_at": now}
            for _, s, _ in pairs
        ]
        tombstones = [
            {
                "id": m["id"],
                "version": m["version"],
                "status": "merged",
                "merged_into_id": s["id"],
                "updated_at": now,
            }
            for _, s, m in pairs
        ]
        # the pipeline's versioned contact update (both are live and locked here)
        for rows in (survivors, tombstones):
            update_contacts(self.session, rows)
