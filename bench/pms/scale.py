"""PMS sync at scale against the fake Cliniko: throughput beside `crm import`, the rate limit,
an incremental sync after 1% changed, peak RSS.

    .venv/bin/python bench/pms/scale.py throughput [--patients 50000] [--appointments 4]
    .venv/bin/python bench/pms/scale.py ratelimit [--patients 2000] [--per-page 10]

``throughput``: (a) the same people imported as a CSV (``run_import``, organization A) and
synced from the fake Cliniko with the rate limit off (organization B), in the same run and
database, and imported again with their Cliniko id column (organization C: the
identifiers the sync stores; ``sync_patients_phase_vs_import_with_ids``); (c) then 1% of the
patients and 1% of the appointments changed and an incremental
sync: its time against the first sync's, its requests against the first's.
``ratelimit``: (b) a first sync under Cliniko's 200 requests a minute (pages of
``--per-page`` so the run needs more than 200 requests), against the floor the limit sets.

Each import and sync runs in a spawned child (its peak RSS is its own; the fake and its data
stay in this process). SQLite in a temporary directory; prints JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

KEY = "bench-key-au1"
FIRST = ["Ann", "Bob", "Chloe", "Dev", "Emma", "Finn", "Grace", "Hugo", "Isla", "Jack"]
LAST = ["Smith", "Nguyen", "Brown", "Wilson", "Taylor", "Lee", "Martin", "Khan", "Jones"]


def person(i: int, rng: random.Random) -> dict:
    return {
        "first_name": rng.choice(FIRST),
        "last_name": f"{rng.choice(LAST)}{i}",
        "email": f"patient{i}@example.com",
        "date_of_birth": f"19{rng.randint(40, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
        "mobile": f"+614{i:08d}",
    }


def peak_rss_mb() -> float:
    """This process's peak RSS since its exec (VmHWM; ``ru_maxrss`` would carry the forking
    parent's, which holds the fake and its data)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def unlimited_adapter(connection, organization):
    """The Cliniko adapter with the rate limit off (``throughput``)."""
    import httpx

    from crm.pms.adapters.cliniko import ClinikoAdapter
    from crm.pms.http import PmsHttp
    from crm.pms.ratelimit import LocalLimiter
    from crm.pms.secrets import decrypt
    from crm.settings import Settings

    settings = Settings(secret_key="bench", pms_sync_overlap_seconds=0)
    creds = decrypt(connection.credentials_encrypted, settings=settings)
    http = PmsHttp(
        pms="Cliniko",
        base_url=connection.base_url,
        auth=httpx.BasicAuth(creds["apiKey"], ""),
        limiter=LocalLimiter(limit=10**9, window=60.0),
        settings=settings,
    )
    return ClinikoAdapter(
        connection_id=str(connection.id),
        credentials=creds,
        region=organization.default_region,
        settings=settings,
        http=http,
    )


def child_sync(url: str, org_id: str, connection_id: str, full: bool, limited: bool, out) -> None:
    import uuid

    from crm.db import make_engine
    from crm.pms.sync import sync_connection
    from crm.settings import Settings

    engine = make_engine(url)
    settings = Settings(secret_key="bench", pms_sync_overlap_seconds=0)
    profile = os.environ.get("BENCH_PMS_PROFILE")
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    from crm.pms import sync as sync_module

    phases: dict[str, float] = {}
    sync_patients = sync_module.patient_sync.sync_patients

    def timed_patients(*a, **kw):  # the patients' phase timed on its own
        began = time.perf_counter()
        try:
            return sync_patients(*a, **kw)
        finally:
            phases["patients_seconds"] = round(time.perf_counter() - began, 2)

    sync_module.patient_sync.sync_patients = timed_patients
    started = time.perf_counter()
    run = sync_connection(
        engine,
        organization_id=uuid.UUID(org_id),
        connection_id=uuid.UUID(connection_id),
        full=full,
        settings=settings,
        adapter_factory=None if limited else unlimited_adapter,
    )
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"{profile}.{'full' if full else 'incremental'}")
    out.put(
        {
            "seconds": round(seconds, 2),
            **phases,
            "status": run.status,
            "error": run.error,
            "patients_fetched": run.patients_fetched,
            "patients_created": run.patients_created,
            "patients_updated": run.patients_updated,
            "appointments_fetched": run.appointments_fetched,
            "appointments_created": run.appointments_created,
            "appointments_updated": run.appointments_updated,
            "peak_rss_mb": peak_rss_mb(),
        }
    )


