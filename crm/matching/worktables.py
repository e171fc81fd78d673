"""The streamed sweep's temporary tables on PostgreSQL (see ``stream``).

They live in one connection of the sweep's own (temporary tables are private to it and go
when it closes), so two sweeps of different organizations never see each other's, and the
schema the migrations manage never sees them at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from crm.matching.blocking import BOUNDED, block_limits
from crm.matching.records import MatchRecord
from crm.matching.stream import decode, encode, key_hashes, sort_fields

_STREAM_ROWS = 20_000
_DROP = (
    "DROP TABLE IF EXISTS dedup_records, dedup_keys, dedup_blocks, dedup_pairs,"
    " dedup_components, dedup_groups"
)


class WorkTables:
    def __init__(self, engine: Engine, *, max_block: int) -> None:
        self.proxy = engine.raw_connection()
        self.conn: Any = self.proxy.driver_connection
        self.max_block = max_block
        self.keys = 0
        with self.conn.cursor() as cur:
            # the sorts and joins below are the sweep's, and large: give them room
            cur.execute("SET work_mem = '256MB'")
            cur.execute(_DROP)  # a pooled connection a crashed sweep left them in
            cur.execute(
                "CREATE TEMP TABLE dedup_records (idx integer PRIMARY KEY, id uuid NOT NULL,"
                " lkey text NOT NULL, fkey text NOT NULL, dob integer NOT NULL,"
                " rec text NOT NULL)"
            )
            cur.execute("CREATE TEMP TABLE dedup_keys (key bigint NOT NULL, idx integer NOT NULL)")
            cur.execute(
                "CREATE TEMP TABLE dedup_pairs (id uuid NOT NULL, a integer NOT NULL,"
                " b integer NOT NULL, score double precision NOT NULL,"
                " queued double precision NOT NULL, household text NOT NULL,"
                " decision text NOT NULL, reasons jsonb NOT NULL)"
            )
            cur.execute(
                "CREATE TEMP TABLE dedup_groups (idx integer PRIMARY KEY, root integer NOT NULL,"
                " score double precision, part integer NOT NULL)"
            )
        self.conn.commit()

    def close(self) -> None:
        try:
            self.conn.rollback()
            with self.conn.cursor() as cur:
                cur.execute(_DROP)
                cur.execute("RESET work_mem")
            self.conn.commit()
        finally:
            self.proxy.close()

    # load -----------------------------------------------------------------------------------

    def add(
        self, records: Sequence[MatchRecord], hashes: Sequence[list[int]] | None = None
    ) -> None:
        """Write a chunk of records and their key entries (one COPY each); ``hashes``: each
        record's ``key_hashes``, when known."""
        if hashes is None:
            hashes = [key_hashes(record) for record in records]
        with self.conn.cursor() as cur:
            keys: list[tuple[int, int]] = []
            with cur.copy("COPY dedup_records (idx, id, lkey, fkey, dob, rec) FROM STDIN") as copy:
                for record, own in zip(records, hashes, strict=True):
                    copy.write_row(
                        (record.idx, record.id, *sort_fields(record), encode(record, own))
                    )
                    keys.extend((key, record.idx) for key in own)
            with cur.copy("COPY dedup_keys (key, idx) FROM STDIN") as copy:
                for row in keys:
                    copy.write_row(row)
        self.keys += len(keys)
        self.conn.commit()

    def blocks(self) -> tuple[frozenset[int], dict[str, int]]:
        """Count the blocks; the oversized ones' keys and the block statistics."""
        with self.conn.cursor() as cur:
            cur.execute("ANALYZE dedup_records")
            cur.execute("ANALYZE dedup_keys")
            cur.execute(
                "CREATE TEMP TABLE dedup_blocks AS SELECT key, count(*) AS n FROM dedup_keys"
                " GROUP BY key HAVING count(*) > 1"
            )
            cur.execute("ANALYZE dedup_blocks")
            # bounded kinds of key have smaller limits than max_block (blocking.block_limits)
            smallest = min([self.max_block, *(limit for limit, _ in BOUNDED.values())])
            cur.execute("SELECT key, n FROM dedup_blocks WHERE n > %s", (smallest,))
            oversized = frozenset(
                key for key, n in cur if n > block_limits(key, self.max_block, 0)[0]
            )
            cur.execute("SELECT count(*), coalesce(max(n), 0) FROM dedup_blocks")
            blocks, largest = cur.fetchone()
            # an oversized block of a kind compared only below its limit (a window of 0) adds
            # no pair: not streamed at all (its key stays oversized for the blocks that are)
            silent = [key for key in oversized if block_limits(key, self.max_block, 1)[1] == 0]
            if silent:
                cur.execute("DELETE FROM dedup_blocks WHERE key = ANY(%s)", (silent,))
        self.conn.commit()
        stats = {
            "keys": self.keys,
            "blocks": blocks,
            "windowed": len(oversized),
            "largest": largest,
        }
        return oversized, stats

    def stream(self) -> Iterator[tuple[int, int, str]]:
        """Every key entry of a block of two or more, block by block, in name order."""
        with self.conn.cursor(name="dedup_stream") as cur:
            cur.itersize = _STREAM_ROWS
            cur.execute(
                "SELECT k.key, k.idx, r.rec FROM dedup_keys k"
                " JOIN dedup_blocks b ON b.key = k.key"
                " JOIN dedup_records r ON r.idx = k.idx"
                ' ORDER BY k.key, r.lkey COLLATE "C", r.fkey COLLATE "C", r.dob, k.idx'
            )
            yield from cur

    def add_pairs(self, rows: list[tuple]) -> None:
        """Kept pairs from the scoring processes, their reasons as JSON text already (on a
        second cursor: the stream is open)."""
        if not rows:
            return
        with (
            self.conn.cursor() as cur,
            cur.copy(
                "COPY dedup_pairs (id, a, b, score, queued, household, decision, reasons)"
                " FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def end_stream(self) -> None:
        self.conn.commit()

    # after scoring ----------------------------------------------------------------------------

    def auto_links(self) -> Iterator[tuple[int, int]]:
        """The auto-merge pairs ``(a, b)`` by record index, streamed (server-side cursor)."""
        with self.conn.cursor(name="dedup_auto") as cur:
            cur.itersize = _STREAM_ROWS
            cur.execute("SELECT a, b FROM dedup_pairs WHERE decision = 'auto_merge'")
            yield from cur
        self.conn.commit()

    def set_components(self, rows: Iterable[tuple[int, int]]) -> None:
        """The auto-merge pairs' connected components: ``(idx, component)`` per record."""
        with self.conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS dedup_components")
            cur.execute(
                "CREATE TEMP TABLE dedup_components (idx integer PRIMARY KEY,"
                " component integer NOT NULL)"
            )
            with cur.copy("COPY dedup_components (idx, component) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute("CREATE INDEX ON dedup_components (component)")
            cur.execute("ANALYZE dedup_components")
        self.conn.commit()

    def component_sizes(self) -> Iterator[tuple[int, int]]:
        """``(component, records)`` in component order, streamed."""
        with self.conn.cursor(name="dedup_component_sizes") as cur:
            cur.itersize = _STREAM_ROWS
            cur.execute(
                "SELECT component, count(*) FROM dedup_components"
                " GROUP BY component ORDER BY component"
            )
            yield from cur
        self.conn.commit()

    def auto_pairs(self, first: int, last: int) -> list[tuple[int, int, float]]:
        """The auto-merge pairs ``(a, b, score)`` of the components ``first`` to ``last``."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT DISTINCT p.a, p.b, p.score FROM dedup_pairs p"
                " JOIN dedup_components c ON c.idx = p.a"
                " WHERE p.decision = 'auto_merge' AND c.component BETWEEN %s AND %s"
                " ORDER BY p.a, p.b, p.score",
                (first, last),
            )
            rows = cur.fetchall()
        self.conn.commit()
        return rows

    def records(self, indexes: Iterable[int]) -> dict[int, MatchRecord]:
        with self.conn.cursor() as cur:
            cur.execute("SELECT idx, rec FROM dedup_records WHERE idx = ANY(%s)", (list(indexes),))
            found = {idx: decode(idx, rec) for idx, rec in cur}
        self.conn.commit()
        return found

    def clear_groups(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute("DELETE FROM dedup_groups")
        self.conn.commit()

    def add_groups(self, groups: list[list[int]], *, scores: list[float | None], part: int) -> None:
        """Auto-merge groups, the survivor first (pairs inside one are merged, not queued),
        each with its weakest pair's score; ``part`` is the slice they are merged in."""
        with (
            self.conn.cursor() as cur,
            cur.copy("COPY dedup_groups (idx, root, score, part) FROM STDIN") as copy,
        ):
            for group, score in zip(groups, scores, strict=True):
                for idx in group:
                    copy.write_row((idx, group[0], score, part))
        self.conn.commit()

    def groups(self, part: int) -> list[tuple[int, uuid.UUID, float | None]]:
        """A slice's groups: ``(root, contact id, score)`` per member, group by group (by
        survivor), the survivor first in each."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT g.root, r.id, g.score FROM dedup_groups g"
                " JOIN dedup_records r ON r.idx = g.idx"
                " WHERE g.part = %s ORDER BY g.root, r.id",
                (part,),
            )
            rows = cur.fetchall()
        self.conn.commit()
        return rows

    def ungroup(self, roots: Iterable[int]) -> None:
        """Groups (by survivor index) that failed to merge: their pairs are queued instead."""
        with self.conn.cursor() as cur:
            cur.execute("DELETE FROM dedup_groups WHERE root = ANY(%s)", (list(roots),))
        self.conn.commit()

    def drop_pairs(self, pairs: set[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """Forget these pairs (of contact ids, smaller first): never queued (dismissed)."""
        if not pairs:
            return
        firsts, seconds = zip(*pairs, strict=True)
        with self.conn.cursor() as cur:
            cur.execute(
                "DELETE FROM dedup_pairs p USING dedup_records ra, dedup_records rb,"
                " unnest(%s::uuid[], %s::uuid[]) AS d(a_id, b_id)"
                " WHERE ra.idx = p.a AND rb.idx = p.b"
                " AND least(ra.id, rb.id) = d.a_id AND greatest(ra.id, rb.id) = d.b_id",
                (list(firsts), list(seconds)),
            )
        self.conn.commit()

    def queue(self, *, organization_id: uuid.UUID, now: datetime, refresh: bool = True) -> int:
        """Queue the kept pairs outside the groups: refresh the pending ones, insert the new
        ones (a dismissed or decided pair stays as it is). Rows written."""
        queued = (
            "SELECT DISTINCT ON (a_id, b_id) p.id, p.queued, p.reasons, a_id, b_id FROM"
            " (SELECT p.*, least(ra.id, rb.id) AS a_id, greatest(ra.id, rb.id) AS b_id"
            "  FROM dedup_pairs p"
            "  JOIN dedup_records ra ON ra.idx = p.a JOIN dedup_records rb ON rb.idx = p.b"
            "  LEFT JOIN dedup_groups ga ON ga.idx = p.a"
            "  LEFT JOIN dedup_groups gb ON gb.idx = p.b"
            "  WHERE ga.root IS NULL OR gb.root IS NULL OR ga.root <> gb.root) p"
            " ORDER BY a_id, b_id, p.score DESC"
        )
        written = 0
        with self.conn.cursor() as cur:
            if refresh:
                cur.execute(
                    "UPDATE duplicate_candidates d SET score = q.queued, reasons = q.reasons"
                    f" FROM ({queued}) q WHERE d.organization_id = %(org)s"
                    " AND d.contact_a_id = q.a_id AND d.contact_b_id = q.b_id"
                    " AND d.status = 'pending'",
                    {"org": organization_id},
                )
                written += cur.rowcount
            cur.execute(
                "INSERT INTO duplicate_candidates (id, organization_id, contact_a_id,"
                " contact_b_id, score, reasons, status, created_at)"
                f" SELECT q.id, %(org)s, q.a_id, q.b_id, q.queued, q.reasons, 'pending', %(now)s"
                f" FROM ({queued}) q"
                " ON CONFLICT (organization_id, contact_a_id, contact_b_id) DO NOTHING",
                {"org": organization_id, "now": now},
            )
            written += cur.rowcount
        self.conn.commit()
        return written
