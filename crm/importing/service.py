"""Import a CSV file: stream it through the ingestion pipeline in committed batches.

Each batch commits with the job's counters, so a killed import resumes by running it again:
rows already stored are ``unchanged``, the rest import, and the end state is the same as one
uninterrupted run. A dry run does the same work in one transaction that is rolled back.
"""

from __future__ import annotations

import gc
import io
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import islice
from multiprocessing import get_context
from typing import IO, Any

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from crm.contacts.queries import identifiers_for
from crm.db import (
    analyze,
    estimated_rows,
    in_values,
    insert,
    is_postgres,
    is_retryable,
    session_scope,
)
from crm.errors import NotFound
from crm.identity import IdentityError, normalize_external_id
from crm.importing.export import export_values
from crm.importing.jobs import ImportOptions, create_import_job
from crm.importing.reader import CsvSource, ImportFailed, Row, canonical_record
from crm.ingest import (
    REJECTED,
    UNCHANGED,
    FieldIssue,
    Observation,
    PlannedWrites,
    Rejected,
    build_observation,
    ingest,
    plan_batch,
)
from crm.ingest.observation import content_hash_of, source_id_for
from crm.ingest.pipeline import ConcurrentUpdate
from crm.models import (
    Contact,
    ContactIdentifier,
    ImportFile,
    ImportJob,
    ImportRowError,
    Organization,
    SourceRecord,
    utcnow,
    uuid7,
)
from crm.settings import get_settings

log = structlog.get_logger(__name__)

__all__ = ["ImportOptions", "create_import_job", "run_import", "run_stored_import"]

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


def _batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while batch := list(islice(rows, size)):
        yield batch


class _Importer:
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

    def _exported_unchanged(
        self, session: Session, observations: list[Observation], targets: dict[int, str], rows: dict
    ) -> set[int]:
        """Rows of this service's own export that still say what the contact says: no-ops."""
        ids: dict[int, uuid.UUID] = {}
        for index, value in targets.items():
            try:
                ids[index] = uuid.UUID(value)
            except ValueError:
                continue
        if not ids:
            return set()
        contacts = {
            c.id: c
            for c in session.exec(
                select(Contact).where(
                    Contact.organization_id == self.org.id,
                    Contact.id.in_(set(ids.values())),
                )
            ).scalars()
        }
        idents = identifiers_for(session, organization_id=self.org.id, contact_ids=contacts)
        same: set[int] = set()
        for index, contact_id in ids.items():
            contact = contacts.get(contact_id)
            if contact is None:
                continue
            # a merged contact's row goes to its survivor, an erased one's is refused: the
            # pipeline decides (``snapshot._follow``), on what it reads when it writes
            observations[index].contact_id = contact_id
            if contact.status != "active":
                continue
            exported = {
                k: v for k, v in export_values(contact, idents.get(contact_id, [])).items() if v
            }
            exported.pop("contact_id", None)
            given = dict(rows[observations[index].line].values)
            given.pop("contact_id", None)
            if _same_export(exported, given):
                same.add(index)
        return same

    def _seen_before(
        self, session: Session, batch: list[Row], hashed: dict[int, tuple[dict[str, Any], str]]
    ) -> dict[int, str]:
        """Lines whose record is the current version of its source record already, with
        that record's ``source_id``.

        Checked on the record as received (see ``content_hash_of``), so a re-import skips
        normalising and planning the rows it has stored before. Fills ``hashed`` with each
        line's canonical record and its hash, for ``normalise_rows``.
        """
        wanted: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for row in batch:
            record = canonical_record(row)
            if record.get("contact_id"):
                continue
            external = record.get("external_id")
            try:
                external = normalize_external_id(external) if external is not None else None
            except IdentityError:
                continue
            digest = content_hash_of(record, region=self.region)
            hashed[row.line] = (record, digest)
            wanted[source_id_for(external, digest)].append((row.line, digest))
        if not wanted:
            return {}
        sr = SourceRecord
        stored = session.execute(
            select(sr.source_id, sr.payload_hash).where(
                sr.organization_id == self.org.id,
                sr.source_system == self.options.source,
                in_values(sr.source_id, wanted),
                sr.is_current.is_(True),
            )
        )
        seen: dict[int, str] = {}
        for source_id, payload_hash in stored:
            seen.update(
                (line, source_id) for line, digest in wanted[source_id] if digest == payload_hash
            )
        return seen

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
        if todo:
            if deferred:
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
        if deferred:
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
        return {**self.counts, "rows": self.rows, "processed_bytes": source.bytes_read}

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
            stream, column_map=self.options.column_map, encoding=self.options.encoding
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
        if self.options.dry_run:
            session = Session(self.engine, expire_on_commit=False)
            try:
                self._all_batches(session, source, progress, commit=False)
            finally:
                session.rollback()
                session.close()
            with session_scope(self.engine) as s:
                self._progress(s, source, final=True)
                if notes:
                    s.execute(insert(s, ImportRowError.__table__), notes)
            return
        with session_scope(self.engine) as s:
            if notes:
                s.execute(insert(s, ImportRowError.__table__), notes)
        if get_settings().import_overlap and is_postgres(self.engine):
            self._overlapped_batches(source, progress)
        else:
            self._all_batches(None, source, progress, commit=True)
        with session_scope(self.engine) as s:
            self._progress(s, source, final=True)

    def _all_batches(
        self,
        session: Session | None,
        source: CsvSource,
        progress: Callable[[ImportJob], None] | None,
        *,
        commit: bool,
    ) -> None:
        # While batch k is stored, batch k+1 is already being normalised (by the worker
        # process, when there is one): each batch is prepared one step ahead.
        batches = _batches(source.rows(), self.options.batch_size)
        ahead: _Prepared | None = None
        for batch in batches:
            current, ahead = ahead, self._prepare_in(session, batch)
            if current is not None:
                self._store(session, current, source, progress, commit=commit)
        if ahead is not None:
            self._store(session, ahead, source, progress, commit=commit)

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
                        self._store(None, prepared, source, progress, commit=True)
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
            self._store(None, in_flight.prepared, source, progress, commit=True)
            return False
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

    def _prepare_in(self, session: Session | None, batch: list[Row]) -> _Prepared:
        if session is not None:
            return self._prepare(session, batch)
        with session_scope(self.engine) as s:
            return self._prepare(s, batch)

    def _store(
        self,
        session: Session | None,
        prepared: _Prepared,
        source: CsvSource,
        progress: Callable[[ImportJob], None] | None,
        *,
        commit: bool,
    ) -> None:
        if commit:
            with session_scope(self.engine) as s:
                self._keep_statistics(s)
                self._batch(s, prepared)
                self._progress(s, source)
        else:
            assert session is not None
            self._batch(session, prepared)
            for key, value in {**self.counts, "rows": self.rows}.items():
                setattr(self.job, key, value)
            self.job.processed_bytes = source.bytes_read
        # With the raised thresholds (``fewer_gc_passes``) a re-import, which frees nearly
        # everything by reference counting, might never reach one: what a batch leaves in
        # reference cycles (its session, its results) is collected here, so memory stays
        # bounded whatever the file's size. The young generations only: about a millisecond.
        gc.collect(1)
        if progress:
            progress(self.job)


