"""Benchmark: CSV import (``crm.importing.run_import``) against the database's own bulk load.

One command, from the repository root::

    .venv/bin/python bench/import/run.py [--rows 200000 1048576] [--backends postgres sqlite]
        [--seed 1] [--profile]

For each size it generates (or reuses, cached in ``--data-dir`` by generator version, seed and
rows) a messy CSV with ``generate.py``, then per backend:

* baseline: the same file loaded into a bare table of text columns by the database's own bulk
  path: PostgreSQL ``COPY ... FROM STDIN (FORMAT csv, HEADER)`` streamed through psycopg, SQLite
  ``executemany`` of the ``csv`` module's rows in one transaction (best of ``--baseline-runs``);
* first import: a fresh database (PostgreSQL: ``DROP/CREATE DATABASE crm_bench_import``; SQLite:
  a new file), migrated, one organization, then ``run_import`` in a child process
  (``import_once.py``) so that the child's peak RSS is measured on its own (``os.wait4``);
* re-import: the same file again, in another child: every row should be unchanged or rejected.
* schema floor (PostgreSQL): the rows the first import wrote (contacts, identifiers, source
  records, events) COPYed into a fresh copy of the migrated schema, with all its indexes and
  keys: what storing these contacts costs the database alone, the least any importer could
  take (``pg_schema_floor``). Timed as one stream and as one stream per CPU (the rows dealt
  out by contact, all streams at once): the most this machine's database can store in this
  schema with nothing left for the importer. ``--floor-variants`` adds the per-CPU floor
  without foreign keys, and without them and the trigram index (what those cost).

Checks (a failure exits 1): the first import's counters add up to the file's rows and its
rejected count equals the generator's bad rows; the contacts table holds ``created`` contacts;
the re-import created, updated and linked nothing. Targets (PostgreSQL, judged on the
1,048,576-row file; shown for every size): >= 15,000 rows/s on the first import, peak RSS
<= 400 MB, re-import >= 2x faster than the first, first import within 4x of COPY.

Results: a table on stdout, JSON under ``bench/results/`` (gitignored) and a markdown snippet
for ``bench/README.md``. ``--profile`` also profiles one first import and one re-import of the
smallest size on PostgreSQL in-process with cProfile (``bench/results/import_profile.txt``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import generate  # noqa: E402
from import_once import crm_fingerprint, schedstat  # noqa: E402

DEFAULT_ROWS = (200_000, generate.HUBSPOT_ROW_LIMIT)
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/crm_bench_import"
TARGET_ROWS_PER_S = 15_000
TARGET_RSS_MB = 400
TARGET_REIMPORT_SPEEDUP = 2.0
TARGET_COPY_RATIO = 4.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# data ----------------------------------------------------------------------------------------


def data_file(data_dir: Path, rows: int, seed: int) -> tuple[Path, dict]:
    path = data_dir / f"crm_bench_import_v{generate.VERSION}_s{seed}_{rows}.csv"
    meta_path = Path(str(path) + ".meta.json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("bytes") == path.stat().st_size and meta.get("rows") == rows:
            log(f"data: {path} (cached, {meta['bytes'] / 1e6:.0f} MB)")
            return path, meta
    log(f"data: generating {rows:,} rows into {path}")
    started = time.perf_counter()
    meta = generate.generate(rows, path, seed=seed)
    log(f"  {meta['bytes'] / 1e6:.0f} MB in {time.perf_counter() - started:.0f}s")
    return path, meta


# PostgreSQL ------------------------------------------------------------------------------------


def pg_admin_url(url: str) -> tuple[str, str]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    if not name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise SystemExit(f"refusing to drop database {name!r}: use a plain [A-Za-z0-9_] name")
    admin = parsed.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), name


def pg_plain(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def pg_recreate(url: str) -> None:
    import psycopg

    admin, name = pg_admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def pg_copy(url: str, path: Path, columns: int) -> dict:
    """PostgreSQL's COPY of ``path`` into a bare table of text columns: seconds, CPU, rows."""
    import psycopg

    cols = ", ".join(f"c{i} text" for i in range(columns))
    with psycopg.connect(pg_plain(url), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy_baseline")
        conn.execute(f"CREATE TABLE bench_copy_baseline ({cols})")
        backend = conn.info.backend_pid
        client_before, server_before = schedstat(), schedstat(backend)
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            path.open("rb") as fh,
            cur.copy("COPY bench_copy_baseline FROM STDIN WITH (FORMAT csv, HEADER true)") as cp,
        ):
            while chunk := fh.read(1 << 20):
                cp.write(chunk)
        seconds = time.perf_counter() - started
        client, server = schedstat(), schedstat(backend)
        count = conn.execute("SELECT count(*) FROM bench_copy_baseline").fetchone()[0]
        conn.execute("DROP TABLE bench_copy_baseline")
    return {
        "seconds": seconds,
        "rows": count,
        "cpu_seconds": client[0] - client_before[0],
        "client_run_wait_seconds": client[1] - client_before[1],
        "server_cpu_seconds": server[0] - server_before[0],
        "server_run_wait_seconds": server[1] - server_before[1],
    }


