"""Streamed blocking (the sweep on PostgreSQL): the same pairs as the in-memory matcher."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date

from crm.matching import stream
from crm.matching.blocking import block_limits
from crm.matching.records import MatchRecord
from crm.matching.scoring import NameFrequencies, Scored, Scorer, Thresholds
from crm.matching.stream import BlockScorer, decode, encode, iter_blocks, key_hashes, sort_fields
from crm.matching.workers import Workers
from tests.matching.test_matching_blocking import crowd, pairs_of, record


class Recording:
    """A scorer that remembers every pair it was asked about."""

    def __init__(self) -> None:
        self.asked: Counter = Counter()

    def compare(self, a: MatchRecord, b: MatchRecord) -> Scored:
        assert a.idx < b.idx  # index order, as the in-memory matcher compares
        self.asked[(a.idx, b.idx)] += 1
        return Scored(score=0.0, weight=0.0, reasons=[])

    def compare_if(self, a: MatchRecord, b: MatchRecord, at_least: float) -> Scored | None:
        return self.compare(a, b)


def stream_rows(records: list[MatchRecord]) -> list[tuple[int, int, str]]:
    """What the database streams: entries of blocks of two or more, by key, in name order."""
    blocks: dict[int, list[MatchRecord]] = defaultdict(list)
    for r in records:
        for key in key_hashes(r):
            blocks[key].append(r)
    rows = []
    for key in sorted(blocks):
        members = sorted(blocks[key], key=lambda r: (*sort_fields(r), r.idx))
        if len(members) > 1:
            rows.extend((key, r.idx, encode(r)) for r in members)
    return rows


def streamed(records: list[MatchRecord], **options) -> Counter:
    rows = stream_rows(records)
    sizes = Counter(key for key, _, _ in rows)
    max_block = options.get("max_block", 40)
    scorer = Recording()
    blocks = BlockScorer(
        scorer=scorer,  # type: ignore[arg-type]
        thresholds=Thresholds(),
        oversized=frozenset(k for k, n in sizes.items() if n > block_limits(k, max_block, 0)[0]),
        **options,
    )
    for batch in iter_blocks(iter(rows)):
        blocks.score_blocks(batch)
    return scorer.asked


def people(n: int, *, seed: int) -> list[MatchRecord]:
    """Few names, shared emails and postcodes: large, overlapping blocks."""
    rng = random.Random(seed)
    first = ["Ann", "Anne", "John", "Jon", "Mary", "Bill", "William"]
    last = ["Smith", "Smyth", "Lee", "Nguyen"]
    return [
        record(
            i,
            first_name=rng.choice(first),
            last_name=rng.choice(last),
            date_of_birth=date(1980, rng.randrange(1, 3), rng.randrange(1, 4)),
            postal_code=rng.choice(["2000", "2026"]),
            address_line1=f"{rng.randrange(1, 4)} Wattle Street",
            emails=[f"family{rng.randrange(5)}@example.com"],
        )
        for i in range(n)
    ]


class TestSamePairs:
    def test_every_pair_the_matcher_compares_and_no_other(self):
        records = people(300, seed=3)

        asked = streamed(records)

        assert set(asked) == pairs_of(records)

    def test_with_oversized_blocks_windowed(self):
        records = people(300, seed=5) + crowd(50, postal_code="2000")
        records = [decode(i, encode(r)) for i, r in enumerate(records)]

        asked = streamed(records, max_block=6, window=3)

        assert set(asked) == pairs_of(records, max_block=6, window=3)
        # only pairs sharing nothing but oversized blocks can come twice
        sizes = Counter(key for key, _, _ in stream_rows(records))
        for (a, b), times in asked.items():
            shared = set(key_hashes(records[a])) & set(key_hashes(records[b]))
            assert times == 1 or all(sizes[k] > 6 for k in shared)

    def test_once_each_when_no_block_is_oversized(self):
        records = people(200, seed=7)

        asked = streamed(records, max_block=1000)

        assert set(asked.values()) == {1}

    def test_incremental_only_pairs_with_a_changed_member(self):
        records = people(100, seed=9)
        for r in records[10:]:
            r.changed = False

        asked = streamed(records, only_changed=True)

        assert asked and all(a < 10 or b < 10 for a, b in asked)


class TestEncoding:
    def test_a_record_comes_back_as_it_was(self):
        r = record(
            4,
            first_name="Zoë",
            last_name="O'Brien-Smith",
            date_of_birth=date(1990, 4, 1),
            emails=["zoe@example.com", "z@example.org"],
            phones=["+61412345678"],
            postal_code="2026",
            city="Bondi Beach",
            address_line1="Unit 3/12 Wattle Street",
        )

        back = decode(4, encode(r))

        fields = ("id", "first", "fkey", "lkey", "dob", "emails", "phones", "ids", "postcode")
        assert [getattr(back, f) for f in fields] == [getattr(r, f) for f in fields]
        assert (back.city, back.street, back.changed) == (r.city, r.street, r.changed)


class TestWorkerProcesses:
    def test_the_same_pairs_kept_as_in_one_process(self, monkeypatch):
        # given: a crowd scored with a real scorer, in many small batches
        records = people(300, seed=5)
        rows = stream_rows(records)
        sizes = Counter(key for key, _, _ in rows)
        blocks = BlockScorer(
            scorer=Scorer(frequencies=NameFrequencies.of(records)),
            thresholds=Thresholds(),
            oversized=frozenset(k for k, n in sizes.items() if n > block_limits(k, 40, 0)[0]),
        )
        monkeypatch.setattr(stream, "_BATCH_ROWS", 50)

        def scored(pool: Workers | None) -> tuple[list[tuple], int, int]:
            kept: list[tuple] = []
            counts = stream.score_stream(
                blocks, iter_blocks(iter(rows)), pool=pool, on_result=kept.extend, beat=lambda: None
            )
            # (each row's own id, a fresh uuid7, left out)
            return sorted(row[1:] for row in kept), *counts

        # when: in this process, and in two worker processes (each takes the scorer sent to
        # them with its first batch)
        alone = scored(None)
        workers = Workers(2)
        try:
            in_workers = scored(workers)
        finally:
            workers.close(ok=True)

        # then
        assert alone[0] and alone[1] > 0
        assert in_workers == alone
