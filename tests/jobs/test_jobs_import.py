"""importContacts in the background: a large upload is stored and a real worker imports it."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from crm.models import ImportFile
from crm.settings import Settings
from graphql_schema.app import create_app
from jobs.worker import QUEUE_NAME
from tests.conftest import make_key
from tests.workers import drain

IMPORT = """
mutation($csv: String!) {
  importContacts(input: {csv: $csv}) {
    importJob { id status rows created }
    errors { code message }
  }
}
"""
JOB = "query($id: ID!) { importJob(id: $id) { status rows created rejected progress } }"
CSV = "First Name,Surname,Mobile\nAnn,Lee,0412 000 111\nBob,Lee,0412 000 222\n,,\n"


@pytest.mark.redis
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
class TestBackgroundImport:
    def test_large_upload_returns_pending_and_the_worker_imports_it(
        self, engine, session, org, redis_url
    ):
        # given: every upload counts as large
        settings = Settings(redis_url=redis_url, import_background_bytes=0)
        client = TestClient(create_app(engine=engine, settings=settings))
        headers = {"Authorization": f"Bearer {make_key(session, org, 'editor')}"}
        # when
        body = client.post(
            "/graphql", json={"query": IMPORT, "variables": {"csv": CSV}}, headers=headers
        ).json()
        job = body["data"]["importContacts"]["importJob"]
        # then: the mutation answers at once
        assert job["status"] == "PENDING"
        assert job["rows"] == 0

        async def work() -> int:
            return await drain(redis_url, QUEUE_NAME)

        assert asyncio.run(work()) >= 1
        done = client.post(
            "/graphql", json={"query": JOB, "variables": {"id": job["id"]}}, headers=headers
        ).json()["data"]["importJob"]
        assert done == {
            "status": "SUCCEEDED",
            "rows": 2,
            "created": 2,
            "rejected": 0,
            "progress": 1.0,
        }
        with Session(engine) as s:
            assert s.get(ImportFile, uuid.UUID(job["id"])) is None