# what the first import wrote, in the order the migrations' foreign keys need
FLOOR_TABLES = ("contacts", "contact_identifiers", "source_records", "contact_events")
# the column that ties each floor table's row to its contact (streams are split by contact)
FLOOR_CONTACT_COLUMN = {
    "contacts": "id",
    "contact_identifiers": "contact_id",
    "source_records": "contact_id",
    "contact_events": "contact_id",
}


def floor_variants(extra: bool) -> dict[str, dict]:
    """The schema floors to time: one stream, then one stream per CPU (the machine's best).

    With ``extra``, the per-CPU floor also without the schema's foreign keys, and without them
    and the contacts' trigram index: not a way to run, but what those parts cost.
    """
    cpus = os.cpu_count() or 1
    variants = {"one stream": {"streams": 1}}
    if cpus > 1:
        variants[f"{cpus} streams"] = {"streams": cpus}
    if extra:
        variants[f"{cpus} streams, no foreign keys"] = {"streams": cpus, "drop_fk": True}
        variants[f"{cpus} streams, no foreign keys or trigram index"] = {
            "streams": cpus,
            "drop_fk": True,
            "drop_trgm": True,
        }
    return variants


def _copy_in(conn, table: str, path: Path) -> None:
    """COPY a file written by ``COPY ... TO STDOUT`` into ``table``."""
    with (
        conn.cursor() as cur,
        path.open("rb") as fh,
        cur.copy(f"COPY {table} FROM STDIN") as sink,
    ):
        while chunk := fh.read(1 << 20):
            sink.write(chunk)


def _floor_schema(dst: str, sources: dict[str, Path], drop_fk: bool, drop_trgm: bool) -> None:
    """A fresh copy of the migrated schema holding the rows the import's keys point at."""
    import psycopg

    from crm.db import make_engine
    from crm.migrate import upgrade

    pg_recreate(dst)
    engine = make_engine(dst)
    upgrade(engine=engine)
    engine.dispose()
    with psycopg.connect(dst, autocommit=True) as out:
        for table in ("organizations", "import_jobs"):
            _copy_in(out, table, sources[table])
        if drop_fk:
            for table in FLOOR_TABLES:
                for (name,) in out.execute(
                    "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass "
                    "AND contype = 'f'",
                    (table,),
                ).fetchall():
                    out.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        if drop_trgm:
            for (name,) in out.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'contacts' "
                "AND indexdef LIKE '%%trgm%%'"
            ).fetchall():
                out.execute(f'DROP INDEX "{name}"')
        out.execute("CHECKPOINT")


def _floor_split(dst: str, sources: dict[str, Path], streams: int) -> list[dict[str, Path]]:
    """Each floor table's rows dealt to ``streams`` files by contact, keeping their order."""
    import psycopg

    if streams == 1:
        return [{t: sources[t] for t in FLOOR_TABLES}]
    with psycopg.connect(dst) as conn:
        position = {
            table: conn.execute(
                "SELECT attnum - 1 - (SELECT count(*) FROM pg_attribute d WHERE "
                "d.attrelid = a.attrelid AND d.attisdropped AND d.attnum > 0 "
                "AND d.attnum < a.attnum) FROM pg_attribute a "
                "WHERE attrelid = %s::regclass AND attname = %s",
                (table, column),
            ).fetchone()[0]
            for table, column in FLOOR_CONTACT_COLUMN.items()
        }
    parts: list[dict[str, Path]] = [{} for _ in range(streams)]
    for table in FLOOR_TABLES:
        outs = []
        for k in range(streams):
            parts[k][table] = sources[table].with_suffix(f".{k}")
            outs.append(parts[k][table].open("wb"))
        try:
            with sources[table].open("rb") as fh:
                for line in fh:
                    key = line.split(b"\t", position[table] + 1)[position[table]]
                    outs[zlib.crc32(key) % streams].write(line)
        finally:
            for out in outs:
                out.close()
    return parts


