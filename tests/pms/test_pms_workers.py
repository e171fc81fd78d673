"""Real arq worker processes against real Redis and the test's database, syncing a fake
Cliniko that answers slowly: ``kill -9`` mid-sync, then a new worker's run, ends in the state
of an uninterrupted sync; two workers never run one connection at once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from arq.connections import create_pool
from sqlmodel import Session, select

from crm.models import (
    Contact,
    ContactIdentifier,
    PmsAppointment,
    PmsConnection,
    PmsSyncRun,
    SourceRecord,
)
from crm.pms.connections import create_connection
from crm.pms.fake_cliniko import FakeCliniko
from crm.pms.sync import sync_connection
from crm.settings import get_settings
from crm.tenancy.service import create_organization
from jobs import pms as pms_jobs
from jobs.worker import redis_settings_for
from tests.pms.conftest import API_KEY, REDIS_SKIP, REDIS_URL

pytestmark = [
    pytest.mark.redis,
    pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = 120
PER_PAGE = 20  # the fake's largest page: six pages of patients
SLOW_SECONDS = 0.3
# the project's WorkerSettings, on the test's own queue, without the cron (the test runs the
# check itself), taking ``max_jobs`` at a time
WORKER = """
import logging.config, sys
from arq.logs import default_log_config
from arq.worker import run_worker
from jobs.worker import WorkerSettings, redis_settings_for
url, queue, burst, max_jobs = sys.argv[1], sys.argv[2], sys.argv[3] == "burst", int(sys.argv[4])
logging.config.dictConfig(default_log_config(verbose=False))  # arq's job lines, as its CLI does
run_worker(WorkerSettings, redis_settings=redis_settings_for(url), queue_name=queue,
           cron_jobs=[], burst=burst, poll_delay=0.1, max_jobs=max_jobs)
"""


@pytest.fixture(autouse=True)
def _needs_redis() -> None:
    if not REDIS_URL:
        pytest.skip(REDIS_SKIP)


@pytest.fixture
def fake() -> Iterator[FakeCliniko]:
    with FakeCliniko(api_key=API_KEY, max_per_page=PER_PAGE) as server:
        yield server


@pytest.fixture
def start_worker(engine, queue_name, tmp_path) -> Iterator[Callable[..., Any]]:
    """Start a worker process: the project's worker on this test's database and queue."""
    env = {
        **os.environ,
        "CRM_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "CRM_REDIS_URL": REDIS_URL,
        "CRM_PMS_HTTP_TIMEOUT": "2",
        "CRM_PMS_HTTP_ATTEMPTS": "3",
        "CRM_LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
    }
    started: list[subprocess.Popen] = []

    def start(
        *, burst: bool = False, max_jobs: int = 10, name: str = "worker", heartbeat: float = 900
    ) -> Any:
        log = open(tmp_path / f"{name}.log", "w+")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER, REDIS_URL, queue_name,
             "burst" if burst else "run", str(max_jobs)],
            cwd=tmp_path,  # where the test keeps the key that encrypts the credentials
            env={**env, "CRM_PMS_SYNC_HEARTBEAT_LIMIT_SECONDS": str(heartbeat)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        process.log = Path(log.name)  # type: ignore[attr-defined]
        process.log_file = log  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        process.log_file.close()


def enqueue(queue: str, *jobs: tuple[tuple[Any, ...], str]) -> list[Any]:
    """Queue ``pms.sync`` jobs (arguments, job id) at once; the arq jobs (None: id taken)."""

    async def go() -> list[Any]:
        pool = await create_pool(redis_settings_for(REDIS_URL))
        try:
            return await asyncio.gather(
                *(
                    pool.enqueue_job("pms.sync", *args, _job_id=job, _queue_name=queue)
                    for args, job in jobs
                )
            )
        finally:
            await pool.aclose()

    return asyncio.run(go())


def check_due(engine, queue: str) -> dict[str, Any]:
    """The worker's every-minute check, run now by the test (against the same Redis)."""

    async def go() -> dict[str, Any]:
        pool = await create_pool(redis_settings_for(REDIS_URL))
        try:
            return await pms_jobs.sync_due({"engine": engine, "redis": pool, "queue_name": queue})
        finally:
            await pool.aclose()

    return asyncio.run(go())