def run_import(
    *,
    engine: Engine,
    job_id: uuid.UUID,
    stream: IO[bytes],
    progress: Callable[[ImportJob], None] | None = None,
) -> ImportJob:
    """Import ``stream`` for the pending job ``job_id``; returns the finished job."""
    with session_scope(engine) as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            raise NotFound("import job")
        org = session.get(Organization, job.organization_id)
        job.status = "running"
        job.started_at = utcnow()
        session.add(job)
    opts = job.options or {}
    options = ImportOptions(
        source=job.source,
        dry_run=job.dry_run,
        column_map=opts.get("column_map") or {},
        region=opts.get("region"),
        encoding=opts.get("encoding"),
        filename=job.filename,
        batch_size=get_settings().import_batch_size,
    )
    importer = _Importer(engine, job, org, options)
    started = time.monotonic()
    try:
        with fewer_gc_passes():
            importer.run(stream, progress)
    except ImportFailed as exc:
        _finish(engine, job, status="failed", error=exc.message)
        raise
    except Exception as exc:
        log.exception("crm.import.failed", job_id=str(job.id))
        _finish(engine, job, status="failed", error=f"internal error: {type(exc).__name__}")
        raise
    usable = importer.rows - importer.counts[REJECTED]
    status = "succeeded" if usable > 0 or importer.rows == 0 else "failed"
    error = None if status == "succeeded" else "nothing usable in the file: every row was rejected"
    if importer.rows == 0:
        status, error = "failed", "the file has a header but no data rows"
    _finish(engine, job, status=status, error=error)
    log.info(
        "crm.import.finished",
        job_id=str(job.id),
        rows=importer.rows,
        seconds=round(time.monotonic() - started, 3),
        **importer.counts,
    )
    return job


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


def _finish(engine: Engine, job: ImportJob, *, status: str, error: str | None) -> None:
    with session_scope(engine) as session:
        values = {"status": status, "error": error, "finished_at": utcnow()}
        session.execute(update(ImportJob).where(ImportJob.id == job.id).values(**values))
    job.status, job.error = status, error


def _same_export(exported: dict[str, str], given: dict[str, str]) -> bool:
    return exported == {k: v for k, v in given.items() if v}


def run_stored_import(*, engine: Engine, job_id: uuid.UUID) -> ImportJob:
    """Import the file stored for a background job; safe to run again after a crash."""
    with session_scope(engine) as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            raise NotFound("import job")
        if job.status in ("succeeded", "failed"):
            return job
        stored = session.get(ImportFile, job_id)
        if stored is None:
            raise NotFound("import file")
        content = stored.content
    job = run_import(engine=engine, job_id=job_id, stream=io.BytesIO(content))
    with session_scope(engine) as session:
        session.execute(delete(ImportFile).where(ImportFile.import_job_id == job_id))
    return job
