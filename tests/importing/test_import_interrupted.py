"""A killed import shows as interrupted, and importing the same file again resumes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session
from starlette.testclient import TestClient

from crm.importing.jobs import ImportOptions, reported_status
from crm.importing.submit import submit_import
from crm.models import Contact, ImportJob, utcnow
from crm.settings import Settings, get_settings
from crm.tenancy.service import create_organization
from graphql_schema.app import create_app
from tests.conftest import make_key
from tests.importing.conftest import csv_text, write

CRM = str(Path(sys.executable).with_name("crm"))
HEADER = ["Client ID", "First Name", "Surname", "Email"]
JOB = "query($id: ID!) { importJob(id: $id) { status rows } }"


def people(count: int) -> list[list[str]]:
    return [[f"K{n}", f"Given{n % 71}", f"Family{n}", f"k{n}@example.com"] for n in range(count)]


@pytest.fixture
def heartbeat_limit_one_second(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("CRM_IMPORT_HEARTBEAT_LIMIT_SECONDS", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def jobs_of(engine, org) -> list[ImportJob]:
    with Session(engine, expire_on_commit=False) as s:
        return list(s.exec(select(ImportJob).where(ImportJob.organization_id == org.id)).scalars())


def graphql_status(engine, org, job: ImportJob) -> str:
    with Session(engine, expire_on_commit=False) as s:
        key = make_key(s, org, "reader")
    client = TestClient(create_app(engine=engine, settings=Settings(env="development")))
    body = client.post(
        "/graphql",
        json={"query": JOB, "variables": {"id": str(job.id)}},
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    return body["data"]["importJob"]["status"]


class TestExpiredHeartbeat:
    def test_a_running_job_without_a_heartbeat_is_interrupted_and_the_same_file_resumes_it(
        self, engine, org, heartbeat_limit_one_second
    ):
        # given: an import of a file whose process died mid-way (stored as running, its last
        # heartbeat a minute ago)
        data = csv_text(HEADER, people(30)).encode()
        first = submit_import(
            engine, organization=org, options=ImportOptions(), actor="test", content=data
        )
        with Session(engine) as s:
            s.execute(
                update(ImportJob)
                .where(ImportJob.id == first.job.id)
                .values(status="running", heartbeat_at=utcnow() - timedelta(minutes=1))
            )
            s.commit()
        # then: it is reported interrupted
        (job,) = jobs_of(engine, org)
        assert reported_status(job) == "interrupted"
        assert graphql_status(engine, org, job) == "INTERRUPTED"
        # when: the same file is imported again
        again = submit_import(
            engine, organization=org, options=ImportOptions(), actor="test", content=data
        )
        # then: that job is resumed and finishes
        assert again.resumed is True
        assert again.job.id == first.job.id
        (job,) = jobs_of(engine, org)
        assert (reported_status(job), job.rows, job.unchanged) == ("succeeded", 30, 30)

    def test_a_job_with_a_recent_heartbeat_is_running_and_not_taken_over(self, engine, org):
        # given: an import running elsewhere, its heartbeat just written
        data = csv_text(HEADER, people(5)).encode()
        first = submit_import(
            engine, organization=org, options=ImportOptions(), actor="test", content=data
        )
        with Session(engine) as s:
            s.execute(
                update(ImportJob)
                .where(ImportJob.id == first.job.id)
                .values(status="running", heartbeat_at=utcnow())
            )
            s.commit()
        # when: the same file is imported again
        again = submit_import(
            engine, organization=org, options=ImportOptions(), actor="test", content=data
        )
        # then: a job of its own; the other is still running
        assert again.resumed is False
        assert again.job.id != first.job.id
        running = next(j for j in jobs_of(engine, org) if j.id == first.job.id)
        assert reported_status(running) == "running"


@pytest.mark.slow
class TestKilledProcess:
    def test_a_killed_crm_import_is_interrupted_then_resumed_by_running_it_again(
        self, engine, tmp_path, heartbeat_limit_one_second
    ):
        # given: a file of 6,000 rows imported by `crm import` in batches of 100
        with Session(engine, expire_on_commit=False) as s:
            org = create_organization(s, name="Killed", region="AU")
            s.commit()
        path = write(tmp_path, "people.csv", csv_text(HEADER, people(6000)))
        env = {
            **os.environ,
            "CRM_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "CRM_IMPORT_BATCH_SIZE": "100",
            "CRM_IMPORT_HEARTBEAT_LIMIT_SECONDS": "1",
        }
        command = [CRM, "import", str(path), "--org", "Killed", "--json"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # when: killed once some batches are committed
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                jobs = jobs_of(engine, org)
                if jobs and jobs[0].rows >= 300:
                    break
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        (killed,) = jobs_of(engine, org)
        assert killed.status == "running" and 0 < killed.rows < 6000
        # then: once its heartbeat is older than the limit, it is reported interrupted
        time.sleep(1.5)
        assert reported_status(jobs_of(engine, org)[0]) == "interrupted"
        assert graphql_status(engine, org, killed) == "INTERRUPTED"
        # when: the same import is run again
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        # then: it resumed that job, to the end
        assert rerun.returncode == 0, rerun.stderr
        summary = json.loads(rerun.stdout)
        assert (summary["job_id"], summary["resumed"]) == (str(killed.id), True)
        assert (summary["status"], summary["rows"], summary["rejected"]) == ("succeeded", 6000, 0)
        assert summary["created"] + summary["unchanged"] == 6000
        (job,) = jobs_of(engine, org)
        assert job.status == "succeeded"
        with Session(engine) as s:
            contacts = s.exec(
                select(func.count()).select_from(Contact).where(Contact.organization_id == org.id)
            ).one()[0]
        assert contacts == 6000
