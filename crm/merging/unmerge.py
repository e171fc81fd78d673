"""Undoing a merge: the merged contact comes back exactly as it was; the survivor keeps what
arrived after the merge.

What goes back to the merged contact: its identifier rows (same ids, ordinals and primary
status where nobody took them since), its source records, and later versions of those records
(a source's record is one person's, whichever contact it was attached to when it changed).
Its pets (the merge's undo data lists them) go back too, unless a person moved one since.
Its row is restored from the snapshot when its current records are the ones it had; otherwise
survivorship recomputes it. The survivor (or, when it was merged on since, the contact it was
merged into) is recomputed the same way: snapshot when its records are what it had before the
merge, survivorship otherwise. The manual record of the merge's field choices is deleted
first, so the survivor's fields no longer hold what was chosen. An identifier a person
unlinked from the survivor since the merge stays unlinked, and both contacts are then
recomputed (their snapshots show the value): docs/merging.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session

from crm.errors import ErrorCode, NotFound, ServiceError
from crm.ingest.pipeline import ConcurrentUpdate
from crm.ingest.recompute import COMPUTED_COLUMNS, recompute
from crm.merging import candidates
from crm.merging.identifiers import restore_identifiers
from crm.merging.rows import (
    CONTACTS,
    event,
    field_events,
    insert_events,
    lock_contacts,
    merge_chain,
    refresh_loaded,
    row_from_json,
    write_contact,
)
from crm.models import (
    Contact,
    ContactEvent,
    ContactIdentifier,
    Merge,
    Organization,
    SourceRecord,
    utcnow,
)
from crm.models.base import parse_uuid
from crm.pets.merging import restore_pets


@dataclass(slots=True)
class UnmergeOutcome:
    contact: Contact
    survivor: Contact
    merge: Merge


def unmerge(
    session: Session, *, organization: Organization, contact_id: Any, actor: str | None
) -> UnmergeOutcome:
    """Undo the merge of ``contact_id`` (a merged contact). Call in a savepoint."""
    org_id = organization.id
    merged_id = parse_uuid(contact_id)
    status = None
    if merged_id is not None:
        status = session.execute(
            select(CONTACTS.c.status).where(
                CONTACTS.c.organization_id == org_id, CONTACTS.c.id == merged_id
            )
        ).scalar_one_or_none()
    if status is None:
        raise NotFound("contact", field="contact_id")
    if status != "merged":
        raise ServiceError(ErrorCode.NOT_MERGED, f"contact is {status}", field="contact_id")
    merge = session.execute(
        select(Merge)
        .where(
            Merge.organization_id == org_id,
            Merge.merged_id == merged_id,
            Merge.undone_at.is_(None),
        )
        .order_by(Merge.created_at.desc(), Merge.id.desc())
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if merge is None:
        raise ServiceError(
            ErrorCode.NOT_MERGED, "no merge of this contact can be undone", field="contact_id"
        )
    chain = merge_chain(session, organization_id=org_id, contact_id=merge.survivor_id)
    live_id = chain[-1]
    rows = lock_contacts(session, organization_id=org_id, ids=[*chain, merged_id])
    merged, live = rows[merged_id], rows[live_id]
    if merged["status"] != "merged" or live["status"] == "merged":
        raise ConcurrentUpdate(str(merged_id))  # merged or unmerged meanwhile: plan again
    undo = merge.undo
    now = utcnow()
    overrides = (organization.settings or {}).get("source_priorities")

    choices = undo.get("field_choices")
    if choices:  # the merge's field choices go with it
        session.execute(delete(SourceRecord).where(SourceRecord.id == uuid.UUID(choices["record"])))
    _restore_records(session, org_id, merged_id, undo["source_records"], set(chain))
    restore_pets(
        session,
        organization_id=org_id,
        merged_id=merged_id,
        pet_ids=undo.get("pets", []),
        chain=set(chain),
    )
    # values unlinked from the survivor since: they stay unlinked, and the snapshots (which
    # show them) give way to survivorship, which leaves the retracted values out
    unlinked = _unlinked_since(session, org_id, merge, chain)
    entries, gone = _without_unlinked(session, undo["identifiers"], unlinked)
    not_restored = restore_identifiers(
        session,
        organization_id=org_id,
        merged_id=merged_id,
        entries=entries,
        promotions=undo["promoted"],
        chain=set(chain),
    )
    not_restored += gone
    candidates.on_unmerge(
        session,
        organization_id=org_id,
        merged_id=merged_id,
        survivor_id=live_id,
        changes=undo["candidates"],
        score=merge.score,
        actor=actor,
        now=now,
    )
    current = _current_records(session, org_id, [merged_id, live_id])
    computed = recompute(
        session,
        organization_id=org_id,
        contact_ids=[merged_id, live_id],
        overrides=overrides,
    )
    snapshot = row_from_json(CONTACTS, undo["merged"])
    if current[merged_id] == set(undo["current_source_records"]) and not unlinked:
        restored = {k: snapshot[k] for k in COMPUTED_COLUMNS}
    else:
        restored = computed[merged_id]
    restored.update(
        status=snapshot["status"],
        contact_type=snapshot["contact_type"],
        merged_into_id=snapshot["merged_into_id"],
    )
    write_contact(session, row=merged, values=restored, now=now)

    before_merge = row_from_json(CONTACTS, undo["survivor"])
    if (
        live_id == merge.survivor_id
        and current[live_id] == set(undo["survivor_source_records"])
        and not unlinked
    ):
        values = {k: before_merge[k] for k in COMPUTED_COLUMNS}
    else:
        values = computed[live_id]
    changes = {k: v for k, v in values.items() if live[k] != v}
    write_contact(session, row=live, values=changes, now=now)

    session.execute(update(Merge).where(Merge.id == merge.id).values(undone_at=now))
    _events(session, org_id, merge, live, values, not_restored, actor, now)
    session.flush()
    session.refresh(merge)
    refresh_loaded(session, [*chain, merged_id])
    contact = session.get(Contact, merged_id)
    survivor = session.get(Contact, live_id)
    assert contact is not None and survivor is not None
    return UnmergeOutcome(contact=contact, survivor=survivor, merge=merge)


def _unlinked_since(
    session: Session, org_id: uuid.UUID, merge: Merge, chain: list[uuid.UUID]
) -> set[tuple[str, str]]:
    """The identifiers a person unlinked from the survivor (its chain) since the merge."""
    ev = ContactEvent
    rows = session.execute(
        select(ev.data).where(
            ev.organization_id == org_id,
            ev.contact_id.in_(list(chain)),
            ev.kind == "identifier_unlinked",
            ev.created_at >= merge.created_at,
        )
    )
    return {(data.get("namespace"), data.get("value")) for (data,) in rows}


def _without_unlinked(
    session: Session, entries: list[dict[str, Any]], unlinked: set[tuple[str, str]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The merged contact's identifier rows to restore, and those unlinked since the merge
    (the row is gone), which stay unlinked: the later unlink is a person's decision and
    holds, as the retractions it recorded keep the value out of the fields wherever the
    records go. docs/merging.md"""
    if not unlinked or not entries:
        return entries, []
    ci = ContactIdentifier
    ids = [uuid.UUID(str(entry["id"])) for entry in entries]
    present = {str(rid) for (rid,) in session.execute(select(ci.id).where(ci.id.in_(ids)))}
    keep: list[dict[str, Any]] = []
    gone: list[dict[str, Any]] = []
    for entry in entries:
        key = (entry["namespace"], entry["value"])
        if key in unlinked and str(entry["id"]) not in present:
            gone.append({"namespace": key[0], "value": key[1], "reason": "unlinked"})
        else:
            keep.append(entry)
    return keep, gone


