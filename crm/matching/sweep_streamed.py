"""The dedup sweep streamed through the database (PostgreSQL).

The records and key entries go to temporary tables (``worktables``) and come back block by
block (``stream``): memory stays flat however large the organization, and the scoring stream
is one read transaction on those tables. The auto-merge groups are written to ``dedup_groups``
and merged from it a slice at a time (``group_streamed``, ``streamed_jobs``): memory stays flat
however many merges. A mixin of ``sweep._Sweep``.
"""

from __future__ import annotations

import os
import uuid
from array import array
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from crm.db import read_only
from crm.matching.blocking import DEFAULT_MAX_BLOCK, KeyIndex, candidate_pairs, sort_ranks
from crm.matching.matcher import PairResult, merge_groups
from crm.matching.records import iter_record_chunks
from crm.matching.scoring import AUTO_MERGE, NameFrequencies, Scored, Scorer, Thresholds
from crm.matching.stream import BlockScorer, iter_blocks, key_hashes, score_stream
from crm.matching.sweep_merges import MergeJob, Pair, group_pairs, prefetched, weakest
from crm.matching.training import DedupModel, RecordSample, train
from crm.matching.workers import Workers
from crm.matching.worktables import WorkTables
from crm.merging.dismissals import ordered
from crm.models import Contact, utcnow

if TYPE_CHECKING:
    from crm.matching.sweep import SweepSummary


class StreamedSweep:
    """The streamed path of ``sweep._Sweep`` (which gives it the state below and ``beat``,
    ``lap``, ``dismissed_pairs``, ``run_merges``, ``worker_pool``)."""

    engine: Engine
    org_id: uuid.UUID
    summary: SweepSummary
    thresholds: Thresholds
    workers: int
    model: DedupModel | None
    # contacts from which the scoring forks; records a grouping slice holds (``sweep``)
    fork_from: int
    grouping_slice: int
    pool: Workers | None

    def run_streamed(self, *, since: Any) -> None:
        """The same sweep with the records and key entries in the database (``stream``):
        memory stays flat however large the organization."""
        summary = self.summary
        if self.workers > 1 and hasattr(os, "fork") and self._contacts_at_least(self.fork_from):
            # forked now, while this process is small (``workers``): forking pays for
            # itself on large organizations only
            self.worker_pool()
        tables = WorkTables(self.engine, max_block=DEFAULT_MAX_BLOCK)
        try:
            frequencies = NameFrequencies()
            sample = RecordSample(TRAIN_RECORDS)
            with Session(read_only(self.engine)) as session:
                for chunk in iter_record_chunks(
                    session, organization_id=self.org_id, changed_since=since
                ):
                    session.rollback()  # no read transaction stays open between chunks
                    for record in chunk:
                        frequencies.add(record)
                        summary.contacts += 1
                        summary.changed += record.changed
                    # each record's blocking keys, computed once: stored, and blocked again
                    # for the sample the model learns from
                    hashes = [key_hashes(record) for record in chunk]
                    tables.add(chunk, hashes)
                    sample.add(chunk, hashes)
                    self.beat()
            frequencies.finish()
            oversized, summary.blocks = tables.blocks()
            self.lap("load")
            self.model = _train_on(sample.records, frequencies, keys=sample.keys)
            del sample
            self.lap("train")
            scorer = self.model.scorer(frequencies)
            blocks = BlockScorer(
                scorer=scorer,
                thresholds=self.thresholds,
                oversized=oversized,
                only_changed=since is not None,
            )
            summary.pairs_scored, errors = score_stream(
                blocks,
                iter_blocks(tables.stream()),
                pool=self.pool,
                on_result=tables.add_pairs,
                beat=self.beat,
            )
            tables.end_stream()
            summary.errors += errors
            # the oversized keys (hundreds of thousands at 1,000,000 contacts) served only the
            # scoring: not held through grouping, queueing and merging
            del blocks, oversized
            self.lap("match")
            dismissed = self.dismissed_pairs()
            parts, groups = self.group_streamed(tables, scorer, dismissed)
            tables.drop_pairs(dismissed)
            summary.candidates += tables.queue(organization_id=self.org_id, now=utcnow())
            self.beat()
            self.lap("queue")
            failed = self.run_merges(
                prefetched(lambda part: self.streamed_jobs(tables, part), parts), groups=groups
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

    def _contacts_at_least(self, count: int) -> bool:
        """Whether the organization has at least ``count`` active contacts (reads that many
        index entries at most)."""
        with Session(read_only(self.engine)) as session:
            found = session.execute(
                select(func.count()).select_from(
                    select(Contact.id)
                    .where(Contact.organization_id == self.org_id, Contact.status == "active")
                    .limit(count)
                    .subquery()
                )
            ).scalar_one()
        return found >= count

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
        # slices of whole components, self.grouping_slice records or so each: (first, last)
        slices: list[tuple[int, int]] = []
        first = last = None
        held = 0
        for last, size in tables.component_sizes():
            first = last if first is None else first
            held += size
            if held >= self.grouping_slice:
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
                if ordered(records[a].id, records[b].id) not in dismissed
            ]
            del auto
            found = merge_groups(
                pairs,
                records=records,
                scorer=scorer,
                thresholds=self.thresholds,
                excluded=dismissed,
            )
            by_group = group_pairs(found, pairs)
            scores = [weakest(by_group.get(group[0], [])) for group in found]
            tables.add_groups(found, scores=scores, part=part)
            groups += len(found)
            self.beat()
        return len(slices), groups

    def streamed_jobs(self, tables: WorkTables, part: int) -> list[MergeJob]:
        """A slice's groups, written by ``group_streamed``, as merge jobs (by survivor)."""
        jobs: list[MergeJob] = []
        for root, contact_id, score in tables.groups(part):
            if jobs and jobs[-1].root == root:
                jobs[-1].merge_ids.append(contact_id)
            else:
                jobs.append(MergeJob(contact_id, [], score, None, root))
        return jobs


# records the streamed sweep learns its model from: a uniform sample keeps the share of
# duplicates among the compared pairs (both kinds of pair thin out alike)
TRAIN_RECORDS = 60_000


def _train_on(
    records: list, frequencies: NameFrequencies, keys: list[array[int]] | None = None
) -> DedupModel:
    """The model learned from these records; ``keys``: their key hashes, when known."""
    index = KeyIndex()
    if keys:
        for record, hashes in zip(records, keys, strict=True):
            index.hashes.extend(hashes)
            index.members.extend(array("q", [record.idx]) * len(hashes))
    else:
        for record in records:
            index.add(record)
    codes, _ = candidate_pairs(index, sort_ranks(records))
    return train(records, frequencies=frequencies, codes=codes)


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
