"""Streamed blocking and scoring on PostgreSQL: memory that does not grow with the organization.

The in-memory ``Matcher`` keeps a record of every contact and every key entry; at a million
contacts that is gigabytes. Here the database holds them instead, in temporary tables of the
sweep's own connection:

1. ``load``: each contact's match record is written once (``dedup_records``: index, id, sort
   fields and the record encoded as text) and each of its blocking keys once
   (``dedup_keys``: key hash, index), both by COPY, chunk by chunk.
2. blocks of two or more are counted (``dedup_blocks``); the oversized ones (windowed) are a
   small set kept in memory.
3. the key entries of those blocks are read back ``ORDER BY key`` and name order through a
   server-side cursor, so each block arrives whole and in the order the in-memory matcher
   windows it. Batches of blocks go to the scoring processes; the pairs worth keeping (at or
   above the review threshold) come back and are COPYed into ``dedup_pairs``.

No set of the pairs seen is needed to score each pair once: a pair is scored only in the
first block key the two records share (keys in a fixed order: blocks compared all-against-all
before oversized ones, then by hash), which each record can tell from its own keys. A pair
sharing only oversized blocks is scored in each of them that windows it (it may not be a
neighbour in the first): it can come twice, and storing it is idempotent.

The review queue is then written with two set-based statements from ``dedup_pairs``, and only
the auto-merge pairs (and their records) come back into memory to be grouped.
"""

from __future__ import annotations

import binascii
import json
import uuid
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from crm.matching import workers
from crm.matching.blocking import (
    DEFAULT_MAX_BLOCK,
    DEFAULT_WINDOW,
    BlockStats,
    block_limits,
    blocking_keys,
    key_hash,
)
from crm.matching.records import MatchRecord
from crm.matching.scoring import AUTO_MERGE, Scorer, Thresholds, classify, queued_score
from crm.models import uuid7

_FIELD, _ITEM, _PART = "\x1f", "\x1e", "\x1d"
# rows a batch of blocks sent to a scoring process holds, and batches in flight at once per
# process (one scored, one waiting: each waiting batch is ~12 MB of the sweep process's
# memory until a process takes it)
_BATCH_ROWS = 20_000
_IN_FLIGHT = 2

Block = list[tuple[int, str]]  # (record index, encoded record), in name order


def key_hashes(record: MatchRecord) -> list[int]:
    """The record's distinct blocking keys as 64-bit hashes (stable within one process tree)."""
    return list(dict.fromkeys(key_hash(key) for key in blocking_keys(record)))


def encode(record: MatchRecord, keys: list[int] | None = None) -> str:
    """The record as one line of text (``decode`` gives it back), its blocking key hashes
    (``keys``, computed when not given) packed at the end: the scoring processes need them in
    every block the record is in, and computing them there again cost more than the
    comparisons. They are packed in ascending order: a block's scoring wants those below its
    own key, a prefix."""
    if keys is None:
        keys = key_hashes(record)
    return _FIELD.join(
        (
            record.id.hex,
            record.first,
            record.fkey,
            record.lkey,
            str(record.dob.toordinal()) if record.dob else "",
            _ITEM.join(record.emails),
            _ITEM.join(record.phones),
            _ITEM.join(f"{ns}{_PART}{value}" for ns, value in record.ids),
            record.postcode,
            record.city,
            record.street,
            "1" if record.changed else "",
            binascii.b2a_base64(array("q", sorted(keys)).tobytes(), newline=False).decode("ascii"),
        )
    )


def _packed_keys(text: str) -> array[int]:
    """The key hashes at the end of an encoded record, without decoding the rest."""
    return array("q", binascii.a2b_base64(text[text.rindex(_FIELD) + 1 :]))


def _earlier(text: str, before: int) -> array[int]:
    """The key hashes of an encoded record (in ascending order, as ``encode`` packs them)
    that rank before ``before`` (``BlockScorer._rank``), oversized keys included: an oversized
    key ranks after every other, so it never comes before a block compared all-against-all,
    and before an oversized block only when it is not one; the caller leaves them out."""
    hashes = array("q", binascii.a2b_base64(text[text.rindex(_FIELD) + 1 :]))
    return hashes[: bisect_left(hashes, before)]


def _decode_into(records: list[MatchRecord | None], block: Block, i: int) -> MatchRecord:
    idx, text = block[i]
    record = records[i] = decode(idx, text)
    return record


def decode(idx: int, text: str) -> MatchRecord:
    """The record ``encode`` wrote (its key hashes left packed)."""
    (rid, first, fkey, lkey, dob, emails, phones, ids, postcode, city, street, changed, _) = (
        text.split(_FIELD)
    )
    return MatchRecord(
        idx=idx,
        id=uuid.UUID(int=int(rid, 16)),
        first=first,
        fkey=fkey,
        lkey=lkey,
        dob=date.fromordinal(int(dob)) if dob else None,
        emails=tuple(emails.split(_ITEM)) if emails else (),
        phones=tuple(phones.split(_ITEM)) if phones else (),
        ids=tuple(tuple(i.split(_PART, 1)) for i in ids.split(_ITEM)) if ids else (),  # type: ignore[misc]
        postcode=postcode,
        city=city,
        street=street,
        changed=bool(changed),
    )


def decode_with_keys(idx: int, text: str) -> tuple[MatchRecord, array[int]]:
    """The record and its blocking key hashes, as ``encode`` wrote them."""
    return decode(idx, text), _packed_keys(text)


def sort_fields(record: MatchRecord) -> tuple[str, str, int]:
    """Name order within a block, as ``blocking.sort_ranks`` has it (then the index)."""
    return record.lkey, record.fkey, record.dob.toordinal() if record.dob else 0


