"""A worker killed with SIGKILL mid-drain, then another started: every delivery is processed,
exactly once in effect (a real arq worker process on PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from arq.connections import create_pool
from sqlalchemy import func
from sqlmodel import Session, select

from crm.models import Contact, Order, WebhookDelivery
from crm.webhooks.inbox import receive
from crm.webhooks.signatures import sign
from jobs.worker import redis_settings_for
from tests.jobs.conftest import REDIS_SKIP, REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 60
CUSTOMERS = 20
WORKER = """
import sys
from arq.worker import run_worker
from jobs.worker import WorkerSettings, redis_settings_for
run_worker(
    WorkerSettings,
    redis_settings=redis_settings_for(sys.argv[1]),
    queue_name=sys.argv[2],
    cron_jobs=[],
    poll_delay=0.05,
)
"""


@pytest.fixture
def queue_name() -> str:
    import uuid

    return f"crm:test:{uuid.uuid4().hex}"


def events() -> list[dict]:
    """Each order created, then shipped; the customers order several times."""
    out = []
    for n in range(ORDERS):
        customer = {
            "customer._id": f"cus-{n % CUSTOMERS}",
            "customer.email": f"kill{n % CUSTOMERS}@example.com",
        }
        order = {"_id": f"ord-{n}", **customer}
        out.append(
            {
                "event": "order.created",
                "id": f"evt-{n}-a",
                "data": {**order, "status": "pending", "createdAt": "2026-12-01T10:00:00Z"},
            }
        )
        out.append(
            {
                "event": "order.status_updated",
                "id": f"evt-{n}-b",
                "data": {**order, "status": "shipped", "updatedAt": "2026-12-02T10:00:00Z"},
            }
        )
    return out


def start_worker(url: str, queue_name: str) -> subprocess.Popen:
    env = {**os.environ, "CRM_DATABASE_URL": url, "CRM_REDIS_URL": REDIS_URL or ""}
    env["CRM_LOG_LEVEL"] = "WARNING"
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, REDIS_URL or "", queue_name],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def count(engine, status: str) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == status)
        ).one()


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.redis
def test_a_worker_killed_mid_drain_leaves_nothing_stuck_and_nothing_twice(
    engine, make_hook, queue_name
):
    if engine.dialect.name != "postgresql":
        pytest.skip("a worker process needs a database server (PostgreSQL) to share")
    if not REDIS_URL:
        pytest.skip(REDIS_SKIP)
    hook = make_hook("careportals")
    ids = []
    for event in events():
        body = json.dumps(event).encode()
        receipt = receive(
            engine,
            provider="careportals",
            endpoint_id=str(hook.endpoint.id),
            body=body,
            headers={"x-careportals-signature": sign(hook.secret, body)},
            query={},
        )
        ids.append(str(receipt.delivery_id))

    async def enqueue_all() -> None:
        pool = await create_pool(redis_settings_for(REDIS_URL))
        try:
            for ident in ids:
                await pool.enqueue_job(
                    "webhooks.process",
                    ident,
                    _job_id=f"webhooks.process:{ident}",
                    _queue_name=queue_name,
                )
        finally:
            await pool.aclose()

    async def forget_queue() -> None:
        pool = await create_pool(redis_settings_for(REDIS_URL))
        try:
            await pool.delete(queue_name)
        finally:
            await pool.aclose()

    asyncio.run(enqueue_all())
    url = engine.url.render_as_string(hide_password=False)
    first = start_worker(url, queue_name)
    second = None
    try:
        # given a worker that has started on the backlog
        assert wait_for(lambda: count(engine, "received") < len(ids), 20)
        # when it is killed (no shutdown of any kind), and another one starts
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = start_worker(url, queue_name)
        # then every delivery is processed, none left claimed by the dead one
        assert wait_for(lambda: count(engine, "received") == 0, 25)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
        asyncio.run(forget_queue())
    assert count(engine, "processed") == len(ids)
    # and the effects are those of each event once
    with Session(engine) as session:
        orders = session.exec(select(Order)).all()
        contacts = session.exec(select(Contact).where(Contact.status == "active")).all()
    assert len(orders) == ORDERS
    assert {o.status for o in orders} == {"shipped"}
    assert all([h["status"] for h in o.status_history] == ["pending", "shipped"] for o in orders)
    assert len(contacts) == CUSTOMERS
