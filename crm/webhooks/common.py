"""What the provider handlers share: payload reading, times, and the pipeline call."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from crm.identity import Channel
from crm.ingest import REJECTED, Rejected, build_observation, ingest
from crm.models import Organization
from crm.webhooks.providers import Unprocessable

M = TypeVar("M", bound=SQLModel)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects and lists as dotted keys (``customer.email``, ``lineItems.0.name``);
    keys already dotted are kept as they are."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}{index}."))
    else:
        out[prefix[:-1]] = value
    return out


def text(data: dict[str, Any], *names: str, limit: int = 200) -> str | None:
    """The first of ``names`` that holds a non-empty scalar, as stripped text."""
    for name in names:
        value = data.get(name)
        if value is None or isinstance(value, dict | list | bool):
            continue
        out = str(value).strip()
        if out:
            return out[:limit]
    return None


def when(value: Any) -> datetime | None:
    """An ISO 8601 time or Unix seconds (number or text) as an aware UTC time, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
            seconds = float(value)
            if seconds > 1e11:  # milliseconds
                seconds /= 1000
            return datetime.fromtimestamp(seconds, UTC)
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_INDEXED = re.compile(r"^(?P<list>[A-Za-z_]+)\.(?P<i>\d+)\.(?P<field>.+)$")


def indexed(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """``name.0.x``, ``name.1.y`` ... as a list of dicts, in index order."""
    items: dict[int, dict[str, Any]] = {}
    for key, value in data.items():
        match = _INDEXED.match(key)
        if match and match["list"] == name:
            items.setdefault(int(match["i"]), {})[match["field"]] = value
    return [items[i] for i in sorted(items)]


def resolve(
    session: Session,
    *,
    organization: Organization,
    raw: dict[str, Any],
    source: str,
    keys: list[tuple[Channel, str]] | None = None,
    source_id: str | None = None,
    observed_at: datetime | None = None,
    contact_id: uuid.UUID | None = None,
    actor: str,
) -> uuid.UUID:
    """The contact ``raw`` observes, found or created through the one ingestion pipeline."""
    try:
        obs = build_observation(
            {k: v for k, v in raw.items() if v is not None},
            source=source,
            region=organization.default_region,
            extra_keys=keys,
            source_id=source_id,
            observed_at=observed_at,
            contact_id=contact_id,
        )
    except Rejected as exc:
        raise Unprocessable(
            "nothing identifies the person: " + ", ".join(i.code for i in exc.issues)
        ) from None
    outcome = ingest(session, organization=organization, observations=[obs], actor=actor)[0]
    if outcome.outcome == REJECTED or outcome.contact_id is None:
        raise Unprocessable(
            "the pipeline rejected the person: " + ", ".join(i.code for i in outcome.issues)
        )
    return outcome.contact_id


def upsert(session: Session, model: type[M], *, organization_id: uuid.UUID, **key: Any) -> M:
    """The row of ``model`` with these key columns, locked; made (and flushed) when new."""

    def find() -> M | None:
        statement = select(model).where(model.organization_id == organization_id)  # type: ignore[attr-defined]
        for name, value in key.items():
            statement = statement.where(getattr(model, name) == value)
        return session.exec(statement.with_for_update()).first()

    row = find()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = model(organization_id=organization_id, **key)
            session.add(row)
            session.flush()
            return row
    except IntegrityError:
        # a concurrent delivery made it first: the unique constraint decided
        row = find()
        assert row is not None
        return row