def wait_for(condition: Callable[[], Any], *, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def runs_of(engine, connection_id: uuid.UUID) -> list[PmsSyncRun]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(PmsSyncRun)
                .where(PmsSyncRun.connection_id == connection_id)
                .order_by(PmsSyncRun.started_at)
            ).all()
        )


def practice(fake: FakeCliniko) -> None:
    """120 patients (phones, emails, some archived or deleted) and 24 appointments."""
    now = datetime.now(UTC)
    for i in range(PATIENTS):
        patient = fake.add_patient(
            first_name=f"Pat{i}",
            last_name="Kill",
            email=f"pat{i}@example.com" if i % 3 else "",
            patient_phone_numbers=[{"phone_type": "Mobile", "number": f"0412{i:06d}"}],
        )
        if i % 50 == 7:
            fake.archive_patient(patient["id"])
        if i % 50 == 9:
            fake.delete_patient(patient["id"])
        if i % 5 == 0:
            fake.add_appointment(
                patient_id=patient["id"],
                starts_at=now + timedelta(days=i % 40 - 20),
                appointment_type_id=1 + i % 2,
                did_not_arrive=i % 3 == 0,
            )


def snapshot(session: Session, organization_id: uuid.UUID) -> dict[str, Any]:
    """What an organization holds, keyed by PMS ids (comparable across organizations)."""
    session.expire_all()
    identifiers: dict[uuid.UUID, list[tuple[str, str]]] = {}
    for row in session.exec(
        select(ContactIdentifier).where(ContactIdentifier.organization_id == organization_id)
    ):
        identifiers.setdefault(row.contact_id, []).append((row.namespace, row.value))
    key = {cid: tuple(sorted(values)) for cid, values in identifiers.items()}
    contacts = sorted(
        (
            key.get(c.id, ()),
            c.first_name,
            c.last_name,
            c.email,
            c.phone,
            c.status,
            repr(c.attributes.get("cliniko")),
        )
        for c in session.exec(select(Contact).where(Contact.organization_id == organization_id))
    )
    records = sorted(
        (r.source_system, r.source_id, r.version, r.is_current, r.content_hash, key[r.contact_id])
        for r in session.exec(
            select(SourceRecord).where(SourceRecord.organization_id == organization_id)
        )
    )
    appointments = sorted(
        (a.pms_id, a.status, a.starts_at, a.telehealth, key.get(a.contact_id, ()))
        for a in session.exec(
            select(PmsAppointment).where(PmsAppointment.organization_id == organization_id)
        )
    )
    return {"contacts": contacts, "source_records": records, "appointments": appointments}


def connection_of(session: Session, organization, fake: FakeCliniko) -> PmsConnection:
    connection = create_connection(
        session,
        organization=organization,
        type="cliniko",
        credentials={"apiKey": API_KEY},
        base_url=fake.base_url,
    )
    session.commit()
    return connection


