"""A dry run: every batch planned as the import would store it, nothing stored.

The batches are planned with ``plan_only`` on read-only sessions (no write transaction: on
SQLite no write lock, so other writers never wait for a dry run). Each batch is planned as if
the batches before it were stored: ``DryRunPlan`` gathers what they planned
(``crm.ingest.snapshot.Pending``: the identifiers they linked, the source records they made
current, the contact rows they wrote) and the next batch is loaded updated with it, as the
overlapped import loads a batch updated with the plan before it. The counts, warnings and
row errors are those the import would report.

What a dry run writes: its import job (status, counts, progress) and its row errors, each
batch's in a short transaction of its own, so that ``importJob`` reports it like any job.
Never a contact, identifier, source record or event.

The plan so far stays in memory for the whole file (what each row would write: about the
size of its source record), which is why a dry run of a very large file needs more memory
than its import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from crm.db import insert, read_only, session_scope
from crm.importing.reader import CsvSource
from crm.importing.rows import _batches, _Prepared
from crm.ingest import Observation, Outcome
from crm.ingest.pipeline import ConcurrentUpdate, plan_only
from crm.ingest.snapshot import Pending
from crm.models import ImportJob, ImportRowError

if TYPE_CHECKING:
    from crm.importing.importer import Importer

# a batch that read a contact while a merge committed is planned again (``ConcurrentUpdate``)
PLAN_ATTEMPTS = 5


class DryRunPlan:
    """What a dry run's batches planned so far: ``Pending`` (each plan added in turn), which
    the next batch is loaded with, as if it were stored."""

    def __init__(self) -> None:
        self.pending = Pending()
        # (source system, source id) -> the payload hash of the record it would have now
        self.payloads: dict[tuple[str, str], str | None] = {}

    def plan(
        self, session: Session, importer: Importer, observations: list[Observation]
    ) -> list[Outcome]:
        """Plan one batch after the ones before, and add what it planned."""
        for attempt in range(PLAN_ATTEMPTS):
            try:
                planned = plan_only(
                    session,
                    organization=importer.org,
                    observations=observations,
                    actor=importer.job.actor,
                    import_job_id=importer.job.id,
                    pending=self.pending,
                )
            except ConcurrentUpdate:
                if attempt == PLAN_ATTEMPTS - 1:
                    raise
                continue
            self.pending.add(planned)
            for record in planned.writes.records:
                if record["is_current"]:
                    key = (record["source_system"], record["source_id"])
                    self.payloads[key] = record["payload_hash"]
            return planned.outcomes
        raise AssertionError("unreachable")

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
        rejected = {e["line"] for e in errors if e["rejected"]}
        errors = errors + self._pet_value_errors(prepared, rejected=rejected)
        # the job's own rows only: its row errors and progress, in a short transaction
        with session_scope(self.engine) as s:
            if errors:
                s.execute(insert(s, ImportRowError.__table__), errors)
            self._progress(s, source)
        self._batch_done(progress)
