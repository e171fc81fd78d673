"""The rows of an import: normalised (pure, in a worker process for large files), in batches,
and the collector settings an import runs with."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any

import structlog

from crm.db import (
    is_retryable,
)
from crm.importing.reader import Row, canonical_record
from crm.ingest import (
    FieldIssue,
    Observation,
    Rejected,
    build_observation,
)
from crm.ingest.pipeline import ConcurrentUpdate
from crm.models import (
    Contact,
    ContactIdentifier,
    SourceRecord,
)

log = structlog.get_logger(__name__)

# the tables an import's lookups read, whose statistics must keep up with the load
_LOOKUP_TABLES = [
    Contact.__table__,
    ContactIdentifier.__table__,
    SourceRecord.__table__,
]
ANALYZE_MIN_ROWS = 1000
COUNTERS = ("created", "updated", "unchanged", "linked", "rejected")


Normalised = tuple[Row, "str | None", "Observation | None", "list[FieldIssue]"]


def normalise_rows(
    rows: list[Row],
    *,
    source: str,
    region: str | None,
    hashed: dict[int, tuple[dict[str, Any], str]] | None = None,
) -> list[Normalised]:
    """Each row as an observation, or the issues that rejected it. Pure: runs in a worker
    process for large imports, so that it overlaps with storing the previous batch.

    ``hashed``: line -> (canonical record, ``content_hash_of`` it), as ``_seen_before``
    computed them, so that they are not computed twice.
    """
    results: list[Normalised] = []
    for row in rows:
        if row.problem is not None:  # unreadable as a row (``reader._swallowed``)
            results.append((row, None, None, [row.problem]))
            continue
        known = hashed.get(row.line) if hashed else None
        if known is not None:
            record, digest = known
            target = None
        else:
            record = canonical_record(row)
            target = record.pop("contact_id", None)
            digest = None
        try:
            obs = build_observation(
                record, source=source, region=region, line=row.line, payload_hash=digest
            )
        except Rejected as exc:
            results.append((row, target, None, exc.issues))
        else:
            if obs.external_id is None and (identity := row.identity) is not None:
                obs.source_id = identity  # the line's identity, not its mapped content
            results.append((row, target, obs, []))
    return results


@dataclass(slots=True)
class _Prepared:
    batch: list[Row]
    # line -> source_id of the rows stored already as they are (``_seen_before``)
    seen: dict[int, str]
    todo: list[Row]
    work: Future | None
    hashed: dict[int, tuple[dict[str, Any], str]]
    # the normalised rows, once computed: kept until the batch is stored, to plan it again
    results: list[Normalised] | None = None


def _batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while batch := list(islice(rows, size)):
        yield batch


# An import allocates some fifty containers per row, most of which live until their batch is
# stored: with the default thresholds (700, 10, 10) the cycle collector runs every few rows
# and keeps re-walking the batch and everything promoted before it, a quarter of the
# importer's CPU (bench/README.md). Refcounting frees nearly all of it anyway; the collector
# still runs, just far less often, plus once per batch (``_Importer._store``). Process-wide,
# so set by the first import in and put back by the last one out.
GC_THRESHOLDS = (100_000, 50, 100)
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Raise the cycle collector's thresholds while a bulk import runs."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(*GC_THRESHOLDS)
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                _gc_saved = None


def _names_contacts(prepared: _Prepared) -> bool:
    """Whether a batch has rows naming their contact (``contact_id``, from ``crm export``):
    those are compared with the contact as stored (``_exported_unchanged``)."""
    return any(target for _row, target, _obs, _issues in prepared.results or ())


def _conflict(exc: BaseException) -> bool:
    """A batch that met another transaction's writes: planned again, it goes through."""
    return is_retryable(exc) or isinstance(exc, ConcurrentUpdate)


def _same_export(exported: dict[str, str], given: dict[str, str]) -> bool:
    return exported == {k: v for k, v in given.items() if v}
