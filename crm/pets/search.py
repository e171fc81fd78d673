"""Staff search finds an owner by a pet's name (a substring of the folded name)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, select
from sqlmodel import Session

from crm.models import Contact, Pet


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def pet_owner_ids(
    session: Session, *, conditions: list[Any], query: str, limit: int
) -> list[uuid.UUID]:
    """Contacts under ``conditions`` with a pet whose folded name contains ``query`` (folded),
    in creation order."""
    rows = session.execute(
        select(Contact.id)
        .join(
            Pet,
            and_(Pet.organization_id == Contact.organization_id, Pet.contact_id == Contact.id),
        )
        .where(*conditions, Pet.name_key.like(f"%{_escape_like(query)}%", escape="\\"))
        .group_by(Contact.id)
        .order_by(Contact.id)
        .limit(limit)
    )
    return [r[0] for r in rows]


def with_pet_owners(
    session: Session, *, conditions: list[Any], query: str, ranked: list[uuid.UUID], limit: int
) -> list[uuid.UUID]:
    """``ranked`` (matches on the contact's own fields) then the owners of pets so named."""
    if len(ranked) >= limit:
        return ranked
    owners = pet_owner_ids(session, conditions=conditions, query=query, limit=limit)
    seen = set(ranked)
    return ranked + [cid for cid in owners if cid not in seen][: limit - len(ranked)]
