"""PMS sync throughput against the fake Cliniko on loopback.

    .venv/bin/python bench/pms/run.py [--patients 5000] [--database-url URL]

Baseline in the same run: reading every page from the fake without storing anything (the
HTTP and parsing floor). Then a full first sync (every patient created), a second full sync
(every patient unchanged) and an incremental sync with nothing changed. SQLite in a temporary
directory by default; a PostgreSQL URL's database is dropped and created.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from crm.db import make_engine, session_scope
from crm.migrate import upgrade
from crm.pms.adapters.cliniko import ClinikoAdapter
from crm.pms.connections import create_connection
from crm.pms.fake_cliniko import FakeCliniko
from crm.pms.sync import sync_connection
from crm.settings import Settings
from crm.tenancy.service import create_organization

FIRST = ["Ann", "Bob", "Chloe", "Dev", "Emma", "Finn", "Grace", "Hugo", "Isla", "Jack"]
LAST = ["Smith", "Nguyen", "Brown", "Wilson", "Taylor", "Lee", "Martin", "Khan", "Jones"]
KEY = "bench-key-au1"


def fill(fake: FakeCliniko, patients: int, rng: random.Random) -> None:
    now = datetime.now(UTC)
    for i in range(patients):
        p = fake.add_patient(
            first_name=rng.choice(FIRST),
            last_name=f"{rng.choice(LAST)}{i}",
            email=f"patient{i}@example.com",
            date_of_birth=f"19{rng.randint(40, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            patient_phone_numbers=[
                {"phone_type": "Mobile", "number": f"6141{i:07d}"},
            ],
        )
        if i % 3 == 0:
            fake.add_appointment(
                patient_id=p["id"], starts_at=now + timedelta(days=rng.randint(-40, 40))
            )


def database(url: str | None) -> str:
    if not url:
        return f"sqlite:///{tempfile.mkdtemp()}/bench_pms.db"
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = make_engine(
        target.set(database="postgres").render_as_string(False), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    rng = random.Random(13)
    settings = Settings(secret_key="bench", pms_sync_overlap_seconds=0)
    url = database(args.database_url)
    engine = make_engine(url)
    upgrade(engine=engine)
    results: dict[str, float] = {}
    with FakeCliniko(api_key=KEY) as fake:
        fill(fake, args.patients, rng)
        # the floor: every page read and parsed, nothing stored
        adapter = ClinikoAdapter(
            connection_id="floor",
            credentials={"apiKey": KEY},
            base_url=fake.base_url,
            settings=settings,
        )
        started = time.perf_counter()
        read = sum(len(p.records) for p in adapter.patient_pages({}, full=True))
        results["read_only_s"] = time.perf_counter() - started
        adapter.close()
        assert read == args.patients
        with session_scope(engine) as session:
            org = create_organization(session, name="Bench", region="AU")
            connection = create_connection(
                session,
                organization=org,
                type="cliniko",
                credentials={"apiKey": KEY},
                base_url=fake.base_url,
                settings=settings,
                test=False,
            )
        for label, full in (("first_full", True), ("second_full", True), ("incremental", False)):
            started = time.perf_counter()
            run = sync_connection(
                engine,
                organization_id=org.id,
                connection_id=connection.id,
                full=full,
                settings=settings,
            )
            results[f"{label}_s"] = time.perf_counter() - started
            assert run.status == "success", run.error
            results[f"{label}_created"] = run.patients_created
            results[f"{label}_unchanged"] = run.patients_unchanged
    engine.dispose()
    results["patients"] = args.patients
    results["dialect"] = url.split(":", 1)[0]
    for key in ("first_full", "second_full"):
        results[f"{key}_patients_per_s"] = round(args.patients / results[f"{key}_s"], 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
