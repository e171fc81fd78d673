"""The dedup sweep in memory (SQLite, the embedded and small case).

The records are read in chunks (keyset paging) and blocked and scored in memory (``Matcher``);
the review candidates are written in chunks, new pairs inserted and pending ones refreshed
(decided pairs stay as they are); the auto-merge groups become merge jobs for
``sweep_merges``. No transaction stays open for long. A mixin of ``sweep._Sweep``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from crm.db import insert, read_only, session_scope
from crm.logging import get_logger
from crm.matching.blocking import KeyIndex
from crm.matching.matcher import Matcher, PairResult
from crm.matching.records import MatchRecord, iter_record_chunks
from crm.matching.scoring import NameFrequencies, Thresholds, queued_score
from crm.matching.sweep_merges import MergeJob, Pair, group_pairs, weakest
from crm.matching.training import DedupModel
from crm.merging.dismissals import ordered
from crm.models import DuplicateCandidate, utcnow, uuid7

if TYPE_CHECKING:
    from crm.matching.sweep import SweepSummary

log = get_logger(__name__)

_CANDIDATES = DuplicateCandidate.__table__
_WRITE_BATCH = 500


class InMemorySweep:
    """The in-memory path of ``sweep._Sweep`` (which gives it the state below and ``beat``,
    ``lap``, ``dismissed_pairs``, ``compare_failed``, ``item_failed``, ``run_merges``)."""

    engine: Engine
    org_id: uuid.UUID
    summary: SweepSummary
    thresholds: Thresholds
    workers: int
    model: DedupModel | None

    def run_in_memory(self, *, since: Any) -> None:
        """Load, block and score in memory (``Matcher``), queue the candidates, merge the
        auto-merge groups."""
        records, index, frequencies = self.load(since)
        self.lap("load")
        matcher = Matcher(records, thresholds=self.thresholds, index=index, frequencies=frequencies)
        blocked = matcher.candidate_codes()
        # the organization's own model, from all its compared pairs (changed or not)
        self.model = matcher.fit(blocked[0])
        self.lap("train")
        result = matcher.run(
            only_changed=since is not None,
            on_error=self.compare_failed,
            workers=self.workers,
            blocked=None if since is not None else blocked,
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
        by_group = group_pairs(groups, pairs)
        jobs: list[MergeJob] = []
        for group in groups:
            members = by_group.get(group[0], [])
            candidate_id = None
            if len(group) == 2 and members:
                known = existing.get(_pair(records, members[0]))
                candidate_id = known[0] if known and known[1] == "pending" else None
            jobs.append(
                MergeJob(
                    survivor=records[group[0]].id,
                    merge_ids=[records[i].id for i in group[1:]],
                    score=weakest(members),
                    candidate_id=candidate_id,
                    root=group[0],
                )
            )
        failed = self.run_merges([jobs], groups=len(jobs))
        return [p for root in failed for p in by_group.get(root, [])]


def _pair(records: Sequence[MatchRecord] | Mapping[int, MatchRecord], p: PairResult) -> Pair:
    return ordered(records[p.a].id, records[p.b].id)
