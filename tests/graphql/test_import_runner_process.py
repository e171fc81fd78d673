"""Without Redis, the app imports a large upload in a child process of its own: the API
process's interpreter stays free for requests, and stopping the app ends the import, which
importing the same file again resumes."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import structlog
from sqlalchemy import func, select
from sqlmodel import Session
from starlette.applications import Starlette
from structlog.testing import capture_logs

from crm.importing.jobs import reported_status
from crm.models import Contact, ImportJob
from crm.settings import Settings, get_settings
from graphql_schema.app import create_app

IMPORT = """
mutation($csv: String!) {
  importContacts(input: {csv: $csv}) { importJob { id status } errors { code message } }
}
"""
JOB = "query($id: ID!) { importJob(id: $id) { status rows created unchanged rejected } }"


def people(count: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Client ID", "First Name", "Surname", "Email"])
    for n in range(count):
        writer.writerow([f"P{n}", f"Given{n % 83}", f"Family{n}", f"p{n}@example.com"])
    return out.getvalue()


@pytest.fixture
def small_batches_short_heartbeat(monkeypatch) -> Iterator[None]:
    # the child process reads its settings from the environment it inherits
    monkeypatch.setenv("CRM_IMPORT_BATCH_SIZE", "100")
    monkeypatch.setenv("CRM_IMPORT_HEARTBEAT_LIMIT_SECONDS", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def logs() -> Iterator[list[dict]]:
    """The structured log events, captured; the logging as it was afterwards."""
    configured = structlog.is_configured()
    with capture_logs() as captured:
        yield captured
    if not configured:  # else the app's own configuration would never be applied again
        structlog.reset_defaults()


def background_app(engine) -> Starlette:
    """No Redis, and every upload counts as large: the app's own runner imports it."""
    return create_app(
        engine=engine, settings=Settings(env="development", import_background_bytes=0)
    )


def job_row(engine, job_id: str) -> ImportJob:
    with Session(engine, expire_on_commit=False) as s:
        job = s.get(ImportJob, uuid.UUID(job_id))
        assert job is not None
        return job


async def post(client: httpx.AsyncClient, key: str, query: str, variables: dict) -> dict:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
    )
    return response.json()["data"]


async def until_finished(client: httpx.AsyncClient, key: str, job_id: str) -> dict:
    job: dict = {}
    for _ in range(1200):
        job = (await post(client, key, JOB, {"id": job_id}))["importJob"]
        if job["status"] in ("SUCCEEDED", "FAILED"):
            break
        await asyncio.sleep(0.05)
    return job


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://crm")


class TestImportInAChildProcess:
    def test_the_app_imports_a_large_upload_in_another_process(self, engine, org, editor_key, logs):
        # given: an app without Redis
        app = background_app(engine)

        async def scenario() -> dict:
            async with app.router.lifespan_context(app), client_for(app) as client:
                # when: a large upload
                submitted = await post(client, editor_key, IMPORT, {"csv": people(40)})
                job_id = submitted["importContacts"]["importJob"]["id"]
                return await until_finished(client, editor_key, job_id)

        done = asyncio.run(scenario())
        # then: it was imported, by a process other than this one
        assert (done["status"], done["rows"], done["created"]) == ("SUCCEEDED", 40, 40)
        started = [e for e in logs if e["event"] == "crm.import.runner.started"]
        assert len(started) == 1
        pid = started[0]["pid"]
        assert pid != os.getpid()

    def test_stopping_the_app_mid_import_leaves_the_job_interrupted_and_the_same_file_resumes_it(
        self, engine, org, editor_key, small_batches_short_heartbeat
    ):
        # given: a large upload of 10,000 rows being imported in batches of 100
        text = people(10_000)
        app = background_app(engine)

        async def first_run() -> str:
            async with app.router.lifespan_context(app), client_for(app) as client:
                submitted = await post(client, editor_key, IMPORT, {"csv": text})
                job_id = submitted["importContacts"]["importJob"]["id"]
                for _ in range(2400):
                    job = await asyncio.to_thread(job_row, engine, job_id)
                    if job.rows > 0 or job.status not in ("pending", "running"):
                        break
                    await asyncio.sleep(0.05)
            # (leaving the block ends the app's lifespan: it stops)
            return job_id

        # when: the app stops once the first batches are stored
        job_id = asyncio.run(first_run())
        stopped = job_row(engine, job_id)
        # then: the import ended with the app, part way through
        time.sleep(1.5)  # longer than the heartbeat limit
        assert 0 < job_row(engine, job_id).rows == stopped.rows < 10_000
        assert reported_status(job_row(engine, job_id)) == "interrupted"

        # when: the same file is uploaded again to the app, started again
        restarted = background_app(engine)

        async def second_run() -> tuple[dict, dict]:
            async with (
                restarted.router.lifespan_context(restarted),
                client_for(restarted) as client,
            ):
                submitted = await post(client, editor_key, IMPORT, {"csv": text})
                again = submitted["importContacts"]["importJob"]
                return again, await until_finished(client, editor_key, again["id"])

        again, done = asyncio.run(second_run())
        # then: the interrupted job was resumed, to the end
        assert again["id"] == job_id
        assert (done["status"], done["rows"], done["rejected"]) == ("SUCCEEDED", 10_000, 0)
        with Session(engine) as s:
            contacts = s.exec(
                select(func.count()).select_from(Contact).where(Contact.organization_id == org.id)
            ).one()[0]
        assert contacts == 10_000