def _floor_load(dst: str, parts: list[dict[str, Path]]) -> dict:
    """COPY each part on its own connection, all at once, each in one transaction."""
    import psycopg

    cpu: list[tuple[float, float]] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(parts) + 1)

    def stream(part: dict[str, Path]) -> None:
        try:
            with psycopg.connect(dst) as out:
                backend = out.info.backend_pid
                before = schedstat(backend)
                barrier.wait()
                for table in FLOOR_TABLES:
                    _copy_in(out, table, part[table])
                out.commit()
                after = schedstat(backend)
                cpu.append((after[0] - before[0], after[1] - before[1]))
        except BaseException as exc:  # reported below, after the other streams end
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=stream, args=(part,)) for part in parts]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if failures:
        raise failures[0]
    return {
        "seconds": seconds,
        "streams": len(parts),
        "server_cpu_seconds": sum(c for c, _ in cpu),
        "server_run_wait_seconds": sum(w for _, w in cpu),
    }


def pg_schema_floor(url: str, org_id: str, workdir: Path, rows: int, extra: bool) -> dict:
    """The rows the first import wrote, COPYed into a fresh copy of the real schema.

    Same tables, indexes, foreign keys and checks, the rows in the order the import wrote them
    (their ``uuid7`` ids): the least time any importer could take to store this file's
    contacts in this schema, whatever it does in Python. Timed as one stream (one transaction
    on one connection), and as one stream per CPU, the rows dealt out by contact so that each
    stream's keys point inside it or at rows already there: the most the database on this
    machine can store in this schema, with no CPU left for the importer. What separates the
    first import from the floor is the importer's own work (reading, normalising, planning,
    lookups); what separates the floor from the bare ``COPY`` baseline is the schema (see
    bench/README.md). Returns the one-stream floor with every variant under ``variants``.
    """
    import psycopg
    from sqlalchemy.engine import make_url

    src = pg_plain(url)
    parsed = make_url(src)
    dst = parsed.set(database=f"{parsed.database}_floor").render_as_string(hide_password=False)
    sources: dict[str, Path] = {}
    # the rows the import's keys point at, then the import's own in the order it wrote them
    queries = {
        "organizations": "SELECT * FROM organizations WHERE id = %s",
        "import_jobs": "SELECT * FROM import_jobs WHERE organization_id = %s",
    } | {t: f"SELECT * FROM {t} WHERE organization_id = %s ORDER BY id" for t in FLOOR_TABLES}
    with psycopg.connect(src) as conn:
        for table, query in queries.items():
            sources[table] = workdir / f"floor-{table}.copy"
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY ({query}) TO STDOUT", (org_id,)) as source,
                sources[table].open("wb") as fh,
            ):
                for chunk in source:
                    fh.write(chunk)
    variants: dict[str, dict] = {}
    try:
        for label, how in floor_variants(extra).items():
            _floor_schema(dst, sources, how.get("drop_fk", False), how.get("drop_trgm", False))
            parts = _floor_split(dst, sources, how["streams"])
            try:
                variants[label] = x = _floor_load(dst, parts)
            finally:
                if how["streams"] > 1:
                    for part in parts:
                        for path in part.values():
                            path.unlink(missing_ok=True)
            x["rows_per_s"] = rows / x["seconds"]
            x["whole_schema"] = not (how.get("drop_fk") or how.get("drop_trgm"))
            x["server_cpu_us_per_row"] = x["server_cpu_seconds"] / rows * 1e6
            log(
                f"  schema floor, {label}: {x['seconds']:.1f} s ({x['rows_per_s']:,.0f} rows/s; "
                f"server CPU {x['server_cpu_seconds']:.1f} s = "
                f"{x['server_cpu_us_per_row']:.0f} µs a line)"
            )
    finally:
        for path in sources.values():
            path.unlink(missing_ok=True)
        admin, name = pg_admin_url(dst)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {**variants["one stream"], "variants": variants}


def fastest_floor(floor: dict) -> dict:
    """The quickest floor that kept the whole schema (not the what-it-costs variants)."""
    whole = [x for x in floor["variants"].values() if x["whole_schema"]]
    return max(whole, key=lambda x: x["rows_per_s"])


