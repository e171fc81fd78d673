"""Source authority: which source names a caller may write observations as.

Survivorship trusts a source by its name (a PMS beats a webform), so the name cannot be a
free-text claim. An API key carries the names it may write as (``api`` unless it was created
for a connection); ``manual`` is what createContact and updateContact write as and nothing
else may claim it. The rules, with examples, are in docs/ingestion.md ("Source authority").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from crm.errors import ErrorCode, ServiceError
from crm.ingest.priorities import CSV, MANUAL_SOURCE, source_priority

API_SOURCE = "api"
DEFAULT_KEY_SOURCES = (API_SOURCE,)
MAX_KEY_SOURCES = 16
MAX_SOURCE_LENGTH = 64


def source_name(value: str, *, field: str = "source") -> str:
    """``value`` as a stored source name (trimmed, lower case), or INVALID_INPUT."""
    name = value.strip().lower()
    if (
        not name
        or len(name) > MAX_SOURCE_LENGTH
        or not name.replace("-", "").replace("_", "").replace(":", "").isalnum()
    ):
        raise ServiceError(
            ErrorCode.INVALID_INPUT, "source must be a short name like csv or clinic-a", field=field
        )
    return name


def key_sources(names: Iterable[str] | None) -> list[str]:
    """The source names a new key may write as: the given ones (validated), else ``api``."""
    chosen: list[str] = []
    for value in names or ():
        name = source_name(value)
        if name == MANUAL_SOURCE:
            raise ServiceError(
                ErrorCode.SOURCE_NOT_ALLOWED,
                "no key writes as manual: createContact and updateContact record manual edits",
                field="source",
            )
        if name not in chosen:
            chosen.append(name)
    if len(chosen) > MAX_KEY_SOURCES:
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"a key may write as at most {MAX_KEY_SOURCES} sources",
            field="source",
        )
    return chosen or list(DEFAULT_KEY_SOURCES)


def lookup_source(source: str | None, *, channel: str, allowed: Sequence[str] | None) -> str:
    """The source a resolveContact-style lookup writes as.

    ``allowed`` is the calling key's names; None for an in-process caller (a sync, a job)
    that names its own source. Unset: the channel's name when the caller may write as it,
    else the key's first name. Never ``manual``.
    """
    name = source_name(source) if source is not None and source.strip() else None
    if allowed is not None and not allowed:
        raise ServiceError(
            ErrorCode.SOURCE_NOT_ALLOWED, "this API key may not write as any source", field="source"
        )
    if name is None:
        if allowed is None or channel in allowed:
            return channel
        return allowed[0]
    if name == MANUAL_SOURCE:
        raise ServiceError(
            ErrorCode.SOURCE_NOT_ALLOWED,
            "manual is written by createContact and updateContact only",
            field="source",
        )
    if allowed is not None and name not in allowed:
        raise ServiceError(
            ErrorCode.SOURCE_NOT_ALLOWED,
            f"this API key writes as {', '.join(allowed)}, not {name}",
            field="source",
        )
    return name


def file_source(
    source: str, *, allowed: Sequence[str] | None, overrides: Mapping[str, int] | None
) -> str:
    """The source a file import records its rows as, or SOURCE_NOT_ALLOWED.

    ``allowed`` is the calling key's names; None for the operator's ``crm import``, which may
    name any source but ``manual``. A key may also record a file as any name of the CSV
    class (csv, csv:clinic-a, clinic-a: not another system's) that the organization does not
    rank above CSV.
    """
    name = source_name(source)
    if name == MANUAL_SOURCE:
        raise ServiceError(
            ErrorCode.SOURCE_NOT_ALLOWED,
            "manual is written by createContact and updateContact only, not by an import",
            field="source",
        )
    if allowed is None or name in allowed or _open_to_files(name, overrides):
        return name
    raise ServiceError(
        ErrorCode.SOURCE_NOT_ALLOWED,
        f"a file from this API key is recorded as csv, csv:<label> or {', '.join(allowed)}, "
        f"not {name}",
        field="source",
    )


def _open_to_files(name: str, overrides: Mapping[str, int] | None) -> bool:
    """A CSV-class name (no other system's) that the organization ranks no higher than CSV."""
    base = name.split(":", 1)[0]
    return source_priority(base) == CSV and source_priority(name, overrides) <= CSV


def delegated_sources(
    names: Iterable[str] | None,
    *,
    granted_by: Sequence[str],
    overrides: Mapping[str, int] | None,
) -> list[str]:
    """The source names a key made through the API may write as (``createApiKey``).

    An admin key hands on at most its own authority: each name must be one of ``granted_by``
    (the creating key's) or rank no higher than the highest of them, so an ``api`` key cannot
    mint a ``cliniko`` key (a PMS's key is the operator's ``crm key create --source``), and no
    key ever claims ``manual``.
    """
    chosen = key_sources(names)
    ceiling = max((source_priority(name, overrides) for name in granted_by), default=0)
    for name in chosen:
        if name not in granted_by and source_priority(name, overrides) > ceiling:
            raise ServiceError(
                ErrorCode.SOURCE_NOT_ALLOWED,
                f"this API key may not grant {name}: it ranks above the sources it writes as "
                f"({', '.join(granted_by)}); `crm key create --source {name}` can",
                field="sources",
            )
    return chosen
