"""A real arq worker, in burst mode, against the test Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from arq.jobs import Job
from arq.worker import Worker

from jobs.queue import enqueue
from jobs.worker import JOBS, WorkerSettings
from tests.workers import burst_worker


def _burst_worker(redis_url: str, queue_name: str) -> Worker:
    return burst_worker(redis_url, queue_name, keep_result=60)


class TestWorkerSettings:
    def test_register_every_job_under_its_dotted_name(self):
        names = {function.name for function in WorkerSettings.functions}
        assert names == set(JOBS)
        assert "system.health" in names
        assert all("." in name for name in names)


@pytest.mark.redis
# arq 0.28 closes its pool with redis-py's deprecated close()
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
class TestWorker:
    def test_runs_system_health_from_the_queue(self, engine, redis_url, queue_name):
        # given
        async def scenario() -> dict:
            job_id = await enqueue("system.health", _queue_name=queue_name)
            worker = _burst_worker(redis_url, queue_name)
            try:
                # when
                await worker.main()
                return await Job(job_id, worker.pool, _queue_name=queue_name).result(timeout=10)
            finally:
                await worker.close()

        result = asyncio.run(scenario())

        # then
        assert result["ok"] is True
        assert result["database"] == engine.dialect.name
        assert result["redis"] == "ok"

    def test_a_job_id_already_queued_runs_once(self, engine, redis_url, queue_name):
        # given
        job_id = f"health-{uuid.uuid4().hex}"

        async def scenario() -> tuple[list[str], int]:
            ids = [
                await enqueue("system.health", _job_id=job_id, _queue_name=queue_name),
                await enqueue("system.health", _job_id=job_id, _queue_name=queue_name),
            ]
            worker = _burst_worker(redis_url, queue_name)
            try:
                # when
                await worker.main()
                return ids, worker.jobs_complete
            finally:
                await worker.close()

        ids, completed = asyncio.run(scenario())

        # then
        assert ids == [job_id, job_id]
        assert completed == 1