def pg_settings(url: str) -> dict[str, str]:
    """The server's version and the settings that move bulk-load figures."""
    import psycopg

    admin, _name = pg_admin_url(url)
    names = ("server_version", "shared_buffers", "synchronous_commit", "fsync", "autovacuum")
    with psycopg.connect(admin) as conn:
        return {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}


# SQLite ----------------------------------------------------------------------------------------


def sqlite_remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def sqlite_baseline(db: Path, path: Path, columns: int) -> dict:
    """sqlite3 loading the csv module's rows of ``path`` into a bare table: seconds, CPU, rows."""
    sqlite_remove(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"CREATE TABLE t ({', '.join(f'c{i} text' for i in range(columns))})")
    placeholders = ", ".join("?" * columns)
    before = schedstat()
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO t VALUES ({placeholders})", reader)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    after = schedstat()
    count = conn.execute("SELECT count(*) FROM t").fetchone()[0]
    conn.close()
    sqlite_remove(db)
    return {
        "seconds": seconds,
        "rows": count,
        "cpu_seconds": after[0] - before[0],
        "client_run_wait_seconds": after[1] - before[1],
        "server_cpu_seconds": None,
        "server_run_wait_seconds": None,
    }


# the import itself -----------------------------------------------------------------------------


def prepare(url: str) -> str:
    """Migrate a fresh database and create the organization; returns its id."""
    from crm.db import make_engine, session_scope
    from crm.migrate import upgrade
    from crm.tenancy.service import create_organization

    engine = make_engine(url)
    upgrade(engine=engine)
    with session_scope(engine) as session:
        org = create_organization(session, name="Bench Import Clinic", region="AU")
        org_id = str(org.id)
    engine.dispose()
    return org_id


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return pids


def _memory_kib(pid: int) -> tuple[int, int]:
    """(Rss, Pss) of one process in KiB, zeros once it is gone."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return rss, pss


class TreeMemory(threading.Thread):
    """Samples the summed Rss and Pss of a process and its descendants (the import's
    workers) every ``interval`` seconds; keeps the peaks."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = 0
        self.peak_processes = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pids = _tree(self.pid)
            sizes = [_memory_kib(p) for p in pids]
            self.peak_rss = max(self.peak_rss, sum(r for r, _ in sizes))
            self.peak_pss = max(self.peak_pss, sum(p for _, p in sizes))
            self.peak_processes = max(self.peak_processes, sum(1 for r, _ in sizes if r))
            self.done.wait(self.interval)


def import_child(
    url: str,
    org_id: str,
    path: Path,
    label: str,
    profile: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict:
    """Run ``import_once.py`` in a child; its result plus its memory.

    ``peak_rss_mb`` is the largest single process (``wait4``: the importer or a worker it
    waited for); ``peak_tree_rss_mb``/``peak_tree_pss_mb`` the sampled peak of the importer and
    its workers summed (Pss shares the pages a worker shares with its parent).
    """
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        result_path = Path(tmp.name)
    cmd = [
        sys.executable,
        str(HERE / "import_once.py"),
        "--url",
        url,
        "--org",
        org_id,
        "--file",
        str(path),
        "--result",
        str(result_path),
        "--label",
        label,
    ]
    if profile:
        cmd += ["--profile", str(profile)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})})
    memory = TreeMemory(proc.pid)
    memory.start()
    _, status, usage = os.wait4(proc.pid, 0)
    memory.done.set()
    memory.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{label}: import_once.py exited with {proc.returncode}")
    result = json.loads(result_path.read_text())
    result_path.unlink()
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    result["peak_tree_rss_mb"] = memory.peak_rss / 1024
    result["peak_tree_pss_mb"] = memory.peak_pss / 1024
    result["peak_processes"] = memory.peak_processes
    result["process_seconds"] = wall
    result["rows_per_s"] = ratio(result["rows"], result["seconds"])
    result["cpu_bound_seconds"] = cpu_bound(result)
    result["cpu_bound_rows_per_s"] = ratio(result["rows"], result["cpu_bound_seconds"])
    return result


def table_count(url: str, table: str) -> int:
    from sqlalchemy import text

    from crm.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return count


