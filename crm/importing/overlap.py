"""The overlapped import (PostgreSQL): one batch stored on a writer thread while the next is
read, normalised and planned."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import update
from sqlmodel import Session

from crm.db import (
    analyze,
    insert,
    is_retryable,
    session_scope,
)
from crm.importing.reader import CsvSource
from crm.importing.rows import _LOOKUP_TABLES, _batches, _names_contacts, _Prepared
from crm.ingest import (
    PlannedWrites,
)
from crm.ingest.pipeline import ConcurrentUpdate
from crm.models import (
    ImportJob,
    ImportRowError,
)

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Planned:
    """A batch planned on its own session, its writes not sent yet (``_plan``); then handed
    to the writer thread (``future``)."""

    prepared: _Prepared
    # the importer's counters before the batch: put back if it has to be stored again
    before: tuple[dict[str, int], int, int]
    session: Session
    writes: PlannedWrites | None
    errors: list[dict[str, Any]]
    progress: dict[str, Any]
    # analyse the lookup tables once stored (``_Importer._statistics_due``)
    analyse: bool = False
    future: Future | None = None

    def send(self, job_id: uuid.UUID) -> None:
        """The batch's writes, its row errors and the job's progress, committed (on the
        writer thread); the session is closed either way."""
        session = self.session
        try:
            if self.writes is not None:
                self.writes.send()
            if self.errors:
                session.execute(insert(session, ImportRowError.__table__), self.errors)
            session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**self.progress))
            session.commit()
        except BaseException:
            session.rollback()
            session.close()
            raise
        try:
            if self.analyse:
                analyze(session, _LOOKUP_TABLES)
                session.commit()
        except Exception as exc:  # statistics are a help, the batch is stored
            session.rollback()
            log.warning("crm.import.analyze_failed", job_id=str(job_id), error=type(exc).__name__)
        finally:
            session.close()

    def discard(self) -> None:
        """Throw the plan away (nothing of it was written); never masks the error that led
        here."""
        with suppress(Exception):
            self.session.rollback()
        self.session.close()


class Overlapping:
    """The overlapped batches of ``Importer`` (a mixin: the importer's state and steps)."""

    def _overlapped_batches(
        self, source: CsvSource, progress: Callable[[ImportJob], None] | None
    ) -> None:
        """Store the batches on a second thread, one at a time and in order, each committed
        as in ``_all_batches``, while this thread reads, normalises and plans the next.

        The writer thread only sends: the COPY text is built here and what it waits for is
        the database (without the GIL), so the importer's Python and PostgreSQL's storing
        overlap. The next batch is planned while the previous one's writes are on their way,
        as if they were stored (``plan_batch(previous=...)``); its own writes are sent only
        once those have committed. When the previous batch's writes meet a conflict (another
        writer, ``is_retryable``), it is stored again one at a time with ``ingest``'s retries
        and the next batch is planned again. A batch with rows of this service's own export
        (a ``contact_id``) is planned only after the previous one has committed.
        """
        in_flight: _Planned | None = None
        planned: _Planned | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="crm-import-writer") as writer:
            try:
                for batch in _batches(source.rows(), self.options.batch_size):
                    prepared = self._prepare_in(None, batch)
                    self._normalised(prepared)
                    if in_flight is not None and _names_contacts(prepared):
                        self._settle(in_flight, source, progress)
                        in_flight = None
                    planned = self._plan(prepared, source, in_flight)
                    if in_flight is not None:
                        stored_again = not self._settle(in_flight, source, progress)
                        in_flight = None
                        if stored_again and planned is not None:
                            # planned on writes that did not commit as planned
                            planned.discard()
                            planned = self._plan(prepared, source, None)
                    if planned is None:  # lost a race while planning: one at a time
                        self._store(prepared, source, progress)
                        continue
                    planned.future = writer.submit(planned.send, self.job.id)
                    in_flight, planned = planned, None
                if in_flight is not None:
                    self._settle(in_flight, source, progress)
                    in_flight = None
            finally:
                if planned is not None:
                    planned.discard()
                if in_flight is not None and in_flight.future is not None:
                    wait([in_flight.future])  # failing: let the writer finish and close up

    def _plan(
        self,
        prepared: _Prepared,
        source: CsvSource,
        previous: _Planned | None,
    ) -> _Planned | None:
        """Plan a batch on a session of its own; None (counters put back) when planning met
        a conflict."""
        before = (dict(self.counts), self.rows, self.warnings)
        session = Session(self.engine, expire_on_commit=False)
        try:
            # analysed by the writer once the batch is stored, while the next is planned
            analyse = self._statistics_due(session)
            deferred = self._batch(session, prepared, deferred=True, previous=previous)
        except Exception as exc:
            session.rollback()
            session.close()
            if not _conflict(exc):
                raise
            self._again(exc, before)
            return None
        assert deferred is not None
        writes, errors = deferred
        progress = self._progress_values(source)
        return _Planned(prepared, before, session, writes, errors, progress, analyse)

    def _settle(
        self,
        in_flight: _Planned,
        source: CsvSource,
        progress: Callable[[ImportJob], None] | None,
    ) -> bool:
        """Wait for the writer to commit ``in_flight``; False when it lost a race and was
        stored again instead (the counters then count what that did)."""
        assert in_flight.future is not None
        try:
            in_flight.future.result()
        except Exception as exc:
            if not _conflict(exc):
                raise
            self._again(exc, in_flight.before)
            self._store(in_flight.prepared, source, progress)
            return False
        if any(row.pet for row in in_flight.prepared.batch):  # its pets, once its owners are
            with session_scope(self.engine) as s:
                self._store_pets(s, in_flight.prepared)
        for key, value in in_flight.progress.items():
            setattr(self.job, key, value)
        gc.collect(1)  # as in ``_store``
        if progress:
            progress(self.job)
        return True

    def _again(self, exc: Exception, before: tuple[dict[str, int], int, int]) -> None:
        """A batch lost a race: its counters are put back, to be counted when it is stored
        one at a time (``ingest``'s retries)."""
        log.info("crm.import.batch_again", job_id=str(self.job.id), reason=type(exc).__name__)
        counts, self.rows, self.warnings = before
        self.counts = dict(counts)


def _conflict(exc: BaseException) -> bool:
    """A batch that met another transaction's writes: planned again, it goes through."""
    return is_retryable(exc) or isinstance(exc, ConcurrentUpdate)
