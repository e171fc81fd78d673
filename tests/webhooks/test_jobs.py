"""webhooks.process and webhooks.retry on a real arq worker (burst) and inline."""

from __future__ import annotations

import asyncio
import json

import pytest
from arq.jobs import Job
from sqlmodel import Session, select

from crm.models import Order, WebhookDelivery
from crm.settings import get_settings
from crm.webhooks.inbox import receive
from crm.webhooks.signatures import sign
from jobs.queue import enqueue
from jobs.worker import CRON_JOBS
from tests.jobs.conftest import REDIS_SKIP, REDIS_URL
from tests.workers import burst_worker, drain

BODY = json.dumps(
    {
        "event": "order.created",
        "id": "evt-job",
        "data": {"_id": "ord-job", "status": "pending", "customer.email": "j@example.com"},
    }
).encode()


@pytest.fixture
def stored(engine, make_hook) -> str:
    hook = make_hook("careportals")
    receipt = receive(
        engine,
        provider="careportals",
        endpoint_id=str(hook.endpoint.id),
        body=BODY,
        headers={"x-careportals-signature": sign(hook.secret, BODY)},
        query={},
    )
    assert receipt.status_code == 200 and receipt.to_process
    return str(receipt.delivery_id)


def status_of(engine) -> str:
    with Session(engine) as session:
        return session.exec(select(WebhookDelivery.status)).one()


def test_the_retry_cron_is_scheduled():
    assert "webhooks.retry" in {job.name for job in CRON_JOBS}


def test_process_runs_inline_without_redis(engine, stored, monkeypatch):
    monkeypatch.delenv("CRM_REDIS_URL", raising=False)
    get_settings.cache_clear()
    assert asyncio.run(enqueue("webhooks.process", stored)) == "processed"
    # running it again (jobs may run twice) has no second effect
    assert asyncio.run(enqueue("webhooks.process", stored)) == "processed"
    with Session(engine) as session:
        assert len(session.exec(select(Order)).all()) == 1
    get_settings.cache_clear()


@pytest.mark.redis
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
def test_process_runs_on_a_worker(engine, stored, monkeypatch, queue_name):
    if not REDIS_URL:
        pytest.skip(REDIS_SKIP)
    monkeypatch.setenv("CRM_REDIS_URL", REDIS_URL)
    get_settings.cache_clear()

    async def scenario() -> str:
        job_id = await enqueue(
            "webhooks.process", stored, _job_id=f"t:{stored}", _queue_name=queue_name
        )
        worker = burst_worker(REDIS_URL, queue_name, keep_result=60)
        try:
            await worker.main()
            return await Job(job_id, worker.pool, _queue_name=queue_name).result(timeout=10)
        finally:
            await worker.close()

    try:
        assert asyncio.run(scenario()) == "processed"
    finally:
        get_settings.cache_clear()
    assert status_of(engine) == "processed"


@pytest.fixture
def queue_name() -> str:
    import uuid

    return f"crm:test:{uuid.uuid4().hex}"


@pytest.mark.redis
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
def test_with_redis_a_delivery_is_queued_for_the_worker(engine, make_hook, monkeypatch, queue_name):
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from crm.settings import Settings
    from graphql_schema import webhooks_http

    if not REDIS_URL:
        pytest.skip(REDIS_SKIP)
    monkeypatch.setenv("CRM_REDIS_URL", REDIS_URL)
    get_settings.cache_clear()
    hook = make_hook("careportals")
    app = Starlette(
        routes=webhooks_http.routes(
            engine, Settings(env="development", redis_url=REDIS_URL), queue_name=queue_name
        )
    )
    try:
        with TestClient(app) as client:
            answer = client.post(
                hook.path,
                content=BODY,
                headers={"X-CarePortals-Signature": sign(hook.secret, BODY)},
            )
        # given it is stored and acknowledged, not processed by the API process
        assert answer.status_code == 200
        assert status_of(engine) == "received"

        async def work() -> int:
            return await drain(REDIS_URL, queue_name)

        # when the worker runs, then it processes it
        assert asyncio.run(work()) == 1
    finally:
        get_settings.cache_clear()
    assert status_of(engine) == "processed"
