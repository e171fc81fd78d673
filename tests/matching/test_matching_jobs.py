"""The sweep as jobs: ``dedup.sweep`` per organization and the weekly cron, with a real worker."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import Iterator

import pytest
from arq.jobs import Job
from arq.worker import Worker
from sqlalchemy import select

from crm.models import DedupRun
from crm.settings import Settings, get_settings
from jobs import dedup
from jobs.queue import enqueue
from jobs.worker import CRON_JOBS, JOBS, WorkerSettings
from tests import workers

REDIS_URL = os.environ.get("CRM_TEST_REDIS_URL")
PERSON = {"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1990-12-10"}


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch) -> Iterator[None]:
    monkeypatch.delenv("CRM_REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def redis_url(monkeypatch) -> str:
    if not REDIS_URL:
        pytest.skip("Redis tests skipped: set CRM_TEST_REDIS_URL to run them")
    monkeypatch.setenv("CRM_REDIS_URL", REDIS_URL)
    get_settings.cache_clear()
    return REDIS_URL


def burst_worker(redis_url: str, queue_name: str, **options) -> Worker:
    return workers.burst_worker(redis_url, queue_name, keep_result=60, **options)


def runs_of(session, org) -> list[DedupRun]:
    rows = list(
        session.execute(select(DedupRun).where(DedupRun.organization_id == org.id)).scalars()
    )
    session.commit()
    return rows


class TestRegistration:
    def test_the_sweep_job_and_the_weekly_cron_are_registered(self):
        assert JOBS["dedup.sweep"] is dedup.sweep
        [cron] = [c for c in CRON_JOBS if c.name == dedup.CRON_NAME]
        assert (cron.weekday, cron.hour, cron.minute) == (6, 3, 0)  # Sunday 03:00
        assert cron.unique
        assert dedup.CRON_NAME not in JOBS  # a cron name must not shadow a job

    def test_the_sweep_job_outlasts_the_workers_default_timeout(self):
        # a first sweep of a large organization runs longer than arq's 300 s default
        [job] = [f for f in WorkerSettings.functions if f.name == "dedup.sweep"]
        [cron] = [c for c in CRON_JOBS if c.name == dedup.CRON_NAME]

        assert job.timeout_s == cron.timeout_s == dedup.TIMEOUT_SECONDS
        assert job.timeout_s > WorkerSettings.job_timeout

    def test_the_schedule_comes_from_the_settings(self):
        settings = Settings(dedup_cron_weekday="wed", dedup_cron_hour=22, dedup_cron_minute=30)

        [cron] = dedup.cron_jobs(settings)

        assert (cron.weekday, cron.hour, cron.minute) == (2, 22, 30)

    def test_the_cron_can_be_turned_off(self):
        assert dedup.cron_jobs(Settings(dedup_cron_enabled=False)) == []

    def test_one_job_id_per_organization(self):
        org_id = uuid.uuid4()

        assert dedup.job_id(org_id) == dedup.job_id(str(org_id)) == f"dedup.sweep:{org_id}"


class TestInline:
    def test_without_redis_the_job_runs_in_process(self, engine, session, org, person):
        person(**PERSON)

        summary = asyncio.run(enqueue("dedup.sweep", str(org.id)))

        assert summary["contacts"] == 1
        assert summary["skipped"] is False
        assert [r.status for r in runs_of(session, org)] == ["succeeded"]


@pytest.mark.redis
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
class TestWorker:
    def test_the_worker_runs_an_organization_sweep_once_per_job_id(
        self, engine, session, org, person, redis_url
    ):
        # given
        person(**PERSON)
        queue_name = f"crm:test:{uuid.uuid4().hex}"
        job_id = f"{dedup.job_id(org.id)}:{uuid.uuid4().hex}"

        async def scenario() -> tuple[dict, int]:
            for _ in range(2):
                await enqueue("dedup.sweep", str(org.id), _job_id=job_id, _queue_name=queue_name)
            worker = burst_worker(redis_url, queue_name)
            try:
                await worker.main()
                result = await Job(job_id, worker.pool, _queue_name=queue_name).result(timeout=10)
                return result, worker.jobs_complete
            finally:
                await worker.close()

        # when
        result, completed = asyncio.run(scenario())

        # then
        assert completed == 1
        assert result["contacts"] == 1
        assert {"contacts", "pairs_scored", "auto_merged", "candidates", "seconds"} <= set(result)

    def test_the_weekly_cron_sweeps_every_organization(
        self, engine, session, org, other_org, person, redis_url
    ):
        # given: the registered cron, due now
        person(**PERSON)
        [cron] = [c for c in CRON_JOBS if c.name == dedup.CRON_NAME]
        due_now = dataclasses.replace(cron, run_at_startup=True, next_run=None)
        queue_name = f"crm:test:{uuid.uuid4().hex}"

        async def scenario() -> int:
            worker = burst_worker(redis_url, queue_name, cron_jobs=[due_now])
            try:
                await worker.main()
                return worker.jobs_complete
            finally:
                await worker.close()

        # when
        completed = asyncio.run(scenario())

        # then
        assert completed == 1
        assert [r.status for r in runs_of(session, org)] == ["succeeded"]
        assert [r.status for r in runs_of(session, other_org)] == ["succeeded"]
