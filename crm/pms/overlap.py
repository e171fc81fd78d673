"""The overlapped patient batches of a sync (PostgreSQL), as the CSV import overlaps its own
(``crm.importing.overlap``): a batch's writes are sent and committed, with its stream's
cursor, on a writer thread while this thread plans the next batch.

Each batch is planned (``plan_batch``) on a session of its own as if the batch before it were
stored (its writes may still be on their way), and its writes are sent only once those have
committed, so batches commit in order, each with the cursor of its last page: a run that dies
resumes from the last committed cursor. When a batch's writes fail (another writer won a
race, or a record spoils the batch), it is stored again on the sync's session the ordinary
way (``store_batch``: retries, a spoiling record halved out, counted and reported) and the
batch planned on it is stored that way too.

The writer's transaction touches the batch's rows and the connection's cursors; this thread
keeps the run's counts and heartbeat, committed after each batch the writer committed, and
applies the merges a batch names once it is stored (the pairs wait in the cursors meanwhile,
so a run that dies applies them in the next). Batches with deleted patients (which repeat
their last stored payload) and the first batch of another stream wait for the batch before
them to commit and are stored the ordinary way.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from crm.db import analyze, is_postgres
from crm.importing.rows import _LOOKUP_TABLES as LOOKUP_TABLES
from crm.ingest import Observation, plan_batch
from crm.ingest.pipeline import PlannedWrites
from crm.models import Organization, PmsConnection
from crm.pms.adapters.base import DELETED, Page, PatientRecord, PmsAdapter
from crm.pms.run_state import RunState

log = structlog.get_logger(__name__)

StoreSerially = Callable[[list[Page]], None]


@dataclass(slots=True)
class _Batch:
    pages: list[Page]
    stream: str
    records: list[PatientRecord]
    cursor: str | None
    # the run's counters and failures before the batch was counted (put back to store it again)
    before: tuple[dict[str, int], int]
    session: Session
    writes: PlannedWrites
    pairs: list[list[str]]
    analyse: bool = False
    future: Future | None = None
    # the connection's cursors as the writer committed them
    cursors: dict[str, Any] | None = None


_COUNTERS = (
    "patients_fetched",
    "patients_created",
    "patients_updated",
    "patients_unchanged",
    "patients_linked",
    "patients_skipped",
    "patients_failed",
)


class OverlappedWriter:
    def __init__(
        self,
        session: Session,
        *,
        adapter: PmsAdapter,
        organization: Organization,
        connection: PmsConnection,
        state: RunState,
        store_serially: StoreSerially,
        statistics: Any,
    ) -> None:
        self.session = session
        self.engine = session.get_bind()
        self.adapter = adapter
        self.organization = organization
        self.connection = connection
        self.state = state
        self.store_serially = store_serially
        self.enabled = is_postgres(session)
        self.in_flight: _Batch | None = None
        self.writer: ThreadPoolExecutor | None = None
        # ANALYZE as the sync about doubles the lookup tables: the sync's one ``Statistics``,
        # shared with the batches stored the ordinary way (each counts what the other wrote)
        self.statistics = statistics

    def __enter__(self) -> OverlappedWriter:
        if self.enabled:
            self.session.commit()
            self.writer = ThreadPoolExecutor(1, thread_name_prefix="crm-pms-writer")
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            if exc_type is None:
                self.settle()
        finally:
            if self.in_flight is not None and self.in_flight.future is not None:
                wait([self.in_flight.future])  # failing: let the writer finish and close up
                with suppress(Exception):
                    self.in_flight.future.result()
                    self._after_commit(self.in_flight)
            self.in_flight = None
            if self.writer is not None:
                self.writer.shutdown()

    # -- the batches --------------------------------------------------------------------
    def store(self, pages: list[Page]) -> None:
        """Store a batch of pages of one stream (counted here: fetched, bad records)."""
        stream = pages[0].stream
        serial = any(r.status == DELETED for p in pages for r in p.records) or (
            self.in_flight is not None and self.in_flight.stream != stream
        )
        if serial:
            self.settle()
            self.store_serially(pages)
            return
        planned = self._plan(pages)
        if not self.settle() or planned is None:
            # the batch before was stored again (its counts and this batch's were put back),
            # or this one met a conflict while planned: the batch is stored the ordinary way
            if planned is not None:
                _discard(planned.session)
            self.store_serially(pages)
            return
        assert self.writer is not None
        planned.future = self.writer.submit(self._send, planned)
        self.in_flight = planned

    def _plan(self, pages: list[Page]) -> _Batch | None:
        from crm.pms.patients import (
            actor_for,
            count_outcomes,
            count_pages,
            merge_pairs,
            observations_of,
        )

        run = self.state.run
        before = ({k: getattr(run, k) for k in _COUNTERS}, len(self.state.failures))
        stream, records, prepared = count_pages(self.state, pages)
        session = Session(self.engine, expire_on_commit=False)
        try:
            observations: list[Observation] = observations_of(
                session,
                adapter=self.adapter,
                organization=self.organization,
                state=self.state,
                stream=stream,
                records=records,
                prepared=prepared,
            )
            outcomes, writes = plan_batch(
                session,
                organization=self.organization,
                observations=observations,
                actor=actor_for(self.connection),
                previous=self.in_flight.writes if self.in_flight is not None else None,
            )
        except Exception as exc:
            log.info("crm.pms.sync.batch_again", reason=type(exc).__name__)
            _discard(session)
            self._restore(before)
            return None
        count_outcomes(self.state, stream, list(zip(observations, outcomes, strict=True)))
        written = run.patients_created + run.patients_linked
        analyse = self.statistics.due(written=written)
        return _Batch(
            pages,
            stream,
            records,
            pages[-1].cursor,
            before,
            session,
            writes,
            merge_pairs(records),
            analyse,
        )

    def _send(self, batch: _Batch) -> None:
        """On the writer thread: the batch's writes and its cursor, committed."""
        session = batch.session
        try:
            batch.writes.send()
            table = PmsConnection.__table__
            cursors = dict(
                session.execute(
                    sa.select(table.c.cursors).where(table.c.id == self.connection.id)
                ).scalar_one()
                or {}
            )
            from crm.pms.patients import PENDING_MERGES

            if batch.pairs:
                cursors[PENDING_MERGES] = list(cursors.get(PENDING_MERGES, [])) + batch.pairs
            if batch.cursor is not None:
                cursors[batch.stream] = batch.cursor
            session.execute(
                table.update().where(table.c.id == self.connection.id).values(cursors=cursors)
            )
            session.commit()
            batch.pairs = cursors.get(PENDING_MERGES, [])
            batch.cursors = cursors
        except BaseException:
            _discard(session)
            raise
        try:
            if batch.analyse:
                analyze(session, LOOKUP_TABLES)
                session.commit()
        except Exception as exc:  # statistics are a help, the batch is stored
            session.rollback()
            log.warning("crm.pms.sync.analyze_failed", error=type(exc).__name__)
        finally:
            session.close()

    def settle(self) -> bool:
        """Wait for the batch in flight to commit; False when it failed and was stored again
        the ordinary way instead."""
        batch, self.in_flight = self.in_flight, None
        if batch is None or batch.future is None:
            return True
        try:
            batch.future.result()
        except Exception as exc:
            log.info("crm.pms.sync.batch_again", reason=type(exc).__name__)
            self._restore(batch.before)
            self.store_serially(batch.pages)
            return False
        self._after_commit(batch)
        return True

    def _after_commit(self, batch: _Batch) -> None:
        """The run's counts and heartbeat, and the merges the batch named, on this thread's
        session once the writer committed the batch."""
        from crm.pms.patients import PENDING_MERGES, apply_merges
        from crm.pms.run_state import commit_page

        if batch.cursors is not None:
            # the connection's cursors as committed, without marking it changed
            set_committed_value(self.connection, "cursors", batch.cursors)
        updates: dict[str, Any] = {}
        if batch.pairs:
            updates[PENDING_MERGES] = apply_merges(
                self.session,
                organization=self.organization,
                connection=self.connection,
                state=self.state,
                pairs=batch.pairs,
            )
        commit_page(
            self.session, state=self.state, connection=self.connection, cursor_updates=updates
        )

    def _restore(self, before: tuple[dict[str, int], int]) -> None:
        counts, failures = before
        for key, value in counts.items():
            setattr(self.state.run, key, value)
        del self.state.failures[failures:]


def _discard(session: Session) -> None:
    with suppress(Exception):
        session.rollback()
    session.close()
