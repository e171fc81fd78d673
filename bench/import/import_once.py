"""One import of a CSV file through ``crm.importing.run_import``, in its own process.

Run by ``run.py`` (a child per import, so that its peak RSS is its own)::

    .venv/bin/python bench/import/import_once.py --url URL --org ORG_ID --file F --result R.json
        [--profile PROFILE.txt --label "first import"]

Writes ``--result`` as JSON: seconds (wall time of ``run_import`` alone, not the interpreter's
start-up), cpu_seconds (user+system time over the same span of this process and of the workers
it joined: ``CRM_IMPORT_WORKERS`` normalise large files in spawned processes), its time waiting
for a CPU, the CPU time of its PostgreSQL server processes, the job's counters and the import
settings. With ``--profile``, the import runs under cProfile and a summary (top 40 by
cumulative and by own time, own time per package) is appended to that file: run it with
``CRM_IMPORT_WORKERS=0`` so that the normalisation happens in the profiled process.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

PROGRESS_SECONDS = 15.0
# own time per package, in this order of specificity (first match wins)
PACKAGES = (
    ("crm/ingest/", "crm.ingest"),
    ("crm/identity/", "crm.identity"),
    ("crm/importing/", "crm.importing"),
    ("crm/search/", "crm.search"),
    ("crm/models/", "crm.models"),
    ("crm/", "crm (other)"),
    ("sqlalchemy/", "sqlalchemy"),
    ("sqlmodel/", "sqlmodel"),
    ("psycopg/", "psycopg"),
    ("psycopg_binary/", "psycopg"),
    ("phonenumbers/", "phonenumbers"),
    ("email_validator/", "email_validator"),
    ("idna/", "idna"),
    ("nicknames/", "nicknames"),
    ("rapidfuzz/", "rapidfuzz"),
    ("structlog/", "structlog"),
    ("json/", "json (stdlib)"),
    ("uuid.py", "uuid (stdlib)"),
    ("csv.py", "csv (stdlib)"),
    ("codecs.py", "codecs (stdlib)"),
    ("sqlite3/", "sqlite3"),
)


def _package(filename: str, function: str) -> str:
    for needle, name in PACKAGES:
        if needle in filename:
            return name
    if filename == "~":
        # C functions: name them by what they are
        if "sqlite3" in function:
            return "sqlite3 (C)"
        if "psycopg" in function or "pq" in function:
            return "psycopg (C)"
        if "_csv" in function or "reader" in function:
            return "csv (C)"
        if "sha256" in function or "hashlib" in function or "_hashlib" in function:
            return "hashlib (C)"
        if "json" in function or "encode" in function:
            return "builtins/C: " + function[:40]
        return "builtins/C (other)"
    return "other python"


def profile_summary(profile: cProfile.Profile, label: str, seconds: float, rows: int) -> str:
    out = io.StringIO()
    out.write(f"=== {label}: {rows:,} rows, {seconds:.1f}s under cProfile ===\n\n")
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs = lambda: stats  # keep paths: the package of each function is readable
    out.write("--- top 40 by cumulative time ---\n")
    stats.sort_stats("cumulative").print_stats(40)
    out.write("--- top 40 by own time (tottime) ---\n")
    stats.sort_stats("tottime").print_stats(40)
    by_package: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        by_package[_package(filename, function)] += tottime
        total += tottime
    out.write("--- own time per package ---\n")
    for name, tottime in sorted(by_package.items(), key=lambda kv: -kv[1]):
        out.write(f"{tottime:10.2f}s  {100 * tottime / total:5.1f}%  {name}\n")
    out.write(f"{total:10.2f}s  100.0%  total\n\n")
    text = out.getvalue()
    # pstats prints the absolute path of the venv on every line: shorten it
    return text.replace(str(ROOT) + "/.venv/lib/python3.11/site-packages/", "").replace(
        str(ROOT) + "/", ""
    )


def crm_fingerprint() -> str:
    """A digest of the crm package's sources: shows which code a run measured."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted((ROOT / "crm").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def schedstat(pid: int | str = "self") -> tuple[float, float]:
    """(seconds on a CPU, seconds waiting for one) of every thread of ``pid``; zeros if unknown.

    The wait is time runnable but not running: on a shared machine it is the contention.
    """
    on_cpu = waiting = 0.0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0, 0.0
    for task in tasks:
        try:
            run, wait, _slices = (task / "schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        on_cpu += int(run) / 1e9
        waiting += int(wait) / 1e9
    return on_cpu, waiting


def settings_used() -> dict:
    """The import settings in force (they decide whether workers normalise)."""
    try:
        from crm.settings import get_settings

        settings = get_settings()
    except Exception:  # informative only
        return {}
    return {
        name: getattr(settings, name)
        for name in ("import_workers", "import_parallel_min_bytes")
        if hasattr(settings, name)
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--org", required=True)
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--label", default="import")
    args = parser.parse_args()

    from crm.db import make_engine, session_scope
    from crm.importing.service import ImportOptions, create_import_job, run_import
    from crm.models import Organization

    fingerprint = crm_fingerprint()  # right after the imports: the code this process runs

    try:  # quiet: one log line per import either way
        from crm.logging import configure_logging

        configure_logging(level="WARNING")
    except ImportError:
        pass
    engine = make_engine(args.url)
    backends: set[int] = set()  # PostgreSQL server processes of this import's connections
    if engine.dialect.name == "postgresql":
        from sqlalchemy import event

        def remember_backend(dbapi_connection, _record) -> None:
            backends.add(dbapi_connection.info.backend_pid)

        event.listen(engine, "connect", remember_backend)
    with session_scope(engine) as session:
        org = session.get(Organization, uuid.UUID(args.org))
        job = create_import_job(
            session,
            organization=org,
            options=ImportOptions(source="csv", filename=args.file.name),
            total_bytes=args.file.stat().st_size,
            actor=None,
        )
        job_id = job.id

    started = time.perf_counter()
    last = [started]

    def progress(job) -> None:
        now = time.perf_counter()
        if now - last[0] >= PROGRESS_SECONDS:
            last[0] = now
            print(
                f"    {args.label}: {job.rows:,} rows, {job.rows / (now - started):,.0f} rows/s",
                file=sys.stderr,
                flush=True,
            )

    profiler = cProfile.Profile() if args.profile else None
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sched_before = schedstat()
    server_before = {pid: schedstat(pid) for pid in backends}
    with args.file.open("rb") as stream:
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        job = run_import(engine=engine, job_id=job_id, stream=stream, progress=progress)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers, once joined
    sched = schedstat()
    # the pool still holds its connections: their server processes are alive
    server = {pid: v for pid in backends if (v := schedstat(pid)) != (0.0, 0.0)}
    cpu = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    worker_cpu = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    server_cpu = sum(v[0] - server_before.get(pid, (0.0, 0.0))[0] for pid, v in server.items())
    server_wait = sum(v[1] - server_before.get(pid, (0.0, 0.0))[1] for pid, v in server.items())
    result = {
        "label": args.label,
        "status": job.status,
        "error": job.error,
        "seconds": seconds,
        "cpu_seconds": cpu + worker_cpu,
        "importer_cpu_seconds": cpu,
        "worker_cpu_seconds": worker_cpu,
        "settings": settings_used(),
        "client_run_wait_seconds": sched[1] - sched_before[1],
        "server_cpu_seconds": server_cpu if backends else None,
        "server_run_wait_seconds": server_wait if backends else None,
        "server_processes": len(backends),
        "rows": job.rows,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "linked": job.linked,
        "rejected": job.rejected,
        "peak_rss_mb_self": usage.ru_maxrss / 1024,
        "pid": os.getpid(),
        "crm_fingerprint": fingerprint,
    }
    if profiler:
        with args.profile.open("a") as fh:
            fh.write(profile_summary(profiler, args.label, seconds, job.rows))
    engine.dispose()
    args.result.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