@dataclass(slots=True)
class BlockScorer:
    """Scores the pairs of whole blocks; what the scoring processes run."""

    scorer: Scorer
    thresholds: Thresholds
    oversized: frozenset[int]
    only_changed: bool = False
    max_block: int = DEFAULT_MAX_BLOCK
    window: int = DEFAULT_WINDOW

    def score_blocks(self, blocks: list[tuple[int, Block]]) -> tuple[list[tuple], int, int]:
        """``(kept rows for dedup_pairs, pairs scored, errors)`` for these blocks."""
        kept: list[tuple] = []
        scored = errors = 0
        compare, thresholds = self.scorer.compare_if, self.thresholds
        earlier, oversized = _earlier, self.oversized
        review = thresholds.review
        only_changed = self.only_changed
        for key, block in blocks:
            n = len(block)
            mine = self._rank(key)
            # a pair is scored in the first block key the two share: each member's keys
            # ranked before this block's (the end of its line) first; a pair sharing one was
            # scored in an earlier block. (A pair sharing only oversized blocks is scored in
            # each that windows it.) Only the members of a pair to score are decoded.
            before = mine if mine < _OVERSIZED else _OVERSIZED
            prefixes = [earlier(text, before) for _, text in block]
            records: list[MatchRecord | None] = [None] * n
            max_block, window = block_limits(key, self.max_block, self.window)
            span = n if n <= max_block else window + 1
            for i in range(n - 1):
                # a set of the first member's ranks only (the other's are tested against
                # it as they are), without the oversized keys: they never count (``_earlier``)
                keys_a = set(prefixes[i])
                if keys_a and oversized:
                    keys_a = keys_a - oversized  # (``-=`` would walk every oversized key)
                for j in range(i + 1, min(n, i + span)):
                    if keys_a and not keys_a.isdisjoint(prefixes[j]):
                        continue  # scored in an earlier block the two share
                    a = records[i] or _decode_into(records, block, i)
                    b = records[j] or _decode_into(records, block, j)
                    if only_changed and not (a.changed or b.changed):
                        continue
                    # in index order, as the in-memory matcher compares (not all of the
                    # comparisons are symmetric to the last bit)
                    low, high = (a, b) if a.idx < b.idx else (b, a)
                    try:
                        # None: surely below the review threshold (most pairs)
                        result = compare(low, high, review)
                    except Exception:  # one bad record never stops the run
                        errors += 1
                        continue
                    scored += 1
                    if result is not None and result.score >= review:
                        kept.append(
                            (
                                uuid7(),
                                low.idx,
                                high.idx,
                                result.score,
                                queued_score(result, thresholds),
                                result.household,
                                classify(result, thresholds),
                                json.dumps(result.reasons_json()),
                            )
                        )
        return kept, scored, errors

    def _rank(self, key: int) -> int:
        """The key's place in the order blocks are scored in: blocks compared
        all-against-all (key hashes are signed 64-bit) before oversized ones."""
        return key + _OVERSIZED_SHIFT if key in self.oversized else key


# an oversized block's key ranks after every other: shifted past the signed 64-bit range
_OVERSIZED_SHIFT = 1 << 64
_OVERSIZED = 1 << 63


def _score_in_child(blocks: list[tuple[int, Block]]) -> tuple[list[tuple], int, int]:
    return workers.scorer().score_blocks(blocks)


def iter_blocks(rows: Iterator[tuple[int, int, str]]) -> Iterator[list[tuple[int, Block]]]:
    """Rows ``(key, index, record)`` in key order as batches of whole blocks."""
    batch: list[tuple[int, Block]] = []
    size = 0
    current: int | None = None
    block: Block = []
    for key, idx, text in rows:
        if key != current:
            if block:
                batch.append((current, block))  # type: ignore[arg-type]
                size += len(block)
                if size >= _BATCH_ROWS:
                    yield batch
                    batch, size = [], 0
            current, block = key, []
        block.append((idx, text))
    if block:
        batch.append((current, block))  # type: ignore[arg-type]
    if batch:
        yield batch


def score_stream(
    scorer: BlockScorer,
    batches: Iterator[list[tuple[int, Block]]],
    *,
    pool: workers.Workers | None,
    on_result: Callable[[list[tuple]], None],
    beat: Callable[[], None],
) -> tuple[int, int]:
    """Score every batch (in the ``pool``'s processes when given), handing the kept rows to
    ``on_result`` as they come; ``(pairs scored, errors)``."""
    scored = errors = 0
    if pool is None:
        for batch in batches:
            kept, n, failed = scorer.score_blocks(batch)
            on_result(kept)
            scored, errors = scored + n, errors + failed
            beat()
        return scored, errors
    pool.use_scorer(scorer)
    pending: list[Any] = []
    for batch in batches:
        pending.append(pool.pool.apply_async(_score_in_child, (batch,)))
        while len(pending) >= _IN_FLIGHT * pool.processes or (pending and pending[0].ready()):
            kept, n, failed = pending.pop(0).get()
            on_result(kept)
            scored, errors = scored + n, errors + failed
            beat()
    for result in pending:
        kept, n, failed = result.get()
        on_result(kept)
        scored, errors = scored + n, errors + failed
    return scored, errors


def block_stats(keys: int, blocks: int, windowed: int, largest: int, pairs: int) -> BlockStats:
    return BlockStats(
        keys=keys, blocks=blocks, windowed_blocks=windowed, largest_block=largest, pairs=pairs
    )


__all__ = [
    "AUTO_MERGE",
    "BlockScorer",
    "block_stats",
    "decode",
    "decode_with_keys",
    "encode",
    "iter_blocks",
    "key_hashes",
    "score_stream",
    "sort_fields",
]
