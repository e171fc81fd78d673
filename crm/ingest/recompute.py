"""A contact's stored fields as survivorship computes them from its current source records.

The pipeline and merges (merge, unmerge) both use it, so a contact's row is always what
``survive`` makes of the records attached to it, whoever moved them there.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from crm.db import in_values
from crm.ingest.survivorship import Observed, Survived, survive
from crm.models import CONTACT_FIELDS, IdentifierRetraction, SourceRecord, uuid7
from crm.search.text import build_search_text

# the contacts columns survivorship writes (besides CONTACT_FIELDS themselves)
COMPUTED_COLUMNS = (
    *CONTACT_FIELDS,
    "primary_source",
    "source_systems",
    "metadata",
    "field_sources",
    "search_text",
)
# the contact field an identifier namespace's value shows in
_FIELD_OF_NAMESPACE = {"tel": "phone", "email": "email"}


def observed(system: str, normalized: Mapping[str, Any], observed_at: datetime) -> Observed:
    """What survivorship needs of one source record."""
    return Observed(
        source=system,
        observed_at=observed_at,
        fields=normalized.get("fields", {}),
        metadata=normalized.get("metadata", {}),
    )


def current_observations(
    session: Session,
    *,
    organization_id: uuid.UUID,
    contact_ids: Iterable[uuid.UUID],
) -> dict[uuid.UUID, list[Observed]]:
    """Each contact's current records, oldest observation first (``by_contact``)."""
    rows = current_records(session, organization_id=organization_id, contact_ids=contact_ids)
    return by_contact(rows)


def current_records(
    session: Session, *, organization_id: uuid.UUID, contact_ids: Iterable[uuid.UUID]
) -> list[tuple[Any, ...]]:
    """The current records of these contacts as ``(id, contact_id, source_system,
    normalized, observed_at)``, without the identifiers unlinked from them (``without``)."""
    ids = set(contact_ids)
    if not ids:
        return []
    sr = SourceRecord
    rows: list[Any] = session.execute(
        select(sr.id, sr.contact_id, sr.source_system, sr.normalized, sr.observed_at).where(
            sr.organization_id == organization_id,
            in_values(sr.contact_id, ids),
            sr.is_current.is_(True),
        )
    ).all()
    if rows and (retracted := retractions(session, record_ids=[row[0] for row in rows])):
        return [
            (rid, cid, system, without(normalized, retracted[rid]), at)
            if rid in retracted
            else (rid, cid, system, normalized, at)
            for rid, cid, system, normalized, at in rows
        ]
    return [tuple(row) for row in rows]


def by_contact(rows: Iterable[tuple[Any, ...]]) -> dict[uuid.UUID, list[Observed]]:
    """Records (``current_records``' rows) as each contact's observations, oldest first.

    The order is fixed so that ties (same priority, same instant) always go the same way:
    sorted here rather than by ORDER BY, so the bulk path's query plan is unchanged.
    """
    result: dict[uuid.UUID, list[Observed]] = defaultdict(list)
    for _rid, contact_id, system, normalized, observed_at in sorted(
        rows, key=lambda row: (row[4], row[0])
    ):
        result[contact_id].append(observed(system, normalized, observed_at))
    return result


def retractions(
    session: Session, *, record_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, set[tuple[str, str]]]:
    """The identifiers ``(namespace, value)`` unlinked from each of these record versions."""
    found: dict[uuid.UUID, set[tuple[str, str]]] = defaultdict(set)
    if not record_ids:
        return found
    ir = IdentifierRetraction
    rows = session.execute(
        select(ir.source_record_id, ir.namespace, ir.value).where(
            in_values(ir.source_record_id, set(record_ids))
        )
    )
    for record_id, namespace, value in rows:
        found[record_id].add((namespace, value))
    return found


# an identifier unlinked from a record version -> (the contact it was unlinked from, who did)
Retracted = dict[tuple[str, str], tuple[uuid.UUID, str | None]]


def retracted_keys(
    session: Session, *, record_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Retracted]:
    """``retractions`` with each one's contact and actor: what a new version of the record
    carries forward when it still carries the value (``carried_retractions``)."""
    found: dict[uuid.UUID, Retracted] = defaultdict(dict)
    if not record_ids:
        return found
    ir = IdentifierRetraction
    rows = session.execute(
        select(ir.source_record_id, ir.namespace, ir.value, ir.contact_id, ir.actor)
        .where(in_values(ir.source_record_id, set(record_ids)))
        .order_by(ir.id)
    )
    for record_id, namespace, value, contact_id, actor in rows:
        found[record_id].setdefault((namespace, value), (contact_id, actor))
    return found


def still_retracted(retracted: Retracted | None, carried: Iterable[tuple[str, str]]) -> Retracted:
    """The unlinks a new version of a record keeps: those of the version it follows whose
    value it still carries (``carried``: its keys). A value it does not carry any more is
    dropped, so that a later version carrying it again is new data."""
    if not retracted:
        return {}
    return {key: origin for key in carried if (origin := retracted.get(key)) is not None}


def carried_retractions(
    *, organization_id: uuid.UUID, record_id: uuid.UUID, kept: Retracted, now: datetime
) -> list[dict[str, Any]]:
    """``identifier_retractions`` rows carrying ``kept`` forward to the new version
    ``record_id``: the same person's unlink, against the version that replaces the one it
    was recorded on."""
    return [
        {
            "id": uuid7(),
            "organization_id": organization_id,
            "contact_id": contact_id,
            "source_record_id": record_id,
            "namespace": namespace,
            "value": value,
            "actor": actor,
            "created_at": now,
        }
        for (namespace, value), (contact_id, actor) in sorted(kept.items())
    ]


def without(normalized: Mapping[str, Any], retracted: set[tuple[str, str]]) -> dict[str, Any]:
    """A record's normalised content without the values unlinked from it: it no longer
    supports them as its contact's phone or email."""
    fields = normalized.get("fields", {})
    drop = {
        name
        for namespace, value in retracted
        if (name := _FIELD_OF_NAMESPACE.get(namespace)) and fields.get(name) == value
    }
    if not drop:
        return dict(normalized)
    return {**normalized, "fields": {k: v for k, v in fields.items() if k not in drop}}


def contact_values(
    observations: Iterable[Observed],
    *,
    overrides: Mapping[str, int] | None,
    shown: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], Survived]:
    """The contacts columns (``COMPUTED_COLUMNS``) survivorship gives these observations
    (``shown``: what the contact shows now, held against variants: see ``survive``)."""
    result = survive(observations, overrides=overrides, shown=shown)
    values: dict[str, Any] = {name: result.fields.get(name) for name in CONTACT_FIELDS}
    if values["date_of_birth"] is not None:
        values["date_of_birth"] = date.fromisoformat(values["date_of_birth"])
    values.update(
        primary_source=result.primary_source,
        source_systems=result.source_systems,
        metadata=result.metadata,
        field_sources=result.provenance,
        search_text=build_search_text(result.fields),
    )
    return values, result


def recompute(
    session: Session,
    *,
    organization_id: uuid.UUID,
    contact_ids: Iterable[uuid.UUID],
    overrides: Mapping[str, int] | None,
) -> dict[uuid.UUID, dict[str, Any]]:
    """``COMPUTED_COLUMNS`` for each contact from its current records (read in one statement)."""
    ids = list(contact_ids)
    found = current_observations(session, organization_id=organization_id, contact_ids=ids)
    return {cid: contact_values(found.get(cid, []), overrides=overrides)[0] for cid in ids}
