"""A dry run: every batch planned as the import would store it, nothing stored.

The batches are planned with ``plan_only`` on read-only sessions (no write transaction: on
SQLite no write lock, so other writers never wait for a dry run). Each batch is planned as if
the batches before it were stored: ``DryRunPlan`` gathers what they planned (the identifiers
they linked, the source records they made current, the contact rows they wrote) and is
passed to the next batch's planning as its ``previous``, the same overlay the overlapped
import plans against. The counts, warnings and row errors are those the import would report.

What a dry run writes: its import job (status, counts, progress) and its row errors, each
batch's in a short transaction of its own, so that ``importJob`` reports it like any job.
Never a contact, identifier, source record or event.

The plan so far stays in memory for the whole file (what each row would write: about the
size of its source record), which is why a dry run of a very large file needs more memory
than its import.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from crm.db import insert, read_only, session_scope
from crm.importing.reader import CsvSource
from crm.importing.rows import _batches, _Prepared
from crm.ingest import Observation, Outcome
from crm.ingest.pipeline import ConcurrentUpdate, plan_only
from crm.ingest.recompute import without
from crm.models import ImportJob, ImportRowError

if TYPE_CHECKING:
    from crm.importing.importer import Importer

# a batch that read a contact while a merge committed is planned again (``ConcurrentUpdate``)
PLAN_ATTEMPTS = 5


class DryRunPlan:
    """What a dry run's batches planned so far, shaped as a planned batch (``plan_only``'s
    ``previous``): ``holders``, ``current``, ``final``, ``superseded``, ``new_records``,
    ``retracted`` (the unlinks carried forward to the record versions it planned)."""

    def __init__(self) -> None:
        self.holders: dict[tuple[str, str], list[tuple[int, uuid.UUID]]] = defaultdict(list)
        self.current: dict[tuple[str, str], Any] = {}
        self.final: dict[uuid.UUID, dict[str, Any]] = {}
        self.superseded: list[uuid.UUID] = []
        self.new_records: list[dict[str, Any]] = []
        self.retracted: dict[uuid.UUID, Any] = {}
        # (source system, source id) -> the payload hash of the record it would have now
        self.payloads: dict[tuple[str, str], str | None] = {}

    def plan(
        self, session: Session, importer: Importer, observations: list[Observation]
    ) -> list[Outcome]:
        """Plan one batch after the ones before, and add what it planned."""
        for attempt in range(PLAN_ATTEMPTS):
            try:
                outcomes, batch = plan_only(
                    session,
                    organization=importer.org,
                    observations=observations,
                    actor=importer.job.actor,
                    import_job_id=importer.job.id,
                    previous=self,
                )
            except ConcurrentUpdate:
                if attempt == PLAN_ATTEMPTS - 1:
                    raise
                continue
            self._add(batch)
            return outcomes
        raise AssertionError("unreachable")

    def _add(self, batch: Any) -> None:
        # a batch's holders of a key include those planned before it (``_load``)
        for key, held in batch.holders.items():
            self.holders[key] = list(held)
        self.current.update(
            (key, cur) for key, cur in batch.current.items() if cur.planned is not None
        )
        self.final.update(batch.final)
        self.retracted.update(batch.retracted)
        gone = set(batch.superseded)
        self.superseded.extend(batch.superseded)
        if gone:
            self.new_records = [r for r in self.new_records if r["id"] not in gone]
        for record in batch.new_records:
            if record["is_current"]:
                self.new_records.append(record)
                key = (record["source_system"], record["source_id"])
                self.payloads[key] = record["payload_hash"]

    def _shown(self, record: dict[str, Any]) -> dict[str, Any]:
        """A planned record's content as survivorship reads it: without its unlinked values."""
        kept = self.retracted.get(record["id"])
        return without(record["normalized"], set(kept)) if kept else record["normalized"]

    def payload_hashes(self, system: str, source_ids: Iterable[str]) -> dict[str, str | None]:
        """The payload hash each of ``source_ids`` would have, for those the plan wrote."""
        payloads = self.payloads
        return {sid: payloads[(system, sid)] for sid in source_ids if (system, sid) in payloads}


class DryRunning:
    """The dry run of ``Importer`` (a mixin: the importer's state and steps)."""

    def _dry_batches(
        self: Importer, source: CsvSource, progress: Callable[[ImportJob], None] | None
    ) -> None:
        self.dry = DryRunPlan()
        reader = read_only(self.engine)
        ahead: _Prepared | None = None
        for batch in _batches(source.rows(), self.options.batch_size):
            with Session(reader, expire_on_commit=False) as s:
                current, ahead = ahead, self._prepare(s, batch)
            if current is not None:
                self._dry_store(reader, current, source, progress)
        if ahead is not None:
            self._dry_store(reader, ahead, source, progress)

    def _dry_store(
        self: Importer,
        reader: Any,
        prepared: _Prepared,
        source: CsvSource,
        progress: Callable[[ImportJob], None] | None,
    ) -> None:
        with Session(reader, expire_on_commit=False) as s:
            planned = self._batch(s, prepared)
        assert planned is not None
        _writes, errors = planned
        # the job's own rows only: its row errors and progress, in a short transaction
        with session_scope(self.engine) as s:
            if errors:
                s.execute(insert(s, ImportRowError.__table__), errors)
            self._progress(s, source)
        self._batch_done(progress)
