"""The matcher in memory: records in, scored pairs and merge groups out (no database).

The sweep feeds it from the database; the quality benchmark feeds it generated records.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from crm.matching.blocking import (
    DEFAULT_MAX_BLOCK,
    DEFAULT_WINDOW,
    BlockStats,
    KeyIndex,
    candidate_pairs,
    sort_ranks,
)
from crm.matching.records import MatchRecord
from crm.matching.scoring import (
    AUTO_MERGE,
    HARD_NEGATIVE,
    NO_MATCH,
    NameFrequencies,
    Scored,
    Scorer,
    Thresholds,
    classify,
)
from crm.matching.training import DedupModel, train

_MASK = 0xFFFFFFFF
_SLICE = 65_536


@dataclass(slots=True)
class PairResult:
    """A compared pair at or above the review threshold."""

    a: int  # record index, a < b
    b: int
    scored: Scored
    decision: str


@dataclass(slots=True)
class MatchResult:
    records: Sequence[MatchRecord]
    blocks: BlockStats
    pairs_scored: int = 0
    pairs: list[PairResult] = field(default_factory=list)
    errors: int = 0


class Matcher:
    """Blocks records, scores the candidate pairs and groups the auto-merges."""

    def __init__(
        self,
        records: Sequence[MatchRecord],
        *,
        thresholds: Thresholds,
        scorer: Scorer | None = None,
        max_block: int = DEFAULT_MAX_BLOCK,
        window: int = DEFAULT_WINDOW,
        index: KeyIndex | None = None,
        frequencies: NameFrequencies | None = None,
    ) -> None:
        self.records = records
        self.thresholds = thresholds
        self.max_block = max_block
        self.window = window
        if index is None:
            index = KeyIndex()
            for record in records:
                index.add(record)
        self.index = index
        self.scorer = scorer or Scorer(frequencies=frequencies or NameFrequencies.of(records))

    def candidate_codes(self, *, only_changed: bool = False) -> tuple[np.ndarray, BlockStats]:
        changed = None
        if only_changed:
            changed = np.fromiter((r.changed for r in self.records), dtype=bool)
        return candidate_pairs(
            self.index,
            sort_ranks(self.records),
            max_block=self.max_block,
            window=self.window,
            changed=changed,
        )

    def fit(self, codes: np.ndarray | None = None) -> DedupModel:
        """Learn the organization's model from these records (``training``) and score with it
        from now on."""
        if codes is None:
            codes, _ = self.candidate_codes()
        frequencies = self.scorer.frequencies
        model = train(self.records, frequencies=frequencies, codes=codes)
        self.scorer = model.scorer(frequencies)
        return model

    def run(
        self,
        *,
        only_changed: bool = False,
        on_error: Callable[[MatchRecord, MatchRecord, Exception], None] | None = None,
        workers: int = 1,
        blocked: tuple[np.ndarray, BlockStats] | None = None,
    ) -> MatchResult:
        """Score every candidate pair (``blocked``: the pairs ``candidate_codes`` gave, when
        known already); keep those at or above the review threshold."""
        if blocked is None:
            blocked = self.candidate_codes(only_changed=only_changed)
        codes, stats = blocked
        result = MatchResult(records=self.records, blocks=stats)
        if workers > 1 and len(codes) > 4 * _SLICE and hasattr(os, "fork"):
            from crm.matching.parallel import score_in_processes

            pairs, scored, errors = score_in_processes(self, codes, workers=workers)
            result.pairs, result.pairs_scored, result.errors = pairs, scored, errors
            return result
        pairs, scored, errors = self.score_codes(codes, on_error=on_error)
        result.pairs, result.pairs_scored, result.errors = pairs, scored, errors
        return result

    def score_codes(
        self,
        codes: np.ndarray,
        *,
        on_error: Callable[[MatchRecord, MatchRecord, Exception], None] | None = None,
    ) -> tuple[list[PairResult], int, int]:
        # compare_if: the pairs surely below review are dropped without their reasons
        records, compare, thresholds = self.records, self.scorer.compare_if, self.thresholds
        review = thresholds.review
        kept: list[PairResult] = []
        scored = errors = 0
        for start in range(0, len(codes), _SLICE):
            for code in codes[start : start + _SLICE].tolist():
                a, b = code >> 32, code & _MASK
                try:
                    result = compare(records[a], records[b], review)
                except Exception as exc:  # one bad record never stops the run
                    errors += 1
                    if on_error is not None:
                        on_error(records[a], records[b], exc)
                    continue
                scored += 1
                if result is not None and result.score >= review:
                    kept.append(PairResult(a, b, result, classify(result, thresholds)))
        return kept, scored, errors

    def merge_groups(
        self,
        pairs: Iterable[PairResult],
        *,
        excluded: set[tuple[uuid.UUID, uuid.UUID]] | None = None,
    ) -> list[list[int]]:
        """Groups of record indexes to merge, the survivor (lowest id) first."""
        return merge_groups(
            pairs,
            records=self.records,
            scorer=self.scorer,
            thresholds=self.thresholds,
            excluded=excluded,
        )


def merge_groups(
    pairs: Iterable[PairResult],
    *,
    records: Sequence[MatchRecord] | Mapping[int, MatchRecord],
    scorer: Scorer,
    thresholds: Thresholds,
    excluded: set[tuple[uuid.UUID, uuid.UUID]] | None = None,
) -> list[list[int]]:
    """Groups of record indexes to merge, the survivor (lowest id) first.

    Auto-merge pairs join their groups strongest first, and only when every pair across
    the two groups would be queued at least and none is a household or an ``excluded``
    (dismissed) pair: A~B and B~C never drag a household member C into A's contact. A record
    without a date of birth that would auto-merge with two people known to be two (a household's
    hard negative, or a dismissed pair: a father and his junior, both like an undated record of
    that name) merges with neither: which one it is is for a person to say (``_ambiguous``).
    ``records`` needs only the records of the auto-merge pairs.
    """
    excluded = excluded or set()
    parent: dict[int, int] = {}
    members: dict[int, list[int]] = {}

    def root(i: int) -> int:
        while parent.get(i, i) != i:
            i = parent[i]
        return i

    def may_join(x: MatchRecord, y: MatchRecord) -> bool:
        pair = (x.id, y.id) if x.id < y.id else (y.id, x.id)
        if pair in excluded:
            return False
        scored = scorer.compare(x, y)
        return classify(scored, thresholds) != NO_MATCH and not scored.household

    auto = sorted(
        (p for p in pairs if p.decision == AUTO_MERGE),
        key=lambda p: (-p.scored.score, p.a, p.b),
    )
    ambiguous = _ambiguous(auto, records, scorer, excluded)
    for pair in auto:
        if pair.a in ambiguous or pair.b in ambiguous:
            continue
        ra, rb = root(pair.a), root(pair.b)
        if ra == rb:
            continue
        group_a, group_b = members.get(ra, [ra]), members.get(rb, [rb])
        if not all(may_join(records[x], records[y]) for x in group_a for y in group_b):
            continue
        parent[rb] = ra
        members[ra] = group_a + group_b
        members.pop(rb, None)
    groups = []
    for group in members.values():
        group.sort(key=lambda i: records[i].id)
        groups.append(group)
    groups.sort(key=lambda g: records[g[0]].id)
    return groups


def _ambiguous(
    auto: list[PairResult],
    records: Sequence[MatchRecord] | Mapping[int, MatchRecord],
    scorer: Scorer,
    excluded: set[tuple[uuid.UUID, uuid.UUID]],
) -> set[int]:
    """The records of ``auto`` without a date of birth whose auto-merge partners include two
    known to be two people: a household's hard negative or a dismissed pair. (A dated record
    has told such two apart by its date already.)"""
    partners: dict[int, list[int]] = {}
    for pair in auto:
        partners.setdefault(pair.a, []).append(pair.b)
        partners.setdefault(pair.b, []).append(pair.a)
    ambiguous: set[int] = set()
    for i, others in partners.items():
        if records[i].dob is not None:
            continue
        for x, y in combinations(others, 2):
            a, b = records[x], records[y]
            pair = (a.id, b.id) if a.id < b.id else (b.id, a.id)
            if pair in excluded or scorer.compare(a, b).household == HARD_NEGATIVE:
                ambiguous.add(i)
                break
    return ambiguous
