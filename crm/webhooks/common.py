"""What the provider handlers share: payload reading, times, and the pipeline call."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic_core import PydanticUndefined
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, select

from crm.identity import Channel
from crm.ingest import REJECTED, Rejected, build_observation, ingest
from crm.ingest.observation import Observation
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


def observe(
    organization: Organization,
    *,
    raw: dict[str, Any],
    source: str,
    keys: list[tuple[Channel, str]] | None = None,
    source_id: str | None = None,
    observed_at: datetime | None = None,
    contact_id: uuid.UUID | None = None,
) -> Observation:
    """``raw`` as an observation of the pipeline, or Unprocessable (nothing identifies it)."""
    try:
        return build_observation(
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
    obs = observe(
        organization,
        raw=raw,
        source=source,
        keys=keys,
        source_id=source_id,
        observed_at=observed_at,
        contact_id=contact_id,
    )
    [found] = resolve_many(session, organization=organization, observations=[obs], actor=actor)
    if isinstance(found, Unprocessable):
        raise found
    return found


def resolve_many(
    session: Session,
    *,
    organization: Organization,
    observations: Sequence[Observation],
    actor: str,
) -> list[uuid.UUID | Unprocessable]:
    """The contact of each observation, in one pass of the pipeline (one load, one store for
    the batch): its id, or Unprocessable when the pipeline rejects it."""
    if not observations:
        return []
    outcomes = ingest(session, organization=organization, observations=observations, actor=actor)
    return [
        outcome.contact_id
        if outcome.outcome != REJECTED and outcome.contact_id is not None
        else Unprocessable(
            "the pipeline rejected the person: " + ", ".join(i.code for i in outcome.issues)
        )
        for outcome in outcomes
    ]


def upsert_many(
    session: Session,
    model: type[M],
    *,
    organization_id: uuid.UUID,
    source: str,
    external_ids: Iterable[str],
) -> dict[str, M]:
    """The rows of ``model`` with these external ids, locked (in id order, so that concurrent
    batches wait for each other instead of deadlocking); the missing ones are made first
    (``ON CONFLICT DO NOTHING``: a concurrent batch's insert wins, its row is taken)."""
    wanted = sorted(set(external_ids))
    if not wanted:
        return {}

    def find(ids: list[str]) -> dict[str, M]:
        statement = (
            select(model)
            .where(
                model.organization_id == organization_id,  # type: ignore[attr-defined]
                model.source == source,  # type: ignore[attr-defined]
                model.external_id.in_(ids),  # type: ignore[attr-defined]
            )
            .order_by(model.external_id)  # type: ignore[attr-defined]
            .with_for_update()
        )
        return {row.external_id: row for row in session.exec(statement)}  # type: ignore[attr-defined]

    found = find(wanted)
    missing = [i for i in wanted if i not in found]
    if missing:
        table = model.__table__  # type: ignore[attr-defined]
        rows = [
            {
                **_defaults(model),
                "organization_id": organization_id,
                "source": source,
                "external_id": external_id,
            }
            for external_id in missing
        ]
        dialect = session.get_bind().dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        session.execute(
            insert.values(rows).on_conflict_do_nothing(
                index_elements=["organization_id", "source", "external_id"]
            )
        )
        found |= find(missing)
    return found


def _defaults(model: type[SQLModel]) -> dict[str, Any]:
    """A new row's column defaults, as the model would make them (its id, its times...)."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.default_factory is not None:
            out[name] = info.default_factory()  # type: ignore[call-arg]
        elif info.default is not PydanticUndefined:
            out[name] = info.default
    return out
