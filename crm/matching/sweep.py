"""The dedup sweep: find an organization's duplicates, merge the sure ones, queue the rest.

Full: every active contact against every other (through the blocks). Incremental: the
contacts changed since the last successful sweep started, against everyone. One sweep per
organization runs at a time (``runs``); a second started meanwhile returns ``skipped``.

Phases: read the contacts in chunks (keyset paging), block and score, write the review
candidates, then merge the auto-merge groups in batches through ``crm.merging`` (set-based, a
transaction per batch; on PostgreSQL in forked processes, ``_merge_batches``). On PostgreSQL
the records and key entries go to temporary tables and come back block by block
(``stream``, ``worktables``: memory flat however large the organization; the scoring
stream is one read transaction on those tables), and the auto-merge groups are written to
one and merged from it a slice at a time (``group_streamed``: memory flat however many
merges); on SQLite (the embedded, small case) they
are blocked and scored in memory (``Matcher``), chunked writes, no transaction open for
long. Both compare the same pairs. A failure on one pair or one group is logged and counted
and the sweep goes on.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import time
import uuid
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from crm.db import insert, is_postgres, make_engine, read_only, session_scope
from crm.errors import NotFound
from crm.logging import get_logger
from crm.matching import runs
from crm.matching.blocking import DEFAULT_MAX_BLOCK, KeyIndex
from crm.matching.matcher import Matcher, PairResult, merge_groups
from crm.matching.records import MatchRecord, iter_record_chunks
from crm.matching.scoring import (
    AUTO_MERGE,
    NameFrequencies,
    Scored,
    Scorer,
    Thresholds,
    queued_score,
)
from crm.matching.stream import BlockScorer, iter_blocks, score_stream
from crm.matching.worktables import WorkTables
from crm.merging.dismissals import dismissed_pairs
from crm.merging.rows import json_value
from crm.models import DuplicateCandidate, Organization, utcnow, uuid7

log = get_logger(__name__)

FULL = "full"
INCREMENTAL = "incremental"
MODES = (FULL, INCREMENTAL)
_CANDIDATES = DuplicateCandidate.__table__
_WRITE_BATCH = 500
_HEARTBEAT_SECONDS = 60.0
# auto-merge groups per transaction (a handful of statements a batch)
_MERGE_BATCH = 500
_FORK_FROM = 20_000
# merge batches queued per merge process: enough to cover reading the next slice
_IN_FLIGHT = 4
# records in memory at once while grouping the streamed sweep's auto-merge pairs
_GROUPING_SLICE = 50_000

Pair = tuple[uuid.UUID, uuid.UUID]


@dataclass(slots=True)
class SweepSummary:
    """What one sweep did (``skipped``: another sweep of the organization was running)."""

    organization_id: str
    mode: str
    run_id: str | None = None
    contacts: int = 0
    changed: int = 0
    pairs_scored: int = 0
    auto_merged: int = 0
    candidates: int = 0
    errors: int = 0
    seconds: float = 0.0
    skipped: bool = False
    blocks: dict[str, int] = field(default_factory=dict)
    # seconds per phase: load, match, queue, merge
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_sweep(
    engine: Engine,
    *,
    organization_id: uuid.UUID,
    mode: str = FULL,
    actor: str | None = None,
    workers: int = 1,
) -> SweepSummary:
    """Sweep the organization for duplicates now; a no-op when a sweep of it is running."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    started = time.perf_counter()
    with session_scope(engine) as session:
        organization = session.get(Organization, organization_id)
        if organization is None:
            raise NotFound("organization", field="organization")
        session.expunge(organization)
    summary = SweepSummary(organization_id=str(organization_id), mode=mode)
    since = runs.last_success(engine, organization_id=organization_id)
    if mode == INCREMENTAL and since is None:
        summary.mode = FULL  # nothing to be incremental to: the first sweep sees everyone
    run = runs.start_run(engine, organization_id=organization_id, mode=summary.mode, actor=actor)
    if run is None:
        summary.skipped = True
        summary.seconds = round(time.perf_counter() - started, 3)
        log.info("crm.dedup.skipped", organization_id=str(organization_id), reason="running")
        return summary
    summary.run_id = str(run.id)
    log.info("crm.dedup.started", organization_id=str(organization_id), mode=summary.mode)
    try:
        _Sweep(engine, organization, run, summary, actor=actor, workers=workers).run(
            since=since if summary.mode == INCREMENTAL else None
        )
    except BaseException as exc:
        summary.seconds = round(time.perf_counter() - started, 3)
        runs.finish_run(engine, run, status="failed", error=type(exc).__name__, **_counts(summary))
        log.error(
            "crm.dedup.failed", organization_id=str(organization_id), error=type(exc).__name__
        )
        raise
    summary.seconds = round(time.perf_counter() - started, 3)
    runs.finish_run(engine, run, status="succeeded", **_counts(summary))
    log.info(
        "crm.dedup.finished",
        **{k: v for k, v in summary.as_dict().items() if k not in ("blocks", "timings")},
        timings=summary.timings,
    )
    return summary