def _restore_records(
    session: Session,
    org_id: uuid.UUID,
    merged_id: uuid.UUID,
    snapshot: list[str],
    chain: set[uuid.UUID],
) -> None:
    sr = SourceRecord
    held = session.execute(
        select(sr.id, sr.source_system, sr.source_id).where(
            sr.organization_id == org_id, sr.contact_id.in_(list(chain))
        )
    ).all()
    ids = {uuid.UUID(i) for i in snapshot}
    lineages = {(system, source_id) for rid, system, source_id in held if rid in ids}
    take = [rid for rid, system, source_id in held if (system, source_id) in lineages]
    if take:
        session.execute(update(sr).where(sr.id.in_(take)).values(contact_id=merged_id))


def _current_records(
    session: Session, org_id: uuid.UUID, contact_ids: list[uuid.UUID]
) -> dict[uuid.UUID, set[str]]:
    sr = SourceRecord
    result: dict[uuid.UUID, set[str]] = {cid: set() for cid in contact_ids}
    rows = session.execute(
        select(sr.id, sr.contact_id).where(
            sr.organization_id == org_id,
            sr.contact_id.in_(contact_ids),
            sr.is_current.is_(True),
        )
    )
    for rid, contact_id in rows:
        result[contact_id].add(str(rid))
    return result


def _events(
    session: Session,
    org_id: uuid.UUID,
    merge: Merge,
    live: dict[str, Any],
    values: dict[str, Any],
    not_restored: list[dict[str, Any]],
    actor: str | None,
    now: datetime,
) -> None:
    data = {
        "merge_id": str(merge.id),
        "survivor_id": str(live["id"]),
        "merged_id": str(merge.merged_id),
    }
    insert_events(
        session,
        [
            event(
                organization_id=org_id,
                contact_id=merge.merged_id,
                kind="unmerged",
                actor=actor,
                now=now,
                data={**data, "role": "merged", "not_restored": not_restored},
            ),
            event(
                organization_id=org_id,
                contact_id=live["id"],
                kind="unmerged",
                actor=actor,
                now=now,
                data={**data, "role": "survivor"},
            ),
            *field_events(
                before=live,
                after=values,
                organization_id=org_id,
                contact_id=live["id"],
                actor=actor,
                data={"merge_id": str(merge.id)},
                now=now,
            ),
        ],
    )