def child_import(url: str, org_id: str, path: str, out) -> None:
    import uuid

    from crm.db import make_engine, session_scope
    from crm.importing.jobs import create_import_job
    from crm.importing.service import ImportOptions, run_import
    from crm.models import Organization

    engine = make_engine(url)
    with session_scope(engine) as session:
        org = session.get(Organization, uuid.UUID(org_id))
        job = create_import_job(
            session,
            organization=org,
            options=ImportOptions(source="csv", filename=Path(path).name),
            total_bytes=Path(path).stat().st_size,
            actor=None,
        )
        job_id = job.id
    started = time.perf_counter()
    with open(path, "rb") as stream:
        job = run_import(engine=engine, job_id=job_id, stream=stream)
    seconds = time.perf_counter() - started
    out.put(
        {
            "seconds": round(seconds, 2),
            "rows": job.rows,
            "created": job.created,
            "peak_rss_mb": peak_rss_mb(),
        }
    )


def in_child(target, *args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    proc.start()
    result = out.get()
    proc.join()
    return result


def setup(url: str, fake_url: str, names: list[str]) -> tuple[list, list]:
    from crm.db import make_engine, session_scope
    from crm.migrate import upgrade
    from crm.pms.connections import create_connection
    from crm.settings import Settings
    from crm.tenancy.service import create_organization

    engine = make_engine(url)
    upgrade(engine=engine)
    settings = Settings(secret_key="bench")
    orgs, connections = [], []
    with session_scope(engine) as session:
        for name in names:
            org = create_organization(session, name=name, region="AU")
            connection = create_connection(
                session,
                organization=org,
                type="cliniko",
                credentials={"apiKey": KEY},
                base_url=fake_url,
                settings=settings,
                test=False,
            )
            orgs.append(str(org.id))
            connections.append(str(connection.id))
    engine.dispose()
    return orgs, connections


def fill(fake, patients: int, appointments: float, rng: random.Random) -> tuple[list, list, list]:
    now = datetime.now(UTC)
    people, pids, aids = [], [], []
    for i in range(patients):
        p = person(i, rng)
        people.append(p)
        record = fake.add_patient(
            first_name=p["first_name"],
            last_name=p["last_name"],
            email=p["email"],
            date_of_birth=p["date_of_birth"],
            patient_phone_numbers=[{"phone_type": "Mobile", "number": p["mobile"]}],
        )
        pids.append(record["id"])
    for _ in range(int(patients * appointments)):
        a = fake.add_appointment(
            patient_id=rng.choice(pids), starts_at=now + timedelta(days=rng.randint(-40, 40))
        )
        aids.append(a["id"])
    return people, pids, aids


def machine() -> dict:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
    }


