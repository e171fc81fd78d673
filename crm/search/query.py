"""Ranked contact search: PostgreSQL uses pg_trgm (indexed); SQLite ranks a scan with rapidfuzz.

A query of mostly digits is a phone search and matches digit substrings (international or
national form); anything else matches names and email with typo tolerance, then the owners of
pets whose name contains it (``crm.pets.search``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import func, literal, or_, select
from sqlmodel import Session

from crm.db import is_postgres
from crm.models import Contact
from crm.pets.search import with_pet_owners
from crm.search.text import fold

MAX_RESULTS = 1000
SQLITE_CUTOFF = 75
_PHONEISH = re.compile(r"^[\d\s()+.\-]+$")


def _digits(text: str) -> str | None:
    digits = "".join(c for c in text if c.isdigit())
    if _PHONEISH.match(text) and len(digits) >= 3:
        # national forms carry a trunk zero that E.164 drops: "0412..." is "61412..."
        return digits.lstrip("0") or digits
    return None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_contact_ids(session: Session, *, conditions: list[Any], text: str) -> list[uuid.UUID]:
    """Ids of contacts matching ``text`` under ``conditions``, best match first."""
    query = " ".join(fold(text).split())[:200]
    if not query:
        return []
    digits = _digits(query)
    if digits:
        pattern = f"%{_escape_like(digits)}%"
        rows = session.execute(
            select(Contact.id)
            .where(*conditions, Contact.search_text.like(pattern, escape="\\"))
            .order_by(Contact.id)
            .limit(MAX_RESULTS)
        )
        return [r[0] for r in rows]
    if is_postgres(session):
        ranked = _postgres(session, conditions, query)
    else:
        ranked = _sqlite(session, conditions, query)
    # an owner is found by a pet's name too, after the contacts found by their own fields
    return with_pet_owners(
        session, conditions=conditions, query=query, ranked=ranked, limit=MAX_RESULTS
    )


def _postgres(session: Session, conditions: list[Any], query: str) -> list[uuid.UUID]:
    score = func.word_similarity(query, Contact.search_text)
    matches = or_(
        literal(query).op("<%")(Contact.search_text),
        Contact.search_text.like(f"%{_escape_like(query)}%", escape="\\"),
    )
    rows = session.execute(
        select(Contact.id)
        .where(*conditions, matches)
        .order_by(score.desc(), Contact.id)
        .limit(MAX_RESULTS)
    )
    return [r[0] for r in rows]


def _sqlite(session: Session, conditions: list[Any], query: str) -> list[uuid.UUID]:
    rows = session.execute(select(Contact.id, Contact.search_text).where(*conditions)).all()
    if not rows:
        return []
    texts = [r[1] for r in rows]
    found = process.extract(
        query,
        texts,
        scorer=fuzz.partial_token_set_ratio if " " in query else fuzz.partial_ratio,
        score_cutoff=SQLITE_CUTOFF,
        limit=None,
    )
    # best score first; on a tie an exact substring beats a fuzzy one, then creation order
    found.sort(key=lambda m: (-m[1], query not in texts[m[2]], rows[m[2]][0]))
    return [rows[index][0] for _, _, index in found[:MAX_RESULTS]]
