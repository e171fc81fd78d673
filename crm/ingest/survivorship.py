"""Compute a contact's fields from every current observation of it.

Per field: the highest-priority sources that have it; among them, the value most observations
agree on; among equally backed values, the newest, unless it is only a nickname or a likely
typo of the value it would replace. A manual edit holds until a newer observation of a
higher-priority source. Notes accumulate. docs/survivorship.md explains with examples.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm.ingest.priorities import MANUAL_SOURCE, source_priority
from crm.ingest.variants import likely_variant, same_value
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
    observations: Iterable[Observed],
    *,
    overrides: Mapping[str, int] | None = None,
    shown: Mapping[str, Any] | None = None,
) -> Survived:
    """Pick each field from the best source (priority, then corroboration, then recency
    unless the newer value is a variant of the older; manual edits hold).

    ``shown``: the values the contact shows now (a merge's survivor): among equally backed
    values that are variants of one another, the one shown holds, whichever is older.
    """
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
        if manual:
            manual_at = max(o.observed_at for _, o in manual)
            overriding = [(p, o) for p, o in having if p > held and o.observed_at > manual_at]
            # a person's latest edit is a decision, not one more observation to count
            best = _best(name, overriding) if overriding else _newest(manual)
        else:
            best = _best(name, having, (shown or {}).get(name))
        value = best.fields[name]
        fields[name] = value
        provenance[name] = {"source": best.source, "observed_at": best.observed_at.isoformat()}
        for _, o in having:
            if o is not best and o.fields[name] != value:
                conflicts.append((name, o.source, o.fields[name], value))
    metadata: dict[str, Any] = {}
    for _, o in sorted(ranked, key=lambda po: (po[0], po[1].observed_at)):
        metadata.update(o.metadata)
    metadata.update(_notes(obs))
    systems = sorted({o.source for o in obs})
    primary = max(ranked, key=lambda po: (po[0], po[1].observed_at))[1].source if ranked else None
    return Survived(fields, provenance, metadata, systems, primary, conflicts)


def _newest(pool: list[tuple[int, Observed]]) -> Observed:
    return max(pool, key=lambda po: (po[0], po[1].observed_at))[1]


def _best(name: str, pool: list[tuple[int, Observed]], shown: Any = None) -> Observed:
    """The observation whose value ``name`` takes, among ``pool`` (all have a value);
    ``shown``: the value the contact shows now, if it is to hold against its variants."""
    value = pool[0][1].fields[name]
    if len(pool) == 1 or all(o.fields[name] == value for _, o in pool):
        return _newest(pool)  # the usual case: every record agrees
    top = max(p for p, _ in pool)
    tier = [o for p, o in pool if p == top]
    if len(tier) == 1:
        return tier[0]
    tier.sort(key=_observed_at)
    # agreeing observations, each group oldest first, groups in order of first appearance
    groups: dict[Any, list[Observed]] = {}
    for o in tier:
        groups.setdefault(same_value(name, o.fields[name]), []).append(o)
    if len(groups) == 1:
        return tier[-1]
    # corroboration beats recency; among equally backed values, recency, but a value that is
    # only a nickname or a likely typo of the one it would replace leaves it in place
    most = max(len(g) for g in groups.values())
    leaders = sorted(
        (g for g in groups.values() if len(g) == most), key=lambda g: g[-1].observed_at
    )
    kept = leaders[0]
    if shown not in (None, ""):
        # a merge: the survivor's value starts as the one kept; only a newer value that is
        # not a variant of it replaces it (Isabella merged with an older "Isabela")
        key = same_value(name, shown.isoformat() if hasattr(shown, "isoformat") else shown)
        kept = next((g for g in leaders if same_value(name, g[-1].fields[name]) == key), kept)
    for group in leaders:
        if group is kept or group[-1].observed_at < kept[-1].observed_at:
            continue
        if not likely_variant(name, kept[-1].fields[name], group[-1].fields[name]):
            kept = group
    # the newest spelling of the value kept ("JOHN" then "John")
    return kept[-1]


def _observed_at(o: Observed) -> datetime:
    return o.observed_at


def _notes(obs: list[Observed]) -> dict[str, Any]:
    """Every current record's note, newest first: ``notes`` as one text (what export writes)
    and ``notes_by_source``; a note another one contains is not repeated."""
    found = [
        (o.observed_at, i, o.source, text.strip())
        for i, o in enumerate(obs)
        if isinstance(text := o.metadata.get("notes"), str) and text.strip()
    ]
    if not found:
        return {}
    found.sort(reverse=True)
    texts = list(dict.fromkeys(text for *_, text in found))
    kept = [t for t in texts if not any(t != u and t in u for u in texts)]
    by_source: dict[str, list[str]] = {}
    for *_, source, text in found:
        if text in kept and text not in by_source.get(source, ()):
            by_source.setdefault(source, []).append(text)
    return {"notes": "\n".join(kept), "notes_by_source": by_source}


def _only(o: Observed) -> Survived:
    """One observation (most new contacts): every value it has survives."""
    at = o.observed_at.isoformat()
    fields = {n: o.fields[n] for n in CONTACT_FIELDS if o.fields.get(n) not in (None, "")}
    provenance = {n: {"source": o.source, "observed_at": at} for n in fields}
    metadata = dict(o.metadata)
    if isinstance(note := metadata.get("notes"), str):
        if note := note.strip():
            metadata["notes"] = note
            metadata["notes_by_source"] = {o.source: [note]}
        else:
            del metadata["notes"]
    return Survived(fields, provenance, metadata, [o.source], o.source, [])
