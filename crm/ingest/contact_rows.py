"""Part of ``plan``: each contact the batch touches, recomputed by survivorship over its
current records (the snapshot's and the batch's), as the rows and events to write."""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

from crm.ingest.recompute import by_contact, contact_values, observed
from crm.ingest.store import Writes
from crm.models import CONTACT_FIELDS

if TYPE_CHECKING:
    from crm.ingest.plan import _Planner


def contact_writes(p: _Planner) -> Writes:
    """Each touched contact's row by survivorship over its current records: the new ones
    inserted, the others updated (with events for what moved)."""
    touched = set(p.batch_obs)
    existing = touched - p.new_contacts
    superseded = set(p.superseded)
    observed_by = by_contact(
        r for r in p.snap.records if r[1] in existing and r[0] not in superseded
    )
    for record in p.records:
        if record["is_current"]:
            observed_by[record["contact_id"]].append(
                observed(record["source_system"], p.shown(record), record["observed_at"])
            )
    writes = Writes()
    changes: list[tuple[uuid.UUID, dict[str, Any], int]] = []
    # by the ids' integers: the same order as sorting the UUIDs, without their Python __lt__
    for contact_id in sorted(touched, key=_uuid_int):
        row, result = contact_values(observed_by[contact_id], overrides=p.overrides)
        _conflict_events(p, contact_id, result.conflicts)
        if contact_id in p.new_contacts:
            row.update(
                id=contact_id,
                organization_id=p.org_id,
                status="active",
                contact_type="person",
                version=1,
                created_at=p.now,
                updated_at=p.now,
            )
            writes.contacts.append(row)
            p.final[contact_id] = row
            first = p.batch_obs[contact_id][0]
            p.event(
                contact_id,
                "created",
                source=first.source,
                data={"fields": result.fields, "import_job_id": p.import_job_text},
            )
            continue
        before = p.snap.contacts[contact_id]
        changed = {k: v for k, v in row.items() if before.get(k) != v}
        for name in CONTACT_FIELDS:
            if name in changed:
                p.event(
                    contact_id,
                    "field_changed",
                    field=name,
                    old_value=_jsonable(before.get(name)),
                    new_value=_jsonable(changed[name]),
                    source=result.provenance.get(name, {}).get("source"),
                )
        # a new observation is a change even when no field moved: bump the version
        changed["updated_at"] = p.now
        changed["version"] = before["version"] + 1
        p.final[contact_id] = {**before, **changed}
        changes.append((contact_id, changed, before["version"]))
    # one statement sets the columns any of them changed, on every one of them (those
    # that did not change one get the value they have)
    columns = sorted({c for _, changed, _ in changes for c in changed} - {"version"})
    writes.contact_updates = [
        {"id": cid, "version": read, **{c: p.final[cid][c] for c in columns}}
        for cid, _, read in changes
    ]
    return writes


def _conflict_events(p: _Planner, contact_id: uuid.UUID, conflicts: list) -> None:
    if not conflicts:
        return
    incoming = {
        (name, obs.source, _jsonable(value))
        for obs in p.batch_obs[contact_id]
        for name, value in obs.fields.items()
    }
    for name, source, value, kept in conflicts:
        if (name, source, _jsonable(value)) in incoming:
            p.event(
                contact_id,
                "conflict",
                field=name,
                old_value=_jsonable(value),
                new_value=_jsonable(kept),
                source=source,
                data={"kept": "survivorship"},
            )


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return value


def _uuid_int(value: uuid.UUID) -> int:
    return value.int
