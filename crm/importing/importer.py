"""The importer: a CSV source through the ingestion pipeline in committed batches."""

from __future__ import annotations

import gc
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import IO, Any

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from crm.db import (
    analyze,
    estimated_rows,
    insert,
    is_postgres,
    session_scope,
)
from crm.importing.dry_run import DryRunning, DryRunPlan
from crm.importing.jobs import ImportOptions
from crm.importing.known import KnownRows
from crm.importing.overlap import Overlapping, _Planned
from crm.importing.pets import PetRows
from crm.importing.preview import RowPreview
from crm.importing.reader import CsvSource, Row
from crm.importing.rows import (
    _LOOKUP_TABLES,
    ANALYZE_MIN_ROWS,
    COUNTERS,
    Normalised,
    _batches,
    _Prepared,
    normalise_rows,
)
from crm.ingest import (
    LINKED,
    REJECTED,
    UNCHANGED,
    UPDATED,
    Observation,
    Outcome,
    PlannedWrites,
    ingest,
    plan_batch,
)
from crm.models import (
    ImportJob,
    ImportRowError,
    Organization,
    SourceRecord,
    utcnow,
    uuid7,
)
from crm.settings import get_settings

log = structlog.get_logger(__name__)


class Importer(Overlapping, DryRunning, KnownRows, PetRows):
    def __init__(self, engine: Engine, job: ImportJob, org: Organization, options: ImportOptions):
        self.engine = engine
        self.job = job
        self.org = org
        self.options = options
        self.region = options.region or org.default_region
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.rows = 0
        self.warnings = 0
        self.analysed_at: tuple[int, int] | None = None
        # the source ids whose records the batch planned last wrote (``_recheck``)
        self.written: set[str] = set()
        self.pool: ProcessPoolExecutor | None = None
        # a dry run's plan so far (``dry_run.DryRunPlan``): batches are planned, not stored
        self.dry: DryRunPlan | None = None
        # whether the source has records under content ids (``KnownRows._legacy_ids``)
        self.legacy: bool | None = None
        # the first rows' outcomes, when asked for (``crm import --preview N``)
        self.preview: RowPreview | None = None

    def _error(
        self, row: Row, *, code: str, column: str | None, message: str, rejected: bool
    ) -> dict[str, Any]:
        return {
            "id": uuid7(),
            "organization_id": self.org.id,
            "import_job_id": self.job.id,
            "line": row.line,
            "column": column,
            "code": code,
            "message": message,
            "rejected": rejected,
            "row": row.original,
        }

    def _observe(
        self, results: list[Normalised]
    ) -> tuple[list[Observation], list[dict], dict[int, str]]:
        observations: list[Observation] = []
        errors: list[dict[str, Any]] = []
        targets: dict[int, str] = {}
        for row, target, obs, rejected in results:
            if obs is None:
                self.counts[REJECTED] += 1
                errors.extend(
                    self._error(row, code=i.code, column=i.field, message=i.message, rejected=True)
                    for i in rejected
                )
                continue
            for issue in obs.issues:
                self.warnings += 1
                errors.append(
                    self._error(
                        row,
                        code=issue.code,
                        column=issue.field,
                        message=issue.message,
                        rejected=False,
                    )
                )
            if target:
                targets[len(observations)] = target
            observations.append(obs)
        return observations, errors, targets

    def _prepare(self, session: Session, batch: list[Row]) -> _Prepared:
        hashed: dict[int, tuple[dict[str, Any], str]] = {}
        seen = self._seen_before(session, batch, hashed)
        todo = [row for row in batch if row.line not in seen] if seen else batch
        work = None
        if self.pool is not None and todo:
            work = self.pool.submit(
                normalise_rows,
                todo,
                source=self.options.source,
                region=self.region,
                hashed=hashed,
            )
            hashed = {}
        return _Prepared(batch, seen, todo, work, hashed)

    def _normalised(self, prepared: _Prepared) -> list[Normalised]:
        if prepared.results is None:
            if prepared.work is not None:
                prepared.results = prepared.work.result()
                prepared.work = None
            else:
                prepared.results = normalise_rows(
                    prepared.todo,
                    source=self.options.source,
                    region=self.region,
                    hashed=prepared.hashed,
                )
        return prepared.results

    def _recheck(self, prepared: _Prepared) -> None:
        """Take back from ``seen`` the rows whose record the batch stored just before this
        one wrote (``_seen_before`` ran before that batch was stored, one batch ahead): a
        record the file changes and then changes back must end as its last row says."""
        stale = [row for row in prepared.batch if prepared.seen.get(row.line) in self.written]
        if not stale:
            return
        for row in stale:
            del prepared.seen[row.line]
        again = normalise_rows(stale, source=self.options.source, region=self.region)
        results = self._normalised(prepared) + again
        results.sort(key=lambda result: result[0].line)
        prepared.results = results
        prepared.todo = sorted(prepared.todo + stale, key=lambda row: row.line)

    def _batch(
        self,
        session: Session,
        prepared: _Prepared,
        *,
        deferred: bool = False,
        previous: _Planned | None = None,
    ) -> tuple[PlannedWrites | None, list[dict[str, Any]]] | None:
        """Store one batch on ``session``; ``deferred`` (PostgreSQL): plan it and return its
        writes and row errors instead, planned after ``previous`` (``plan_batch``)."""
        self._recheck(prepared)
        self.rows += len(prepared.batch)
        self.counts[UNCHANGED] += len(prepared.seen)
        results = self._normalised(prepared)
        observations, errors, targets = self._observe(results)
        by_line = {row.line: row for row in prepared.todo}
        skip = self._exported_unchanged(session, observations, targets, by_line)
        self.counts[UNCHANGED] += len(skip)
        todo = [obs for i, obs in enumerate(observations) if i not in skip]
        writes: PlannedWrites | None = None
        self.written = set()
        outcomes: list[Outcome] = []
        if todo:
            if self.dry is not None:
                outcomes = self.dry.plan(session, self, todo)
            elif deferred:
                outcomes, writes = plan_batch(
                    session,
                    organization=self.org,
                    observations=todo,
                    actor=self.job.actor,
                    import_job_id=self.job.id,
                    previous=previous.writes if previous is not None else None,
                )
            else:
                outcomes = ingest(
                    session,
                    organization=self.org,
                    observations=todo,
                    actor=self.job.actor,
                    import_job_id=self.job.id,
                )
            self.written = {
                obs.source_id
                for outcome, obs in zip(outcomes, todo, strict=True)
                if outcome.outcome not in (UNCHANGED, REJECTED)
            }
            for outcome, obs in zip(outcomes, todo, strict=True):
                if outcome.outcome == LINKED and obs.contact_id is not None:
                    # a row naming its contact (an edited export row) updates that contact
                    outcome.outcome = UPDATED
                self.counts[outcome.outcome] += 1
                rejected = outcome.outcome == REJECTED
                for issue in outcome.issues[len(obs.issues) :]:
                    self.warnings += not rejected
                    errors.append(
                        self._error(
                            by_line[obs.line],
                            code=issue.code,
                            column=issue.field,
                            message=issue.message,
                            rejected=rejected,
                        )
                    )
        if self.preview is not None and not self.preview.full:
            self.preview.add(
                seen=prepared.seen,
                results=results,
                exported=[observations[i] for i in sorted(skip)],
                planned=list(zip(todo, outcomes, strict=True)),
                pet_lines={row.line for row in prepared.batch if row.pet},
            )
        if deferred or self.dry is not None:
            return writes, errors
        if errors:
            session.execute(insert(session, ImportRowError.__table__), errors)
        return None

    def _keep_statistics(self, session: Session) -> None:
        if self._statistics_due(session):
            analyze(session, _LOOKUP_TABLES)

    def _statistics_due(self, session: Session) -> bool:
        """Whether to analyse the lookup tables now: whenever this import has about doubled
        them since they were last analysed (about log2(rows) times for a load into an empty
        organization, never for a re-import that writes nothing)."""
        written = sum(self.counts[k] for k in ("created", "updated", "linked"))
        if self.analysed_at is None:
            self.analysed_at = (written, estimated_rows(session, SourceRecord.__table__))
        last_written, size = self.analysed_at
        if written - last_written < max(size, ANALYZE_MIN_ROWS):
            return False
        self.analysed_at = (written, size + written - last_written)
        return True

    def _progress_values(self, source: CsvSource) -> dict[str, Any]:
        return {
            **self.counts,
            "rows": self.rows,
            "processed_bytes": source.bytes_read,
            "heartbeat_at": utcnow(),
        }

    def _progress(self, session: Session, source: CsvSource, *, final: bool = False) -> None:
        values = self._progress_values(source)
        if final:
            values["finished_at"] = utcnow()
        session.execute(update(ImportJob).where(ImportJob.id == self.job.id).values(**values))
        for key, value in values.items():
            setattr(self.job, key, value)

    def run(self, stream: IO[bytes], progress: Callable[[ImportJob], None] | None) -> None:
        settings = get_settings()
        workers = settings.import_workers
        if workers > 0 and (self.job.total_bytes or 0) >= settings.import_parallel_min_bytes:
            self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
        try:
            self._run(stream, progress)
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)
                self.pool = None

    def _run(self, stream: IO[bytes], progress: Callable[[ImportJob], None] | None) -> None:
        source = CsvSource(
            stream,
            column_map=self.options.column_map,
            encoding=self.options.encoding,
            region=self.region,
        )
        header_row = Row(line=1, values={}, metadata={})
        notes = [
            self._error(
                header_row,
                code="UNKNOWN_COLUMN",
                column=name,
                rejected=False,
                message="column not recognised: its values are kept in each contact's metadata",
            )
            for name in source.unknown_columns
        ]
        with session_scope(self.engine) as s:
            if notes:
                s.execute(insert(s, ImportRowError.__table__), notes)
        if self.options.dry_run:
            self._dry_batches(source, progress)
        elif get_settings().import_overlap and is_postgres(self.engine):
            self._overlapped_batches(source, progress)
        else:
            self._all_batches(source, progress)
        with session_scope(self.engine) as s:
            self._progress(s, source, final=True)
        if source.failure is not None:  # the rows before the line it names are stored
            raise source.failure

    def _all_batches(self, source: CsvSource, progress: Callable[[ImportJob], None] | None) -> None:
        # While batch k is stored, batch k+1 is already being normalised (by the worker
        # process, when there is one): each batch is prepared one step ahead.
        batches = _batches(source.rows(), self.options.batch_size)
        ahead: _Prepared | None = None
        for batch in batches:
            current, ahead = ahead, self._prepare_in(None, batch)
            if current is not None:
                self._store(current, source, progress)
        if ahead is not None:
            self._store(ahead, source, progress)

    def _prepare_in(self, session: Session | None, batch: list[Row]) -> _Prepared:
        if session is not None:
            return self._prepare(session, batch)
        with session_scope(self.engine) as s:
            return self._prepare(s, batch)

    def _store(
        self,
        prepared: _Prepared,
        source: CsvSource,
        progress: Callable[[ImportJob], None] | None,
    ) -> None:
        with session_scope(self.engine) as s:
            self._keep_statistics(s)
            self._batch(s, prepared)
            self._store_pets(s, prepared)
            self._progress(s, source)
        self._batch_done(progress)

    def _batch_done(self, progress: Callable[[ImportJob], None] | None) -> None:
        # With the raised thresholds (``fewer_gc_passes``) a re-import, which frees nearly
        # everything by reference counting, might never reach one: what a batch leaves in
        # reference cycles (its session, its results) is collected here, so memory stays
        # bounded whatever the file's size. The young generations only: about a millisecond.
        gc.collect(1)
        if progress:
            progress(self.job)