def check(result: dict, meta: dict, contacts: int) -> list[str]:
    first, again = result["first"], result["reimport"]
    problems = []
    rows = meta["rows"]
    total = sum(first[k] for k in ("created", "updated", "unchanged", "linked", "rejected"))
    if first["rows"] != rows or total != rows:
        problems.append(
            f"first import: {first['rows']} rows read, counters sum {total}, file {rows}"
        )
    if first["rejected"] != meta["counts"]["rejected"]:
        bad = meta["counts"]["rejected"]
        problems.append(f"first import rejected {first['rejected']}, the file has {bad} bad rows")
    if contacts != first["created"]:
        problems.append(f"{contacts} contacts stored, {first['created']} created")
    if first.get("crm_fingerprint") != again.get("crm_fingerprint"):
        problems.append("crm/ changed between the first import and the re-import: run again")
    for key in ("created", "updated", "linked"):
        if again[key]:
            problems.append(f"re-import {key} {again[key]} (expected 0)")
    if again["unchanged"] + again["rejected"] != rows:
        problems.append("re-import: unchanged + rejected != rows")
    for label, r in (("first import", first), ("re-import", again)):
        if r["status"] != "succeeded":
            problems.append(f"{label} status {r['status']}: {r['error']}")
    return problems


def cpu_bound(x: dict) -> float:
    """CPU seconds of the client (importer and its workers) plus its PostgreSQL server
    processes over the run.

    The work done, independent of what else the machine runs: rows per CPU-second compare
    runs on a shared machine. It is not a wall-time prediction (workers and the server run in
    parallel on an idle machine with free cores). ``*_run_wait_seconds`` (time runnable but not
    running) show how much the machine's other load stretched the wall time.
    """
    return x["cpu_seconds"] + (x.get("server_cpu_seconds") or 0.0)


def baseline(kind: str, rows: int, runs: int, load) -> dict:
    results = []
    for _ in range(runs):
        r = load()
        if r["rows"] != rows:
            raise SystemExit(f"{kind} loaded {r['rows']} rows, expected {rows}")
        r["cpu_bound_seconds"] = cpu_bound(r)
        results.append(r)
    best = min(results, key=lambda r: r["seconds"])
    log(
        f"  {kind}: {best['seconds']:.2f}s (best of {runs}: "
        + ", ".join(f"{r['seconds']:.2f}" for r in results)
        + "; client+server cpu "
        f"{min(r['cpu_bound_seconds'] for r in results):.2f}s)"
    )
    return {
        "kind": kind,
        "seconds": best["seconds"],
        "cpu_bound_seconds": min(r["cpu_bound_seconds"] for r in results),
        "runs": results,
    }


def measure_baseline(
    backend: str, rows: int, path: Path, meta: dict, args: argparse.Namespace
) -> dict:
    """The database's own bulk load of ``path``, best of ``--baseline-runs``."""
    if backend == "postgres":
        load = partial(pg_copy, args.url, path, meta["columns"])
        return baseline("COPY FROM STDIN (csv)", rows, args.baseline_runs, load)
    db = Path(args.data_dir) / f"crm_bench_import_{rows}.baseline.db"
    load = partial(sqlite_baseline, db, path, meta["columns"])
    return baseline("sqlite3 executemany", rows, args.baseline_runs, load)


def ratio(a: float, b: float) -> float:
    """a / b, infinite when b is too small to measure (tiny files)."""
    return a / b if b > 0 else float("inf")


def peak_memory(x: dict) -> float:
    """The memory the targets judge: the importer and its workers' Rss summed (sampled), or
    the largest single process if the sampling missed it."""
    return max(x["peak_rss_mb"], x["peak_tree_rss_mb"])


def describe(label: str, x: dict) -> str:
    server = (
        f", server cpu {x['server_cpu_seconds']:.1f}s (waited {x['server_run_wait_seconds']:.1f}s)"
        if x.get("server_cpu_seconds") is not None
        else ""
    )
    return (
        f"  {label}: {x['seconds']:.1f}s, {x['rows_per_s']:,.0f} rows/s; client cpu "
        f"{x['cpu_seconds']:.1f}s (waited for a CPU {x['client_run_wait_seconds']:.1f}s){server}; "
        f"client+server cpu {x['cpu_bound_seconds']:.1f}s = "
        f"{x['cpu_bound_rows_per_s']:,.0f} rows/s; "
        f"peak RSS {peak_memory(x):.0f} MB ({x['peak_processes']} process(es); largest "
        f"{x['peak_rss_mb']:.0f} MB, Pss sum {x['peak_tree_pss_mb']:.0f} MB); "
        + ", ".join(
            f"{k} {x[k]:,}" for k in ("created", "updated", "unchanged", "linked", "rejected")
        )
    )