def _counts(summary: SweepSummary) -> dict[str, int]:
    return {
        "contacts": summary.contacts,
        "pairs_scored": summary.pairs_scored,
        "auto_merged": summary.auto_merged,
        "candidates": summary.candidates,
        "errors": summary.errors,
    }


class _Sweep:
    def __init__(
        self,
        engine: Engine,
        organization: Organization,
        run: Any,
        summary: SweepSummary,
        *,
        actor: str | None,
        workers: int,
    ) -> None:
        self.engine = engine
        self.organization = organization
        self.org_id = organization.id
        self.run_row = run
        self.summary = summary
        self.actor = actor or "dedup.sweep"
        self.workers = workers
        self.thresholds = Thresholds.for_settings(organization.settings)
        self.last_beat = time.monotonic()

    def beat(self) -> None:
        if time.monotonic() - self.last_beat >= _HEARTBEAT_SECONDS:
            runs.heartbeat(self.engine, self.run_row)
            self.last_beat = time.monotonic()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.summary.timings[phase] = round(now - self.clock, 3)
        self.clock = now

    def run(self, *, since: Any) -> None:
        self.clock = time.perf_counter()
        if is_postgres(self.engine):
            self.run_streamed(since=since)
            return
        records, index, frequencies = self.load(since)
        self.lap("load")
        matcher = Matcher(records, thresholds=self.thresholds, index=index, frequencies=frequencies)
        result = matcher.run(
            only_changed=since is not None, on_error=self.compare_failed, workers=self.workers
        )
        self.beat()
        self.lap("match")
        summary = self.summary
        summary.pairs_scored = result.pairs_scored
        summary.errors += result.errors
        summary.blocks = {
            "keys": result.blocks.keys,
            "blocks": result.blocks.blocks,
            "windowed": result.blocks.windowed_blocks,
            "largest": result.blocks.largest_block,
        }
        existing = self.existing_candidates()
        dismissed = self.dismissed_pairs()
        pairs = [p for p in result.pairs if _pair(records, p) not in dismissed]
        groups = matcher.merge_groups(pairs, excluded=dismissed)
        group_of = {i: g[0] for g in groups for i in g}
        queued = [
            p for p in pairs if group_of.get(p.a) is None or group_of.get(p.a) != group_of.get(p.b)
        ]
        summary.candidates += self.write_candidates(records, queued, existing)
        self.beat()
        self.lap("queue")
        failed = self.merge(records, groups, pairs, existing)
        if failed:
            # what could not merge waits for a person instead
            summary.candidates += self.write_candidates(records, failed, existing)
        self.lap("merge")

    def run_streamed(self, *, since: Any) -> None:
        """The same sweep with the records and key entries in the database (``stream``):
        memory stays flat however large the organization."""
        summary = self.summary
        tables = WorkTables(self.engine, max_block=DEFAULT_MAX_BLOCK)
        try:
            frequencies = NameFrequencies()
            with Session(read_only(self.engine)) as session:
                for chunk in iter_record_chunks(
                    session, organization_id=self.org_id, changed_since=since
                ):
                    session.rollback()  # no read transaction stays open between chunks
                    for record in chunk:
                        frequencies.add(record)
                        summary.contacts += 1
                        summary.changed += record.changed
                    tables.add(chunk)
                    self.beat()
            frequencies.finish()
            oversized, summary.blocks = tables.blocks()
            self.lap("load")
            scorer = Scorer(frequencies=frequencies)
            blocks = BlockScorer(
                scorer=scorer,
                thresholds=self.thresholds,
                oversized=oversized,
                only_changed=since is not None,
            )
            summary.pairs_scored, errors = score_stream(
                blocks,
                iter_blocks(tables.stream()),
                # forking pays for itself on large organizations only
                workers=self.workers if summary.contacts >= _FORK_FROM else 1,
                on_result=tables.add_pairs,
                beat=self.beat,
            )
            tables.end_stream()
            summary.errors += errors
            self.lap("match")
            dismissed = self.dismissed_pairs()
            parts, groups = self.group_streamed(tables, scorer, dismissed)
            tables.drop_pairs(dismissed)
            summary.candidates += tables.queue(organization_id=self.org_id, now=utcnow())
            self.beat()
            self.lap("queue")
            failed = self.run_merges(
                _prefetched(lambda part: self.streamed_jobs(tables, part), parts), groups=groups
            )
            if failed:
                # what could not merge waits for a person instead
                tables.ungroup(failed)
                summary.candidates += tables.queue(
                    organization_id=self.org_id, now=utcnow(), refresh=False
                )
            self.lap("merge")
        finally:
            tables.close()

    def group_streamed(
        self, tables: WorkTables, scorer: Scorer, dismissed: set[Pair]
    ) -> tuple[int, int]:
        """Write the auto-merge groups to ``dedup_groups``, a slice at a time: the number of
        slices and of groups.

        The auto-merge pairs' connected components come from a union-find over an array of
        the record indexes (8 bytes a record, the pairs streamed past it); then each slice of
        components has its pairs and records read, is grouped (``merge_groups``) and written,
        and is dropped: memory holds a slice, however many merges the sweep makes.
        """
        components = _components(tables.auto_links(), size=self.summary.contacts)
        tables.set_components((i, c) for i, c in enumerate(components) if c >= 0)
        del components
        # slices of whole components, _GROUPING_SLICE records or so each: (first, last)
        slices: list[tuple[int, int]] = []
        first = last = None
        held = 0
        for last, size in tables.component_sizes():
            first = last if first is None else first
            held += size
            if held >= _GROUPING_SLICE:
                slices.append((first, last))
                first, held = None, 0
        if first is not None and last is not None:
            slices.append((first, last))
        tables.clear_groups()
        groups = 0
        for part, (first, last) in enumerate(slices):
            auto = tables.auto_pairs(first, last)
            records = tables.records({i for a, b, _ in auto for i in (a, b)})
            pairs = [
                PairResult(a, b, Scored(score, 0.0, []), AUTO_MERGE)
                for a, b, score in auto
                if _ordered(records[a].id, records[b].id) not in dismissed
            ]
            del auto
            found = merge_groups(
                pairs,
                records=records,
                scorer=scorer,
                thresholds=self.thresholds,
                excluded=dismissed,
            )
            by_group = _group_pairs(found, pairs)
            scores = [_weakest(by_group.get(group[0], [])) for group in found]
            tables.add_groups(found, scores=scores, part=part)
            groups += len(found)
            self.beat()
        return len(slices), groups

    def streamed_jobs(self, tables: WorkTables, part: int) -> list[_MergeJob]:
        """A slice's groups, written by ``group_streamed``, as merge jobs (by survivor)."""
        jobs: list[_MergeJob] = []
        for root, contact_id, score in tables.groups(part):
            if jobs and jobs[-1].root == root:
                jobs[-1].merge_ids.append(contact_id)
            else:
                jobs.append(_MergeJob(contact_id, [], score, None, root))
        return jobs

    def dismissed_pairs(self) -> set[Pair]:
        """Never proposed nor merged: each dismissed pair, through merge chains too."""
        with Session(read_only(self.engine)) as session:
            return dismissed_pairs(session, organization_id=self.org_id)

    # phases --------------------------------------------------------------------------------

    def load(self, since: Any) -> tuple[list[MatchRecord], KeyIndex, NameFrequencies]:
        records: list[MatchRecord] = []
        index = KeyIndex()
        frequencies = NameFrequencies()
        with Session(read_only(self.engine)) as session:
            for chunk in iter_record_chunks(
                session, organization_id=self.org_id, changed_since=since
            ):
                for record in chunk:
                    index.add(record)
                    frequencies.add(record)
                records.extend(chunk)
                session.rollback()  # no read transaction stays open between chunks
                self.beat()
        frequencies.finish()
        self.summary.contacts = len(records)
        self.summary.changed = sum(1 for r in records if r.changed)
        return records, index, frequencies

    def existing_candidates(self) -> dict[Pair, tuple[uuid.UUID, str]]:
        dc = DuplicateCandidate
        with Session(read_only(self.engine)) as session:
            rows = session.execute(
                select(dc.id, dc.contact_a_id, dc.contact_b_id, dc.status).where(
                    dc.organization_id == self.org_id
                )
            )
            return {(a, b): (cid, status) for cid, a, b, status in rows}

    def write_candidates(
        self,
        records: list[MatchRecord],
        pairs: list[PairResult],
        existing: dict[Pair, tuple[uuid.UUID, str]],
    ) -> int:
        """Queue new pairs and refresh pending ones; decided pairs stay as they are."""
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        now = utcnow()
        for p in pairs:
            pair = _pair(records, p)
            score = queued_score(p.scored, self.thresholds)
            reasons = p.scored.reasons_json()
            known = existing.get(pair)
            if known is None:
                row_id = uuid7()
                existing[pair] = (row_id, "pending")
                inserts.append(
                    {
                        "id": row_id,
                        "organization_id": self.org_id,
                        "contact_a_id": pair[0],
                        "contact_b_id": pair[1],
                        "score": score,
                        "reasons": reasons,
                        "status": "pending",
                        "created_at": now,
                    }
                )
            elif known[1] == "pending":
                updates.append({"_id": known[0], "score": score, "reasons": reasons})
        written = 0
        for start in range(0, len(inserts), _WRITE_BATCH):
            written += self._insert(inserts[start : start + _WRITE_BATCH])
            self.beat()
        for start in range(0, len(updates), _WRITE_BATCH):
            written += self._refresh(updates[start : start + _WRITE_BATCH])
            self.beat()
        return written

    def _insert(self, rows: list[dict[str, Any]]) -> int:
        try:
            with session_scope(self.engine) as session:
                stmt = insert(session, _CANDIDATES).on_conflict_do_nothing()
                session.execute(stmt, rows)
            return len(rows)
        except Exception as exc:
            # one bad row must not lose the batch: write them one by one
            log.warning("crm.dedup.candidates_batch_failed", error=type(exc).__name__)
            written = 0
            for row in rows:
                try:
                    with session_scope(self.engine) as session:
                        session.execute(insert(session, _CANDIDATES).on_conflict_do_nothing(), row)
                    written += 1
                except Exception as row_exc:
                    self.item_failed("candidate", row["contact_a_id"], row["contact_b_id"], row_exc)
            return written

    def _refresh(self, rows: list[dict[str, Any]]) -> int:
        stmt = (
            update(_CANDIDATES)
            .where(_CANDIDATES.c.id == bindparam("_id"), _CANDIDATES.c.status == "pending")
            .values(score=bindparam("score"), reasons=bindparam("reasons"))
        )
        try:
            with session_scope(self.engine) as session:
                session.connection().execute(stmt, rows)
            return len(rows)
        except Exception as exc:
            self.summary.errors += 1
            log.warning("crm.dedup.candidates_refresh_failed", error=type(exc).__name__)
            return 0

    def merge(
        self,
        records: Sequence[MatchRecord],
        groups: list[list[int]],
        pairs: list[PairResult],
        existing: dict[Pair, tuple[uuid.UUID, str]],
    ) -> list[PairResult]:
        """Merge each group into its survivor; the pairs of the groups that failed."""
        by_group = _group_pairs(groups, pairs)
        jobs: list[_MergeJob] = []
        for group in groups:
            members = by_group.get(group[0], [])
            candidate_id = None
            if len(group) == 2 and members:
                known = existing.get(_pair(records, members[0]))
                candidate_id = known[0] if known and known[1] == "pending" else None
            jobs.append(
                _MergeJob(
                    survivor=records[group[0]].id,
                    merge_ids=[records[i].id for i in group[1:]],
                    score=_weakest(members),
                    candidate_id=candidate_id,
                    root=group[0],
                )
            )
        failed = self.run_merges([jobs], groups=len(jobs))
        return [p for root in failed for p in by_group.get(root, [])]

    def run_merges(self, slices: Iterable[list[_MergeJob]], *, groups: int) -> list[int]:
        """Merge the jobs, slice after slice (``groups`` of them in all); the survivor
        indexes (``root``) of the groups that failed.

        Groups go in batches, one transaction per batch, merged set-based
        (``merge_contact_groups``: a refused group is reported and the others merge); on
        PostgreSQL ``workers`` forked processes take the batches (``_merge_batches``). A slice
        is read only when the merges reach it.
        """
        failed: list[int] = []
        for batch, (merged, bad) in self._merge_batches(slices, groups=groups):
            self.summary.auto_merged += merged
            for position, exc in bad:
                job = batch[position]
                self.item_failed("merge", job.survivor, job.merge_ids[0], exc)
                failed.append(job.root)
            self.beat()
        return failed

    def _merge_batches(
        self, slices: Iterable[list[_MergeJob]], *, groups: int
    ) -> Iterator[tuple[list[_MergeJob], tuple[int, list[tuple[int, Exception]]]]]:
        """Each batch with its merged count and failed jobs (by position), as they finish.

        On PostgreSQL with many batches, ``workers`` forked processes merge them, each batch
        in its own transaction as in one process: the groups are disjoint, so the batches
        only meet on review-queue rows between their contacts (row-locked, a deadlock is
        retried), and one process's Python (snapshots, survivorship, events) runs while
        another's statements do. The processes start at evenly spaced batches of each slice
        (neighbours in the job order share more review-queue rows, so they would wait on each
        other's locks). A batch goes to them pickled (ids and a score a group), and only a
        few are in flight: memory holds a slice's jobs, not the sweep's.
        """
        batches_in_all = -(-groups // _MERGE_BATCH)
        workers = min(self.workers, batches_in_all, os.cpu_count() or 1)
        if workers <= 1 or not is_postgres(self.engine) or not hasattr(os, "fork"):
            for batch in _batches(slices, workers=1):
                merged, bad = self._merge_batch(batch)
                yield batch, (merged, [(batch.index(job), exc) for job, exc in bad])
            return
        _merging.update(sweep=self)
        try:
            context = multiprocessing.get_context("fork")
            with context.Pool(workers, initializer=_merge_child_start) as pool:
                in_flight: deque[tuple[list[_MergeJob], Any]] = deque()
                for batch in _batches(slices, workers=workers):
                    in_flight.append((batch, pool.apply_async(_merge_in_child, (batch,))))
                    if len(in_flight) > _IN_FLIGHT * workers:
                        done, result = in_flight.popleft()
                        yield done, result.get()
                while in_flight:
                    done, result = in_flight.popleft()
                    yield done, result.get()
                pool.close()  # the processes exit on their own, closing their connections
                pool.join()
        finally:
            _merging.clear()

    def _merge_batch(self, jobs: list[_MergeJob]) -> tuple[int, list[tuple[_MergeJob, Exception]]]:
        """Merge a batch of groups in one transaction (``merge_contact_groups``: a handful of
        statements per batch); a batch that fails as a whole is split in two until the group
        at fault is alone."""
        from crm.merging import service
        from crm.merging.merge import MergeGroup

        groups = [
            MergeGroup(
                survivor_id=job.survivor,
                merge_ids=job.merge_ids,
                score=job.score,
                candidate_id=job.candidate_id,
            )
            for job in jobs
        ]
        try:
            with session_scope(self.engine) as session:
                organization = session.merge(self.organization, load=False)
                outcome = service.merge_contact_groups(
                    session,
                    organization=organization,
                    groups=groups,
                    actor=self.actor,
                    reason="sweep",
                )
        except Exception as exc:
            if len(jobs) == 1:
                return 0, [(jobs[0], exc)]
            half = len(jobs) // 2
            merged, bad = self._merge_batch(jobs[:half])
            more, worse = self._merge_batch(jobs[half:])
            return merged + more, bad + worse
        job_of = {id(g): job for g, job in zip(groups, jobs, strict=True)}
        merged = sum(len(ids) for _, ids in outcome.merged)
        return merged, [(job_of[id(g)], exc) for g, exc in outcome.failed]

    # errors --------------------------------------------------------------------------------

    def compare_failed(self, a: MatchRecord, b: MatchRecord, exc: Exception) -> None:
        log.warning(
            "crm.dedup.compare_failed",
            organization_id=str(self.org_id),
            contact_a=str(a.id),
            contact_b=str(b.id),
            error=type(exc).__name__,
        )

    def item_failed(self, what: str, a: Any, b: Any, exc: Exception) -> None:
        self.summary.errors += 1
        log.warning(
            f"crm.dedup.{what}_failed",
            organization_id=str(self.org_id),
            contact_a=str(a),
            contact_b=str(b),
            error=exc.name if isinstance(exc, _MergeFailure) else type(exc).__name__,
            detail=getattr(exc, "code", None) and str(getattr(exc, "code", "")),
        )


# the forked merge processes' inherited state (``_Sweep._merge_batches``)
_merging: dict[str, Any] = {}


def _merge_child_start() -> None:
    """A forked merge process gets an engine of its own; the inherited one (its pooled
    connections are the parent's) stays referenced and untouched until the process exits."""
    sweep: _Sweep = _merging["sweep"]
    _merging["inherited"] = sweep.engine
    sweep.engine = make_engine(
        sweep.engine.url.render_as_string(hide_password=False), json_deserializer=json_value
    )
    multiprocessing.util.Finalize(None, sweep.engine.dispose, exitpriority=10)


def _merge_in_child(batch: list[_MergeJob]) -> tuple[int, list[tuple[int, Exception]]]:
    sweep: _Sweep = _merging["sweep"]
    merged, bad = sweep._merge_batch(batch)
    return merged, [(batch.index(job), _MergeFailure.of(exc)) for job, exc in bad]


class _MergeFailure(Exception):
    """A merge error as a forked merge process reports it (its type's name and code)."""

    def __init__(self, name: str, code: str | None) -> None:
        super().__init__(name, code)
        self.name = name
        self.code = code

    @classmethod
    def of(cls, exc: Exception) -> _MergeFailure:
        code = getattr(exc, "code", None)
        return cls(type(exc).__name__, str(code) if code else None)


@dataclass(slots=True)
class _MergeJob:
    survivor: uuid.UUID
    merge_ids: list[uuid.UUID]
    score: float | None
    candidate_id: uuid.UUID | None
    root: int  # the survivor's record index: how a failed group is known


def _prefetched(load: Callable[[int], list[_MergeJob]], parts: int) -> Iterator[list[_MergeJob]]:
    """``load(0)``, ``load(1)``... with the next slice read on a thread while this one is
    merged: the merge processes do not wait for the read (two slices in memory at most)."""
    with ThreadPoolExecutor(1, thread_name_prefix="crm-dedup-slices") as reader:
        ahead = reader.submit(load, 0) if parts else None
        for part in range(parts):
            assert ahead is not None
            jobs = ahead.result()
            ahead = reader.submit(load, part + 1) if part + 1 < parts else None
            yield jobs


def _batches(slices: Iterable[list[_MergeJob]], *, workers: int) -> Iterator[list[_MergeJob]]:
    """Each slice's jobs in batches, in an order that starts ``workers`` processes at evenly
    spaced batches of the slice."""
    for jobs in slices:
        batches = [
            jobs[start : start + _MERGE_BATCH] for start in range(0, len(jobs), _MERGE_BATCH)
        ]
        stride = -(-len(batches) // workers)
        for start in range(stride):
            yield from batches[start::stride]


def _components(links: Iterable[tuple[int, int]], *, size: int) -> array[int]:
    """Each record's connected component through ``links`` (its lowest index), -1 for a
    record in no link: a union-find over an array of the record indexes, 8 bytes a record."""
    parent = array("l", range(size))
    linked = bytearray(size)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in links:
        linked[a] = linked[b] = 1
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    # a parent is always a lower index: in index order, each parent already holds its root
    for i in range(size):
        parent[i] = parent[parent[i]] if linked[i] else -1
    return parent


def _group_pairs(groups: list[list[int]], pairs: list[PairResult]) -> dict[int, list[PairResult]]:
    """The auto-merge pairs inside each group, by the group's survivor index."""
    by_group: dict[int, list[PairResult]] = {}
    first = {i: g[0] for g in groups for i in g}
    for p in pairs:
        group = first.get(p.a)
        if p.decision == AUTO_MERGE and group is not None and group == first.get(p.b):
            by_group.setdefault(group, []).append(p)
    return by_group


def _weakest(pairs: list[PairResult]) -> float | None:
    return min((p.scored.score for p in pairs), default=None)


def _ordered(a: uuid.UUID, b: uuid.UUID) -> Pair:
    return (a, b) if a < b else (b, a)


def _pair(records: Sequence[MatchRecord] | Mapping[int, MatchRecord], p: PairResult) -> Pair:
    a, b = records[p.a].id, records[p.b].id
    return (a, b) if a < b else (b, a)
