"""The dedup sweep's merges: the auto-merge groups merged into their survivors, in batches.

Groups go in batches of ``merge_batch``, one transaction per batch, merged set-based
(``crm.merging``'s ``merge_contact_groups``: a refused group is reported and the others merge;
a batch that fails as a whole is split until the group at fault is alone). On PostgreSQL
``workers`` worker processes (``workers``) take the batches. What fails is
reported by its survivor's record index, for the sweep to queue for a person instead. A
mixin of ``sweep._Sweep``.
"""

from __future__ import annotations

import multiprocessing.util
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from crm.db import is_postgres, make_engine, session_scope
from crm.matching import workers
from crm.matching.matcher import PairResult
from crm.matching.scoring import AUTO_MERGE
from crm.merging.rows import json_value
from crm.models import Organization

if TYPE_CHECKING:
    from crm.matching.sweep import SweepSummary

# merge batches queued per merge process: enough to cover reading the next slice
_IN_FLIGHT = 4

Pair = tuple[uuid.UUID, uuid.UUID]


class SweepMerges:
    """The merges of ``sweep._Sweep`` (which gives it the state below and ``beat``,
    ``item_failed``)."""

    engine: Engine
    organization: Organization
    summary: SweepSummary
    actor: str
    workers: int
    # auto-merge groups per transaction (``sweep``)
    merge_batch: int

    def run_merges(self, slices: Iterable[list[MergeJob]], *, groups: int) -> list[int]:
        """Merge the jobs, slice after slice (``groups`` of them in all); the survivor
        indexes (``root``) of the groups that failed.

        Groups go in batches, one transaction per batch, merged set-based
        (``merge_contact_groups``: a refused group is reported and the others merge); on
        PostgreSQL ``workers`` worker processes take the batches (``_merge_batches``). A slice
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
        self, slices: Iterable[list[MergeJob]], *, groups: int
    ) -> Iterator[tuple[list[MergeJob], tuple[int, list[tuple[int, Exception]]]]]:
        """Each batch with its merged count and failed jobs (by position), as they finish.

        On PostgreSQL with many batches, ``workers`` worker processes merge them, each batch
        in its own transaction as in one process: the groups are disjoint, so the batches
        only meet on review-queue rows between their contacts (row-locked, a deadlock is
        retried), and one process's Python (snapshots, survivorship, events) runs while
        another's statements do. The processes start at evenly spaced batches of each slice
        (neighbours in the job order share more review-queue rows, so they would wait on each
        other's locks). A batch goes to them pickled (ids and a score a group), and only a
        few are in flight: memory holds a slice's jobs, not the sweep's.
        """
        batches_in_all = -(-groups // self.merge_batch)
        processes = min(self.workers, batches_in_all, os.cpu_count() or 1)
        if processes <= 1 or not is_postgres(self.engine) or not hasattr(os, "fork"):
            for batch in _batches(slices, workers=1, size=self.merge_batch):
                merged, bad = self._merge_batch(batch)
                yield batch, (merged, [(batch.index(job), exc) for job, exc in bad])
            return
        pool = self.worker_pool()
        in_flight: deque[tuple[list[MergeJob], Any]] = deque()
        for batch in _batches(slices, workers=processes, size=self.merge_batch):
            in_flight.append((batch, pool.pool.apply_async(_merge_in_child, (batch,))))
            if len(in_flight) > _IN_FLIGHT * processes:
                done, result = in_flight.popleft()
                yield done, result.get()
        while in_flight:
            done, result = in_flight.popleft()
            yield done, result.get()

    def _merge_batch(self, jobs: list[MergeJob]) -> tuple[int, list[tuple[MergeJob, Exception]]]:
        return BatchMerger(self.organization, self.actor).merge(self.engine, jobs)


@dataclass(slots=True)
class BatchMerger:
    """What merging a batch needs (a merge process gets it pickled when it starts)."""

    organization: Organization
    actor: str

    def merge(
        self, engine: Engine, jobs: list[MergeJob]
    ) -> tuple[int, list[tuple[MergeJob, Exception]]]:
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
            with session_scope(engine) as session:
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
            merged, bad = self.merge(engine, jobs[:half])
            more, worse = self.merge(engine, jobs[half:])
            return merged + more, bad + worse
        job_of = {id(g): job for g, job in zip(groups, jobs, strict=True)}
        merged = sum(len(ids) for _, ids in outcome.merged)
        return merged, [(job_of[id(g)], exc) for g, exc in outcome.failed]


def _merge_in_child(batch: list[MergeJob]) -> tuple[int, list[tuple[int, Exception]]]:
    """In a worker (``workers``): merge a batch with an engine of the worker's own (the one
    it inherited holds the sweep's pooled connections: it stays referenced and untouched
    until the worker exits)."""
    engine = workers.state.get("engine")
    if engine is None:
        engine = workers.state["engine"] = make_engine(
            workers.state["url"], json_deserializer=json_value
        )
        multiprocessing.util.Finalize(None, engine.dispose, exitpriority=10)
    merged, bad = workers.state["merger"].merge(engine, batch)
    return merged, [(batch.index(job), MergeFailure.of(exc)) for job, exc in bad]


class MergeFailure(Exception):
    """A merge error as a merge process reports it (its type's name and code)."""

    def __init__(self, name: str, code: str | None) -> None:
        super().__init__(name, code)
        self.name = name
        self.code = code

    @classmethod
    def of(cls, exc: Exception) -> MergeFailure:
        code = getattr(exc, "code", None)
        return cls(type(exc).__name__, str(code) if code else None)


@dataclass(slots=True)
class MergeJob:
    """A group to merge: its survivor, the others, its weakest pair's score and, for a pair,
    its pending review-queue row."""

    survivor: uuid.UUID
    merge_ids: list[uuid.UUID]
    score: float | None
    candidate_id: uuid.UUID | None
    root: int  # the survivor's record index: how a failed group is known


def prefetched(load: Callable[[int], list[MergeJob]], parts: int) -> Iterator[list[MergeJob]]:
    """``load(0)``, ``load(1)``... with the next slice read on a thread while this one is
    merged: the merge processes do not wait for the read (two slices in memory at most)."""
    with ThreadPoolExecutor(1, thread_name_prefix="crm-dedup-slices") as reader:
        ahead = reader.submit(load, 0) if parts else None
        for part in range(parts):
            assert ahead is not None
            jobs = ahead.result()
            ahead = reader.submit(load, part + 1) if part + 1 < parts else None
            yield jobs


def _batches(
    slices: Iterable[list[MergeJob]], *, workers: int, size: int
) -> Iterator[list[MergeJob]]:
    """Each slice's jobs in batches, in an order that starts ``workers`` processes at evenly
    spaced batches of the slice."""
    for jobs in slices:
        batches = [jobs[start : start + size] for start in range(0, len(jobs), size)]
        stride = -(-len(batches) // workers)
        for start in range(stride):
            yield from batches[start::stride]


def group_pairs(groups: list[list[int]], pairs: list[PairResult]) -> dict[int, list[PairResult]]:
    """The auto-merge pairs inside each group, by the group's survivor index."""
    by_group: dict[int, list[PairResult]] = {}
    first = {i: g[0] for g in groups for i in g}
    for p in pairs:
        group = first.get(p.a)
        if p.decision == AUTO_MERGE and group is not None and group == first.get(p.b):
            by_group.setdefault(group, []).append(p)
    return by_group


def weakest(pairs: list[PairResult]) -> float | None:
    """The lowest score among a group's pairs (the score its merge is recorded with)."""
    return min((p.scored.score for p in pairs), default=None)
