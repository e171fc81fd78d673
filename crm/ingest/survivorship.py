"""Compute a contact's fields from every current observation of it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm.ingest.priorities import MANUAL_SOURCE, source_priority
from crm.models import CONTACT_FIELDS


@dataclass(slots=True)
class Observed:
    """What one current source record says, as survivorship needs it."""

    source: str
    observed_at: datetime
    fields: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Survived:
    fields: dict[str, Any]
    provenance: dict[str, dict[str, str]]
    metadata: dict[str, Any]
    source_systems: list[str]
    primary_source: str | None
    # (field, source, value the source had, value that survived) for every loser
    conflicts: list[tuple[str, str, Any, Any]]


def survive(
    observations: Iterable[Observed], *, overrides: Mapping[str, int] | None = None
) -> Survived:
    """Pick each field from the best source (priority, then recency; manual edits hold)."""
    obs = list(observations)
    if len(obs) == 1:
        return _only(obs[0])
    ranked = [(source_priority(o.source, overrides), o) for o in obs]
    # the organization's override applies to manual edits too (default: priorities.MANUAL)
    held = source_priority(MANUAL_SOURCE, overrides)
    fields: dict[str, Any] = {}
    provenance: dict[str, dict[str, str]] = {}
    conflicts: list[tuple[str, str, Any, Any]] = []
    for name in CONTACT_FIELDS:
        having = [(p, o) for p, o in ranked if o.fields.get(name) not in (None, "")]
        if not having:
            continue
        manual = [(p, o) for p, o in having if o.source == MANUAL_SOURCE]
        pool = having
        if manual:
            manual_at = max(o.observed_at for _, o in manual)
            overriding = [(p, o) for p, o in having if p > held and o.observed_at > manual_at]
            pool = overriding or manual
        _, best = max(pool, key=lambda po: (po[0], po[1].observed_at))
        value = best.fields[name]
        fields[name] = value
        provenance[name] = {"source": best.source, "observed_at": best.observed_at.isoformat()}
        for _, o in having:
            if o is not best and o.fields[name] != value:
                conflicts.append((name, o.source, o.fields[name], value))
    metadata: dict[str, Any] = {}
    for _, o in sorted(ranked, key=lambda po: (po[0], po[1].observed_at)):
        metadata.update(o.metadata)
    systems = sorted({o.source for o in obs})
    primary = max(ranked, key=lambda po: (po[0], po[1].observed_at))[1].source if ranked else None
    return Survived(fields, provenance, metadata, systems, primary, conflicts)


def _only(o: Observed) -> Survived:
    """One observation (most new contacts): every value it has survives."""
    at = o.observed_at.isoformat()
    fields = {n: o.fields[n] for n in CONTACT_FIELDS if o.fields.get(n) not in (None, "")}
    provenance = {n: {"source": o.source, "observed_at": at} for n in fields}
    return Survived(fields, provenance, dict(o.metadata), [o.source], o.source, [])