def run_backend(backend: str, rows: int, path: Path, meta: dict, args: argparse.Namespace) -> dict:
    result: dict = {"backend": backend, "rows": rows, "bytes": meta["bytes"]}
    if backend == "postgres":
        url = args.url
        pg_recreate(url)
        result["baseline"] = measure_baseline(backend, rows, path, meta, args)
    else:
        db = Path(args.data_dir) / f"crm_bench_import_{rows}.db"
        result["baseline"] = measure_baseline(backend, rows, path, meta, args)
        sqlite_remove(db)
        url = f"sqlite:///{db}"
    org_id = prepare(url)
    log(f"  first import ({backend}, {rows:,} rows)...")
    load_before = os.getloadavg()[0]
    result["first"] = first = import_child(url, org_id, path, f"{backend} {rows:,} first import")
    result["first"]["loadavg_before"] = load_before
    log(describe("first import", first))
    load_before = os.getloadavg()[0]
    result["reimport"] = again = import_child(url, org_id, path, f"{backend} {rows:,} re-import")
    result["reimport"]["loadavg_before"] = load_before
    log(describe("re-import", again))
    contacts = table_count(url, "contacts")
    result["contacts"] = contacts
    if backend == "postgres":
        log("  schema floor (the first import's rows COPYed into a fresh copy of the schema)...")
        result["floor"] = floor = pg_schema_floor(
            url, org_id, Path(args.data_dir), rows, args.floor_variants
        )
        result["floor_ratio"] = ratio(first["seconds"], floor["seconds"])
        # what the target leaves for the whole import, importer and server together
        cpus = os.cpu_count() or 1
        result["cpu_budget_us_per_row"] = budget = cpus / TARGET_ROWS_PER_S * 1e6
        best = fastest_floor(floor)
        log(
            f"  at {TARGET_ROWS_PER_S:,} rows/s, {cpus} CPUs give the whole import "
            f"{budget:.0f} µs of CPU a line; storing the rows alone takes the server "
            f"{floor['server_cpu_us_per_row']:.0f} µs (one stream), "
            f"{best['server_cpu_us_per_row']:.0f} µs ({best['streams']} streams, "
            f"{best['rows_per_s']:,.0f} rows/s with nothing else running)"
        )
    result["identifiers"] = table_count(url, "contact_identifiers")
    result["source_records"] = table_count(url, "source_records")
    result["speedup"] = ratio(first["seconds"], again["seconds"])
    result["ratio"] = ratio(first["seconds"], result["baseline"]["seconds"])
    result["cpu_bound_speedup"] = ratio(first["cpu_bound_seconds"], again["cpu_bound_seconds"])
    result["cpu_bound_ratio"] = ratio(
        first["cpu_bound_seconds"], result["baseline"]["cpu_bound_seconds"]
    )
    result["problems"] = check(result, meta, contacts)
    for p in result["problems"]:
        log(f"  CHECK FAILED: {p}")
    if backend == "postgres":
        result["targets"] = {
            "rows_per_s": first["rows_per_s"] >= TARGET_ROWS_PER_S,
            "peak_rss": max(peak_memory(first), peak_memory(again)) <= TARGET_RSS_MB,
            "reimport_speedup": result["speedup"] >= TARGET_REIMPORT_SPEEDUP,
            "copy_ratio": result["ratio"] <= TARGET_COPY_RATIO,
        }
    else:
        db_path = Path(url.removeprefix("sqlite:///"))
        result["db_mb"] = db_path.stat().st_size / 1e6
        if not args.keep:
            sqlite_remove(db_path)
    return result


def profile(args: argparse.Namespace, rows: int) -> Path:
    path, _meta = data_file(Path(args.data_dir), rows, args.seed)
    out = RESULTS / "import_profile.txt"
    m = machine(args.url)
    out.write_text(
        f"cProfile of run_import, PostgreSQL, {rows:,} rows ({path.name}), "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
        f"machine: {m.get('cpu')}, {m['nproc']} CPUs, {m.get('memory_gib')} GiB, "
        f"PostgreSQL {m.get('postgresql')}, Python {m['python']}; git {m.get('git')}\n"
        "Times under cProfile are ~1.5-2x the real ones; the shares are what matter.\n"
        "Run with CRM_IMPORT_WORKERS=0: normalisation happens in the profiled process.\n\n"
    )
    pg_recreate(args.url)
    org_id = prepare(args.url)
    log(f"profile: first import of {rows:,} rows under cProfile...")
    # CRM_IMPORT_WORKERS=0: normalisation in the profiled process, so all the work shows
    env = {"CRM_IMPORT_WORKERS": "0"}
    first = import_child(args.url, org_id, path, "first import", profile=out, env=env)
    log(f"  {first['seconds']:.1f}s under cProfile")
    log("profile: re-import under cProfile...")
    again = import_child(args.url, org_id, path, "re-import", profile=out, env=env)
    log(f"  {again['seconds']:.1f}s under cProfile -> {out.relative_to(ROOT)}")
    return out


