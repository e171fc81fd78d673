"""The sync schedule: the every-minute check, per-connection job ids, backoff, staleness."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from arq.connections import create_pool
from arq.constants import in_progress_key_prefix
from sqlmodel import select

from crm.models import PmsConnection, PmsSyncRun, utcnow
from crm.pms.schedule import due_connections
from crm.pms.sync import backoff_minutes, start_run
from crm.settings import get_settings
from jobs import pms as pms_jobs
from jobs.worker import redis_settings_for
from tests.pms.conftest import REDIS_SKIP, REDIS_URL
from tests.workers import drain


def runs_of(session, connection) -> list[PmsSyncRun]:
    session.expire_all()
    return list(
        session.exec(select(PmsSyncRun).where(PmsSyncRun.connection_id == connection.id)).all()
    )


def test_backoff_doubles_up_to_an_hour():
    assert [backoff_minutes(n) for n in (1, 2, 3, 4, 7, 8, 20)] == [1, 2, 4, 8, 60, 60, 60]


class TestInline:
    def test_a_due_connection_syncs_once_per_its_frequency(self, engine, session, fake, connect):
        fake.add_patient(first_name="Due", last_name="Now")
        connection = connect()
        session.close()
        # when the check runs twice in a row
        first = asyncio.run(pms_jobs.sync_due({"engine": engine}))
        second = asyncio.run(pms_jobs.sync_due({"engine": engine}))
        # then only the first synced
        assert (first["queued"], second["queued"]) == (1, 0)
        assert [r.status for r in runs_of(session, connection)] == ["success"]

    def test_a_failing_connection_waits_before_it_is_tried_again(
        self, engine, session, fake, connect
    ):
        connection = connect()
        fake.api_key = "revoked-au2"
        session.close()
        asyncio.run(pms_jobs.sync_due({"engine": engine}))
        stored = session.get(PmsConnection, connection.id)
        assert stored.failure_count == 1
        # not due during its backoff, even once its frequency has passed
        later = utcnow() + timedelta(seconds=30)
        stored.last_sync_at = utcnow() - timedelta(hours=1)
        session.add(stored)
        session.commit()
        assert due_connections(session, now=later) == []
        assert [c.id for c in due_connections(session, now=utcnow() + timedelta(minutes=2))] == [
            connection.id
        ]

    def test_a_connection_whose_run_went_stale_is_due_and_resumed(self, engine, session, connect):
        connection = connect()
        run = start_run(
            session, organization_id=connection.organization_id, connection_id=connection.id
        )
        session.commit()
        assert due_connections(session) == []  # a live run holds it
        run.heartbeat_at = utcnow() - timedelta(hours=1)
        session.add(run)
        session.commit()
        assert [c.id for c in due_connections(session)] == [connection.id]
        session.close()
        asyncio.run(pms_jobs.sync_due({"engine": engine}))
        assert sorted(r.status for r in runs_of(session, connection)) == ["failed", "success"]


@pytest.mark.redis
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
class TestWorker:
    def test_each_due_connection_is_queued_once_and_synced_by_the_worker(
        self, engine, session, fake, connect, queue_name
    ):
        if not REDIS_URL:
            pytest.skip(REDIS_SKIP)
        fake.add_patient(first_name="Queued", last_name="Patient")
        connection = connect()
        session.close()

        async def scenario() -> tuple[dict, dict, int]:
            pool = await create_pool(redis_settings_for(REDIS_URL))
            ctx = {"engine": engine, "redis": pool, "queue_name": queue_name}
            try:
                # the check runs twice before a worker takes the job: one job per connection
                first = await pms_jobs.sync_due(ctx)
                second = await pms_jobs.sync_due(ctx)
                done = await drain(REDIS_URL, queue_name)
                return first, second, done
            finally:
                await pool.aclose()

        first, second, done = asyncio.run(scenario())
        assert (first["queued"], second["queued"], second["already_queued"]) == (1, 0, 1)
        assert done == 1
        assert [r.status for r in runs_of(session, connection)] == ["success"]

    def test_a_job_whose_worker_died_before_its_run_began_is_queued_again(
        self, engine, session, fake, connect, queue_name, monkeypatch
    ):
        """A worker killed between taking the job and committing the run leaves no heartbeat
        to go stale; the job id stays marked in progress. Past the heartbeat limit the check
        frees it, and a live worker syncs the connection."""
        if not REDIS_URL:
            pytest.skip(REDIS_SKIP)
        fake.add_patient(first_name="Orphan", last_name="Patient")
        connection = connect()
        session.close()
        job = pms_jobs.job_id(connection.id)

        async def scenario() -> tuple[dict, dict, int]:
            pool = await create_pool(redis_settings_for(REDIS_URL))
            ctx = {"engine": engine, "redis": pool, "queue_name": queue_name}
            try:
                assert (await pms_jobs.sync_due(ctx))["queued"] == 1
                # a worker takes it (arq marks it in progress) and is killed at once
                await pool.set(in_progress_key_prefix + job, b"1", px=3_600_000)
                within = await pms_jobs.sync_due(ctx)  # the default limit: 15 minutes
                monkeypatch.setenv("CRM_PMS_SYNC_HEARTBEAT_LIMIT_SECONDS", "0.2")
                get_settings.cache_clear()
                await asyncio.sleep(0.3)
                past = await pms_jobs.sync_due(ctx)
                if not past["revived"]:
                    return within, past, 0  # a burst worker would wait on the taken job
                done = await drain(REDIS_URL, queue_name)
                return within, past, done
            finally:
                await pool.delete(in_progress_key_prefix + job)
                await pool.aclose()

        within, past, done = asyncio.run(scenario())
        assert (within["already_queued"], within["revived"]) == (1, 0)
        assert (past["revived"], past["queued"]) == (1, 1)
        assert done == 1
        assert [r.status for r in runs_of(session, connection)] == ["success"]

    def test_a_job_waiting_in_the_queue_is_left_alone(
        self, engine, session, connect, queue_name, monkeypatch
    ):
        """Busy workers: a job not yet taken is not dead, however long it waits."""
        if not REDIS_URL:
            pytest.skip(REDIS_SKIP)
        connect()
        session.close()
        monkeypatch.setenv("CRM_PMS_SYNC_HEARTBEAT_LIMIT_SECONDS", "0.1")
        get_settings.cache_clear()

        async def scenario() -> dict:
            pool = await create_pool(redis_settings_for(REDIS_URL))
            ctx = {"engine": engine, "redis": pool, "queue_name": queue_name}
            try:
                await pms_jobs.sync_due(ctx)
                await asyncio.sleep(0.2)
                return await pms_jobs.sync_due(ctx)
            finally:
                await pool.aclose()

        again = asyncio.run(scenario())
        assert (again["already_queued"], again["revived"]) == (1, 0)
