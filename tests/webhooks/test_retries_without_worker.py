"""Without Redis (no arq worker) a failed inbound delivery is still retried: by the API
process's background task once its backoff has passed, or by ``crm webhooks replay --due``
run from cron."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from sqlmodel import Session, select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from crm.cli import app as cli
from crm.models import Order, WebhookDelivery, utcnow
from crm.settings import Settings
from graphql_schema import app as app_module
from graphql_schema.app import create_app
from tests.webhooks.conftest import post_signed
from tests.webhooks.test_careportals import FULL_ORDER


def _fail(engine, *, due_in: timedelta) -> None:
    """The stored delivery failed (its processing crashed) and waits ``due_in`` for a retry."""
    with Session(engine) as session:
        row = session.exec(select(WebhookDelivery)).one()
        row.status, row.attempts = "failed", 1
        row.next_attempt_at = utcnow() + due_in
        session.add(row)
        session.commit()


def _status(engine) -> str:
    with Session(engine) as session:
        return session.exec(select(WebhookDelivery.status)).one()


class TestRetriesWithoutRedis:
    def test_the_api_retries_a_failed_delivery_once_due(self, engine, make_hook, monkeypatch):
        # given an API process with no Redis, checking for due deliveries on every tick
        monkeypatch.setattr(app_module, "RETRY_INBOUND_EVERY", 1)
        fast = Settings(env="development", redis_url=None, webhook_send_interval_seconds=0.05)
        hook = make_hook("careportals")
        with TestClient(create_app(engine=engine, settings=fast)) as client:
            assert post_signed(client, hook, FULL_ORDER).status_code == 200
            # when its processing failed and the backoff has passed
            _fail(engine, due_in=timedelta(seconds=-1))
            # then the API's own background task processes it again
            for _ in range(100):
                if _status(engine) == "processed":
                    break
                time.sleep(0.05)
        assert _status(engine) == "processed"
        with Session(engine) as session:
            assert len(session.exec(select(Order)).all()) == 1

    def test_crm_webhooks_replay_due_processes_only_what_is_due(
        self, client, engine, make_hook, monkeypatch
    ):
        monkeypatch.delenv("CRM_REDIS_URL", raising=False)
        hook = make_hook("careportals")
        post_signed(client, hook, FULL_ORDER)
        # given a failed delivery whose backoff has not passed
        _fail(engine, due_in=timedelta(minutes=5))
        early = CliRunner().invoke(cli, ["webhooks", "replay", "--due", "--json"])
        assert early.exit_code == 0, early.output
        assert json.loads(early.stdout) == {}
        assert _status(engine) == "failed"
        # when it is due
        _fail(engine, due_in=timedelta(seconds=-1))
        due = CliRunner().invoke(cli, ["webhooks", "replay", "--due", "--json"])
        # then it is processed, once in effect
        assert json.loads(due.stdout) == {"processed": 1}
        assert _status(engine) == "processed"
        with Session(engine) as session:
            assert len(session.exec(select(Order)).all()) == 1