# report ----------------------------------------------------------------------------------------


def machine(url: str) -> dict:
    info: dict = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", cpu, re.M)
        info["cpu"] = m.group(1).strip() if m else None
        mem = Path("/proc/meminfo").read_text()
        m = re.search(r"^MemTotal:\s*(\d+) kB", mem, re.M)
        info["memory_gib"] = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    except OSError:
        pass
    try:
        settings = pg_settings(url)
        info["postgresql"] = settings.pop("server_version")
        info["postgresql_settings"] = settings
    except Exception as exc:
        info["postgresql"] = f"unavailable ({type(exc).__name__})"
    info["sqlite"] = sqlite3.sqlite_version
    info["crm_fingerprint"] = crm_fingerprint()
    try:
        info["git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "crm"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        if dirty:
            info["git"] += " (crm/ has uncommitted changes)"
    except OSError:
        pass
    return info


def mark(ok: bool | None) -> str:
    return "-" if ok is None else ("pass" if ok else "FAIL")


def table(results: list[dict]) -> str:
    head = (
        "| backend | rows | first import s | rows/s | peak RSS MB | re-import s | speedup "
        "| baseline s | first/baseline | schema floor s (rows/s) | first/floor "
        "| floor, a stream per CPU s (rows/s) "
        "| targets (as measured) "
        "| per CPU-second (importer+workers+server): rows/s, speedup, first/baseline |"
    )
    lines = [head, "|" + "---|" * 14]
    for r in results:
        f, a, b = r["first"], r["reimport"], r["baseline"]
        if "targets" in r:
            t = r["targets"]
            verdict = (
                f"rows/s {mark(t['rows_per_s'])}, RSS {mark(t['peak_rss'])}, "
                f"re-import {mark(t['reimport_speedup'])}, COPY {mark(t['copy_ratio'])}"
            )
        else:
            verdict = "(no targets)"
        if r["problems"]:
            verdict += "; CHECKS FAILED"
        rss = max(peak_memory(f), peak_memory(a))
        floor = floor_ratio = parallel = "-"
        if "floor" in r:
            floor = f"{r['floor']['seconds']:.1f} ({r['floor']['rows_per_s']:,.0f})"
            floor_ratio = f"{r['floor_ratio']:.1f}x"
            best = fastest_floor(r["floor"])
            parallel = f"{best['seconds']:.1f} ({best['rows_per_s']:,.0f})"
        kind = "COPY" if r["backend"] == "postgres" else "executemany"
        lines.append(
            f"| {r['backend']} | {r['rows']:,} | {f['seconds']:.1f} | {f['rows_per_s']:,.0f} "
            f"| {rss:.0f} | {a['seconds']:.1f} | {r['speedup']:.2f}x "
            f"| {b['seconds']:.2f} ({kind}) | {r['ratio']:.0f}x | {floor} | {floor_ratio} "
            f"| {parallel} "
            f"| {verdict} "
            f"| {f['cpu_bound_rows_per_s']:,.0f}, {r['cpu_bound_speedup']:.2f}x, "
            f"{r['cpu_bound_ratio']:.0f}x |"
        )
    return "\n".join(lines)


def counts_table(results: list[dict]) -> str:
    lines = [
        "| backend | rows | run | created | updated | unchanged | linked | rejected "
        "| client cpu s | client CPU wait s | server cpu s | server CPU wait s |",
        "|" + "---|" * 12,
    ]

    def opt(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for r in results:
        b = r["baseline"]
        best = min(b["runs"], key=lambda x: x["seconds"])
        lines.append(
            f"| {r['backend']} | {r['rows']:,} | baseline ({b['kind']}) | | | | | "
            f"| {best['cpu_seconds']:.1f} | {best['client_run_wait_seconds']:.1f} "
            f"| {opt(best['server_cpu_seconds'])} | {opt(best['server_run_wait_seconds'])} |"
        )
        for label, fl in r.get("floor", {}).get("variants", {}).items():
            lines.append(
                f"| {r['backend']} | {r['rows']:,} | schema floor, {label} | | | | | | - | - "
                f"| {fl['server_cpu_seconds']:.1f} ({fl['server_cpu_us_per_row']:.0f} µs/line) "
                f"| {fl['server_run_wait_seconds']:.1f} |"
            )
        for label, key in (("first import", "first"), ("re-import", "reimport")):
            x = r[key]
            lines.append(
                f"| {r['backend']} | {r['rows']:,} | {label} | {x['created']:,} | {x['updated']:,} "
                f"| {x['unchanged']:,} | {x['linked']:,} | {x['rejected']:,} "
                f"| {x['cpu_seconds']:.1f} | {x['client_run_wait_seconds']:.1f} "
                f"| {opt(x['server_cpu_seconds'])} | {opt(x['server_run_wait_seconds'])} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument(
        "--backends", nargs="+", default=["postgres", "sqlite"], choices=["postgres", "sqlite"]
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", default=os.environ.get("CRM_BENCH_IMPORT_URL", DEFAULT_URL))
    parser.add_argument("--data-dir", default=tempfile.gettempdir())
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the SQLite database files")
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile the smallest size on PostgreSQL"
    )
    parser.add_argument(
        "--baseline-only",
        action="store_true",
        help="only generate the files and time the baselines (COPY / executemany)",
    )
    parser.add_argument(
        "--profile-only", action="store_true", help="only the cProfile run (no benchmark)"
    )
    parser.add_argument(
        "--floor-variants",
        action="store_true",
        help="also time the schema floor without foreign keys, and without them and the "
        "trigram index (what those cost; PostgreSQL)",
    )
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)

    started = dt.datetime.now(dt.UTC)
    info = machine(args.url)
    log(
        f"machine: {info.get('cpu')}, {info['nproc']} CPUs, {info.get('memory_gib')} GiB, "
        f"PostgreSQL {info.get('postgresql')}, SQLite {info['sqlite']}, Python {info['python']}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    if args.profile_only:
        profile(args, min(args.rows))
        return 0
    if args.baseline_only:
        baselines = []
        for rows in args.rows:
            path, meta = data_file(Path(args.data_dir), rows, args.seed)
            for backend in args.backends:
                log(f"{backend}, {rows:,} rows (baseline only):")
                if backend == "postgres":
                    pg_recreate(args.url)
                b = measure_baseline(backend, rows, path, meta, args)
                baselines.append(
                    {"backend": backend, "rows": rows, "bytes": meta["bytes"], "baseline": b}
                )
        out = RESULTS / f"import-baseline-{started:%Y%m%dT%H%M%SZ}.json"
        out.write_text(
            json.dumps(
                {"started": started.isoformat(), "machine": info, "results": baselines},
                indent=2,
                default=str,
            )
            + "\n"
        )
        print(f"results: {out.relative_to(ROOT)}")
        return 0
    results = []
    for rows in args.rows:
        path, meta = data_file(Path(args.data_dir), rows, args.seed)
        for backend in args.backends:
            log(f"{backend}, {rows:,} rows:")
            results.append(run_backend(backend, rows, path, meta, args))
    if args.profile:
        profile(args, min(args.rows))

    summary = table(results)
    counts = counts_table(results)
    print()
    print(summary)
    print()
    print(counts)
    finished = dt.datetime.now(dt.UTC)
    if crm_fingerprint() != info["crm_fingerprint"]:
        log("WARNING: crm/ changed during the run: the figures mix code versions")
        info["crm_changed_during_run"] = True
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"import-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "started": started.isoformat(),
                "finished": finished.isoformat(),
                "machine": info,
                "loadavg_end": os.getloadavg(),
                "seed": args.seed,
                "targets": {
                    "rows_per_s": TARGET_ROWS_PER_S,
                    "peak_rss_mb": TARGET_RSS_MB,
                    "reimport_speedup": TARGET_REIMPORT_SPEEDUP,
                    "copy_ratio": TARGET_COPY_RATIO,
                },
                "results": results,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print()
    print(f"results: {out.relative_to(ROOT)}")
    print()
    print("markdown for bench/README.md:")
    print()
    print(
        f"{started:%Y-%m-%d}, {info.get('cpu')}, {info['nproc']} CPUs, "
        f"{info.get('memory_gib')} GiB, PostgreSQL {info.get('postgresql')}, "
        f"SQLite {info['sqlite']}, Python {info['python']}, "
        f"git {info.get('git')}, crm/ fingerprint {info['crm_fingerprint']}"
    )
    print()
    print(summary)
    print()
    print(counts)
    failed = [p for r in results for p in r["problems"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