class TestKillNine:
    def test_a_worker_killed_mid_sync_then_a_new_run_ends_as_an_uninterrupted_sync(
        self, engine, session, org, fake, queue_name, start_worker, monkeypatch
    ):
        # given a practice, synced once without interruption into a reference organization
        practice(fake)
        reference = create_organization(session, name="Reference Physio", region="AU")
        session.commit()
        ref_connection = connection_of(session, reference, fake)
        ref_run = sync_connection(
            engine, organization_id=reference.id, connection_id=ref_connection.id
        )
        assert ref_run.status == "success" and ref_run.patients_fetched == PATIENTS
        connection = connection_of(session, org, fake)
        session.close()
        # when a worker syncs it from a Cliniko that answers slowly: the six pages of active
        # patients (one batch), then each answer just inside the worker's 2 s timeout, so
        # that the test sees that batch committed and kills the worker before the archived
        # and deleted patients' (0.3 s each throughout let a loaded machine store them all
        # before the test's next look)
        fake.slow_next(6, seconds=SLOW_SECONDS)
        fake.slow_next(10, seconds=1.8)
        worker = start_worker(name="killed")
        args = (str(org.id), str(connection.id))
        assert enqueue(queue_name, (args, pms_jobs.job_id(connection.id)))[0] is not None

        def mid_sync() -> bool:
            runs = runs_of(engine, connection.id)
            return bool(runs) and runs[0].patients_fetched >= 2 * PER_PAGE

        wait_for(mid_sync, what="the active patients' batch committed")
        # and is killed (SIGKILL: no clean-up of any kind) mid-sync
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
        killed = runs_of(engine, connection.id)
        assert [r.status for r in killed] == ["running"]
        # it died mid-way: before the last patient or the last appointment (PostgreSQL's
        # overlapped writer commits a batch's counts with the next batch's, so the test may
        # first see them once the patients are all in, and kill it among the appointments)
        assert (killed[0].patients_fetched, killed[0].appointments_fetched) < (
            PATIENTS,
            ref_run.appointments_fetched,
        )
        # then once its heartbeat is stale (a second here), the every-minute check sees the
        # dead job holding the connection's job id, clears it and queues the connection again
        monkeypatch.setenv("CRM_PMS_SYNC_HEARTBEAT_LIMIT_SECONDS", "1")
        get_settings.cache_clear()
        wait_for(
            lambda: check_due(engine, queue_name)["revived"] == 1,
            what="the stale run to be noticed",
            timeout=10,
        )
        # and a new worker's run resumes it
        second = start_worker(burst=True, name="resumed", heartbeat=1)
        assert second.wait(timeout=60) == 0
        runs = runs_of(engine, connection.id)
        assert [r.status for r in runs] == ["failed", "success"]
        assert runs[0].error.startswith("interrupted")
        # ending in the state of the uninterrupted sync: no gap, no duplicate
        assert snapshot(session, org.id) == snapshot(session, reference.id)
        created = sum(r.patients_created for r in runs)
        assert created == ref_run.patients_created
        assert sum(r.appointments_created for r in runs) == ref_run.appointments_created


class TestTwoWorkers:
    def test_two_workers_never_run_one_connection_at_once(
        self, engine, session, org, fake, queue_name, start_worker
    ):
        # given two worker processes taking one job at a time each
        practice(fake)
        connection = connection_of(session, org, fake)
        before = len(fake.requests)
        session.close()
        first, second = start_worker(name="w1", max_jobs=1), start_worker(name="w2", max_jobs=1)
        fake.slow_next(12, seconds=SLOW_SECONDS)
        args = (str(org.id), str(connection.id))
        # when the connection's job is queued twice at once with its id (two checks racing)
        # and once more under another id (triggerPmsSync's), while the first one runs
        queued = enqueue(
            queue_name,
            (args, pms_jobs.job_id(connection.id)),
            (args, pms_jobs.job_id(connection.id)),
        )
        assert sorted(job is None for job in queued) == [False, True]
        wait_for(lambda: runs_of(engine, connection.id), what="the first run to start")
        assert enqueue(queue_name, (args, f"pms.sync:{connection.id}:extra"))[0] is not None

        # then the other worker took the extra job and the database refused it a second run
        def ended() -> int:  # arq logs "← <job id>:pms.sync ● <result>" as a job ends
            return sum(w.log.read_text().count(":pms.sync ●") for w in (first, second))

        wait_for(lambda: ended() >= 2, what="both jobs to end", timeout=60)
        logs = {w: w.log.read_text() for w in (first, second)}
        extra = {w for w, text in logs.items() if ":extra:pms.sync(" in text}
        synced = {w for w, text in logs.items() if f"{connection.id}:pms.sync(" in text}
        assert len(extra) == 1 and len(synced) == 1 and extra != synced
        assert "SYNC_RUNNING" in logs[extra.pop()]
        runs = runs_of(engine, connection.id)
        assert [r.status for r in runs] == ["success"]
        # every page was read once: one run's requests, not two
        reads = [(r["path"], r["query"]) for r in fake.requests[before:]]
        assert reads and len(reads) == len(set(reads))
        with Session(engine) as check:
            count = check.execute(
                sa.select(sa.func.count())
                .select_from(Contact)
                .where(Contact.organization_id == org.id)
            ).scalar()
        assert count == runs[0].patients_created > 0
