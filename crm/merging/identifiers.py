"""Channel identifiers through a merge and back.

A merge gives the merged contact's identifiers to the survivor. Where the survivor already
holds the value, the merged contact's row is dropped (it is remembered for the unmerge), and
the survivor takes the better of the two ordinals: the merged contact was the same person, so
if it was the primary holder the survivor now is. An unmerge puts every row back as it was,
unless what happened since makes that impossible (an exclusive value now held by someone
else: reported, not restored; an ordinal taken since: the next free one).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlmodel import Session

from crm.db import in_values
from crm.db_write import update_rows
from crm.identity import SHARED_NAMESPACES
from crm.merging.rows import as_dicts, row_from_json, row_to_json
from crm.models import ContactIdentifier

IDENTIFIERS = ContactIdentifier.__table__
Key = tuple[str, str]


@dataclass(slots=True)
class IdentifierMoves:
    """What a merge does to identifier rows: planned for many merges, written at once."""

    moved: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # row id -> survivor
    dropped: list[uuid.UUID] = field(default_factory=list)
    promoted: dict[uuid.UUID, int] = field(default_factory=dict)  # row id -> ordinal

    def plan(
        self,
        *,
        survivor_id: uuid.UUID,
        survivor_rows: list[dict[str, Any]],
        merged_rows: list[dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Give the merged contact's rows (in id order) to the survivor.

        Returns the merged contact's rows as they were (each with ``moved``: False when the
        survivor already held the value and the row is dropped) and the survivor's ordinal
        promotions (``{"id", "from", "to"}``).
        """
        held: dict[Key, dict[str, Any]] = {(r["namespace"], r["value"]): r for r in survivor_rows}
        entries: list[dict[str, Any]] = []
        promotions: list[dict[str, Any]] = []
        for row in merged_rows:
            mine = held.get((row["namespace"], row["value"]))
            entries.append({**row_to_json(IDENTIFIERS, row), "moved": mine is None})
            if mine is None:
                self.moved[row["id"]] = survivor_id
                continue
            self.dropped.append(row["id"])
            if row["ordinal"] < mine["ordinal"]:
                promotions.append(
                    {"id": str(mine["id"]), "from": mine["ordinal"], "to": row["ordinal"]}
                )
                self.promoted[mine["id"]] = row["ordinal"]
        return entries, promotions

    def write(self, session: Session) -> None:
        """Drop, move, then promote (the dropped rows freed the ordinals promoted into)."""
        ci = IDENTIFIERS
        if self.dropped:
            session.execute(delete(ci).where(in_values(ci.c.id, self.dropped)))
        update_rows(session, ci, [{"id": i, "contact_id": s} for i, s in self.moved.items()])
        update_rows(session, ci, [{"id": i, "ordinal": o} for i, o in self.promoted.items()])


def identifier_rows(
    session: Session, *, organization_id: uuid.UUID, contact_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The identifier rows of these contacts, each contact's in id order."""
    ci = IDENTIFIERS
    result: dict[uuid.UUID, list[dict[str, Any]]] = {cid: [] for cid in contact_ids}
    rows = session.execute(
        select(ci)
        .where(ci.c.organization_id == organization_id, in_values(ci.c.contact_id, contact_ids))
        .order_by(ci.c.id)
    )
    for row in as_dicts(rows):
        result[row["contact_id"]].append(row)
    return result


def restore_identifiers(
    session: Session,
    *,
    organization_id: uuid.UUID,
    merged_id: uuid.UUID,
    entries: list[dict[str, Any]],
    promotions: list[dict[str, Any]],
    chain: Collection[uuid.UUID],
) -> list[dict[str, Any]]:
    """Give the merged contact back its identifiers, taking them from the survivor ``chain``
    (the survivor and whatever it was merged into since). Returns those not restored."""
    ci = IDENTIFIERS
    touched: set[Key] = set()
    # the survivor's promotions first: they hold ordinals the merged contact had
    for promotion in promotions:
        row = _row(session, uuid.UUID(promotion["id"]))
        if row is None or row["contact_id"] not in chain or row["ordinal"] != promotion["to"]:
            continue
        key = (row["namespace"], row["value"])
        ordinal = _ordinal(session, organization_id, key, promotion["from"], row["id"])
        session.execute(update(ci).where(ci.c.id == row["id"]).values(ordinal=ordinal))
        touched.add(key)
    not_restored: list[dict[str, Any]] = []
    for entry in entries:
        wanted = row_from_json(ci, {k: v for k, v in entry.items() if k != "moved"})
        key = (wanted["namespace"], wanted["value"])
        row = _row(session, wanted["id"])
        if row is not None and row["contact_id"] not in chain:
            # another unmerge gave it back to its earlier holder already
            not_restored.append({"namespace": key[0], "value": key[1], "reason": "moved"})
            continue
        ordinal = _ordinal(session, organization_id, key, wanted["ordinal"], wanted["id"])
        if ordinal != 0 and key[0] not in SHARED_NAMESPACES:
            not_restored.append({"namespace": key[0], "value": key[1], "reason": "taken"})
            continue
        if row is not None:
            session.execute(
                update(ci).where(ci.c.id == row["id"]).values(contact_id=merged_id, ordinal=ordinal)
            )
        else:
            # dropped by the merge, or unlinked from the survivor since: the row comes back
            session.execute(ci.insert().values({**wanted, "ordinal": ordinal}))
        touched.add(key)
    for key in sorted(touched):
        _ensure_primary(session, organization_id, key)
    return not_restored


def _row(session: Session, identifier_id: uuid.UUID) -> dict[str, Any] | None:
    row = (
        session.execute(select(IDENTIFIERS).where(IDENTIFIERS.c.id == identifier_id))
        .mappings()
        .one_or_none()
    )
    return dict(row) if row is not None else None


def _ordinal(
    session: Session, organization_id: uuid.UUID, key: Key, wanted: int, row_id: uuid.UUID
) -> int:
    """``wanted`` when no other row of the value holds it, else the next free ordinal."""
    ci = IDENTIFIERS
    of_value = (
        ci.c.organization_id == organization_id,
        ci.c.namespace == key[0],
        ci.c.value == key[1],
        ci.c.id != row_id,
    )
    taken = session.execute(
        select(ci.c.id).where(*of_value, ci.c.ordinal == wanted).limit(1)
    ).scalar_one_or_none()
    if taken is None:
        return wanted
    return session.execute(
        select(func.coalesce(func.max(ci.c.ordinal), -1) + 1).where(*of_value)
    ).scalar_one()


def _ensure_primary(session: Session, organization_id: uuid.UUID, key: Key) -> None:
    """While anyone holds a value, its first holder has ordinal 0 (its primary holder)."""
    ci = IDENTIFIERS
    first = session.execute(
        select(ci.c.id, ci.c.ordinal)
        .where(
            ci.c.organization_id == organization_id,
            ci.c.namespace == key[0],
            ci.c.value == key[1],
        )
        .order_by(ci.c.ordinal)
        .limit(1)
    ).first()
    if first is not None and first.ordinal != 0:
        session.execute(update(ci).where(ci.c.id == first.id).values(ordinal=0))
