"""The importer's CPU per phase of a first import on PostgreSQL, without a profiler.

    .venv/bin/python bench/import/phases.py [--rows 50000] [--seed 1] [--url URL]
        [--profile PHASE ...]

Runs one first import in-process into a fresh database (``crm_bench_import_phases``) and
wraps the importer's phases with ``time.process_time`` (this process's CPU: the server's is
not in it; time spent waiting for PostgreSQL is not CPU). Each phase's own time is printed
per row, nested phases subtracted; "rest" is what no wrapper covers (reading the CSV,
batching, error rows, commits). cProfile distorts these shares (it charges per Python call),
which is why this exists beside ``run.py --profile``; ``--profile PHASE`` still cProfiles the
named phases only (e.g. ``--profile _recompute``).

The import stores one batch at a time here (``CRM_IMPORT_OVERLAP=false`` unless set): with
the writer thread, two threads' CPU would be charged to whichever phase was open.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import generate  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/crm_bench_import_phases"

# (owner, attribute, label); owners are resolved after the imports below
PHASES = [
    ("importer.Importer", "_seen_before", "seen before (canonical record, raw hash, lookup)"),
    ("importer", "normalise_rows", "normalise (build_observation)"),
    ("pipeline", "load", "pipeline: load (lookups)"),
    ("plan._Planner", "_outcomes", "pipeline: plan (owners, identifiers, records)"),
    ("plan", "contact_writes", "pipeline: survivorship, contact rows, events"),
    ("pipeline", "store", "pipeline: store (other than COPY)"),
    ("db_write.InsertRows", "send", "COPY (send, wait; text building below)"),
    ("db_write", "copy_lines", "COPY text"),
    ("importer.Importer", "_keep_statistics", "ANALYZE"),
    ("importer.Importer", "_progress", "job progress"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", default=os.environ.get("CRM_BENCH_PHASES_URL", DEFAULT_URL))
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp"))
    parser.add_argument("--profile", nargs="*", default=[], metavar="PHASE")
    args = parser.parse_args()
    os.environ.setdefault("CRM_IMPORT_OVERLAP", "false")

    import sqlalchemy as sa

    import crm.db_write as db_write
    from crm.db import make_engine, session_scope
    from crm.importing import importer, service
    from crm.ingest import pipeline, plan
    from crm.migrate import upgrade
    from crm.models import Organization
    from crm.tenancy.service import create_organization

    path = args.data_dir / f"crm_bench_import_v{generate.VERSION}_s{args.seed}_{args.rows}.csv"
    if not path.exists():
        generate.generate(args.rows, path, seed=args.seed)
    url = sa.engine.make_url(args.url)
    admin = sa.create_engine(
        url.set(drivername="postgresql+psycopg", database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
    admin.dispose()
    engine = make_engine(args.url)
    upgrade(engine=engine)
    with session_scope(engine) as session:
        org = create_organization(session, name="Phases", region="AU")
        org_id = org.id

    owners = {
        "service": service,
        "importer": importer,
        "pipeline": pipeline,
        "plan": plan,
        "db_write": db_write,
    }
    cpu: dict[str, float] = defaultdict(float)
    stack: list[float] = []
    profiler = cProfile.Profile()

    def wrap(owner_name: str, attribute: str, label: str) -> None:
        module, _, cls = owner_name.partition(".")
        owner = getattr(owners[module], cls) if cls else owners[module]
        original = getattr(owner, attribute)
        profiled = attribute in args.profile

        @functools.wraps(original)
        def wrapper(*a, **k):
            started = time.process_time()
            stack.append(0.0)
            if profiled:
                profiler.enable()
            try:
                return original(*a, **k)
            finally:
                if profiled:
                    profiler.disable()
                spent = time.process_time() - started
                inner = stack.pop()
                cpu[label] += spent - inner
                if stack:
                    stack[-1] += spent

        setattr(owner, attribute, wrapper)

    for owner_name, attribute, label in PHASES:
        wrap(owner_name, attribute, label)

    with session_scope(engine) as session:
        job = service.create_import_job(
            session,
            organization=session.get(Organization, org_id),
            options=service.ImportOptions(source="csv", filename=path.name),
            total_bytes=path.stat().st_size,
            actor=None,
        )
        job_id = job.id
    started, wall = time.process_time(), time.perf_counter()
    with path.open("rb") as stream:
        service.run_import(engine=engine, job_id=job_id, stream=stream)
    total = time.process_time() - started
    wall = time.perf_counter() - wall

    rows = args.rows
    print(
        f"{rows:,} rows: importer CPU {total:.2f} s = {total / rows * 1e6:.0f} us/row "
        f"(wall {wall:.1f} s, server CPU not included)"
    )
    accounted = 0.0
    for label, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        accounted += seconds
        print(f"  {seconds / rows * 1e6:6.1f} us/row  {label}")
    rest = (total - accounted) / rows * 1e6
    print(f"  {rest:6.1f} us/row  rest (CSV reading, batching, commits)")
    if args.profile:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