def database(url: str | None, sqlite_path: Path) -> str:
    """``url`` (its PostgreSQL database dropped and created), else SQLite at the path."""
    if not url:
        return f"sqlite:///{sqlite_path}"
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from crm.db import make_engine

    target = make_url(url)
    admin = make_engine(
        target.set(database="postgres").render_as_string(False), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    return url


def throughput(args) -> dict:
    from crm.pms.fake_cliniko import FakeCliniko
    from crm.settings import Settings  # noqa: F401  (warm the import in this process)

    rng = random.Random(13)
    workdir = Path(tempfile.mkdtemp())
    url = database(args.database_url, workdir / "bench_pms_scale.db")
    results: dict = {
        **machine(),
        "database": url.partition(":")[0],
        "patients": args.patients,
        "appointments_per_patient": args.appointments,
    }
    with FakeCliniko(api_key=KEY) as fake:
        started = time.perf_counter()
        people, pids, aids = fill(fake, args.patients, args.appointments, rng)
        results["fill_s"] = round(time.perf_counter() - started, 1)
        columns = ["first_name", "last_name", "email", "date_of_birth", "mobile"]
        path = workdir / "people.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for p in people:
                writer.writerow([p[k] for k in columns])
        # the same people as a clinic's export from Cliniko would give them: with their
        # Cliniko id, so the import stores the identifiers the sync stores
        with_ids = workdir / "people_with_ids.csv"
        with with_ids.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([*columns, "cliniko_id"])
            for p, pid in zip(people, pids, strict=True):
                writer.writerow([*(p[k] for k in columns), pid])
        orgs, connections = setup(url, fake.base_url, ["Import", "Sync", "Import with ids"])
        results["import"] = in_child(child_import, url, orgs[0], str(path))
        results["import_with_ids"] = in_child(child_import, url, orgs[2], str(with_ids))
        before = len(fake.requests)
        cpu = time.process_time()
        results["first_sync"] = in_child(child_sync, url, orgs[1], connections[1], True, False)
        # the fake answers from this process: its CPU is taken from the machine the sync runs on
        results["first_sync"]["fake_cpu_s"] = round(time.process_time() - cpu, 2)
        first_requests = len(fake.requests) - before
        results["first_sync"]["requests"] = first_requests
        # (c) 1% of the patients and 1% of the appointments change
        changed = max(1, args.patients // 100)
        for pid in rng.sample(pids, changed):
            fake.update_patient(pid, email=f"changed{pid}@example.com")
        for aid in rng.sample(aids, max(1, len(aids) // 100)):
            fake.update_appointment(aid, patient_arrived=True)
        fake.index()  # as a real Cliniko's indexes would have it, not on the sync's time
        before = len(fake.requests)
        results["incremental_sync"] = in_child(
            child_sync, url, orgs[1], connections[1], False, False
        )
        results["incremental_sync"]["requests"] = len(fake.requests) - before
    imp, first, inc = results["import"], results["first_sync"], results["incremental_sync"]
    results["import_rows_per_s"] = round(imp["rows"] / imp["seconds"], 1)
    results["sync_patients_per_s"] = round(first["patients_fetched"] / first["seconds"], 1)
    results["sync_vs_import"] = round(
        results["sync_patients_per_s"] / results["import_rows_per_s"], 2
    )
    # the patients' phase alone (the appointments follow it)
    results["sync_patients_phase_per_s"] = round(
        first["patients_fetched"] / first["patients_seconds"], 1
    )
    results["sync_patients_phase_vs_import"] = round(
        results["sync_patients_phase_per_s"] / results["import_rows_per_s"], 2
    )
    ids = results["import_with_ids"]
    results["import_with_ids_rows_per_s"] = round(ids["rows"] / ids["seconds"], 1)
    results["sync_patients_phase_vs_import_with_ids"] = round(
        results["sync_patients_phase_per_s"] / results["import_with_ids_rows_per_s"], 2
    )
    # every row the sync stores (patients and appointments) over its whole time
    rows = first["patients_fetched"] + first["appointments_fetched"]
    results["sync_all_rows_per_s"] = round(rows / first["seconds"], 1)
    results["sync_all_rows_vs_import"] = round(
        results["sync_all_rows_per_s"] / results["import_rows_per_s"], 2
    )
    results["load_after"] = os.getloadavg()
    results["incremental_vs_first_time"] = round(inc["seconds"] / first["seconds"], 3)
    results["incremental_vs_first_requests"] = round(inc["requests"] / first["requests"], 3)
    return results


def ratelimit(args) -> dict:
    from crm.pms.fake_cliniko import FakeCliniko

    rng = random.Random(13)
    workdir = Path(tempfile.mkdtemp())
    url = database(args.database_url, workdir / "bench_pms_rate.db")
    with FakeCliniko(api_key=KEY, max_per_page=args.per_page) as fake:
        fill(fake, args.patients, 1 / 3, rng)
        orgs, connections = setup(url, fake.base_url, ["Rate"])
        before = len(fake.requests)
        run = in_child(child_sync, url, orgs[0], connections[0], True, True)
        requests = len(fake.requests) - before
    limit = 200
    run["requests"] = requests
    return {
        "patients": args.patients,
        "per_page": args.per_page,
        "sync": run,
        # the brief's floor: requests at 200 a minute
        "floor_requests_over_rate_s": round(requests / limit * 60, 1),
        # what a 60 s sliding window allows at best: 200 at once, the next 200 a minute later
        "floor_sliding_window_s": ((requests - 1) // limit) * 60,
        "wall_over_rate_floor": round(run["seconds"] / (requests / limit * 60), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["throughput", "ratelimit"])
    parser.add_argument("--patients", type=int, default=None)
    parser.add_argument("--appointments", type=float, default=4.0)
    parser.add_argument("--per-page", type=int, default=10)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    if args.mode == "throughput":
        args.patients = args.patients or 50_000
        result = throughput(args)
    else:
        args.patients = args.patients or 2_000
        result = ratelimit(args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
