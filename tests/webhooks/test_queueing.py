"""With Redis, the API queues one ``webhooks.process`` job for the deliveries of a moment
(not one each), and that job, on a real arq worker, processes every one of them."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from arq.connections import create_pool
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from crm.models import Order, WebhookDelivery
from crm.settings import Settings
from crm.webhooks.signatures import sign
from graphql_schema import webhooks_http
from jobs.worker import redis_settings_for
from tests.jobs.conftest import REDIS_SKIP, REDIS_URL
from tests.workers import drain


@pytest.fixture
def queue_name() -> str:
    import uuid

    return f"crm:test:{uuid.uuid4().hex}"


def body(n: int) -> bytes:
    return json.dumps(
        {
            "event": "order.created",
            "id": f"evt-{n}",
            "data": {"_id": f"ord-{n}", "status": "pending", "customer.email": f"q{n}@example.com"},
        }
    ).encode()


@pytest.mark.redis
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
def test_the_deliveries_of_a_moment_share_one_job_that_processes_them_all(
    engine, make_hook, queue_name, monkeypatch
):
    if not REDIS_URL:
        pytest.skip(REDIS_SKIP)
    # every delivery comes within the same moment (the clock the API reads stands still)
    now = time.time()
    monkeypatch.setattr(webhooks_http.Queue, "clock", staticmethod(lambda: now))
    hook = make_hook("careportals")
    settings = Settings(env="development", redis_url=REDIS_URL)
    app = Starlette(routes=webhooks_http.routes(engine, settings, queue_name=queue_name))
    with TestClient(app) as client:
        for n in range(8):
            answer = client.post(
                hook.path,
                content=body(n),
                headers={"X-CarePortals-Signature": sign(hook.secret, body(n))},
            )
            assert answer.status_code == 200

    async def queued() -> list[str]:
        pool = await create_pool(redis_settings_for(REDIS_URL))
        try:
            return [j.decode() for j in await pool.zrange(queue_name, 0, -1)]
        finally:
            await pool.aclose()

    jobs = asyncio.run(queued())
    # given one job for them all
    assert len(jobs) == 1 and jobs[0].startswith("webhooks.process:slot:")

    async def work() -> None:
        await drain(REDIS_URL, queue_name, poll_delay=0.05)

    # when the worker runs them, then every delivery is processed
    asyncio.run(work())
    with Session(engine) as session:
        assert {d.status for d in session.exec(select(WebhookDelivery))} == {"processed"}
        assert len(session.exec(select(Order)).all()) == 8
