"""``crm webhooks``: an endpoint made on the command line receives; failed ones replay."""

from __future__ import annotations

import json

from sqlmodel import Session, select
from typer.testing import CliRunner

from crm.cli import app
from crm.models import Order, WebhookDelivery
from crm.webhooks.signatures import sign


def crm(*args: str):
    return CliRunner().invoke(app, list(args))


BODY = json.dumps(
    {
        "event": "order.created",
        "id": "evt-cli",
        "data": {"_id": "ord-cli", "status": "pending", "customer.email": "c@example.com"},
    }
).encode()


class TestWebhooksCli:
    def test_create_an_endpoint_then_replay_failed(self, client, engine, org, monkeypatch):
        monkeypatch.delenv("CRM_REDIS_URL", raising=False)
        made = crm(
            "webhooks", "endpoint", "create", "--org", "Bondi Physio", "--provider",
            "careportals", "--json",
        )  # fmt: skip
        assert made.exit_code == 0, made.output
        endpoint = json.loads(made.stdout)
        answer = client.post(
            endpoint["url"],
            content=BODY,
            headers={"X-CarePortals-Signature": sign(endpoint["secret"], BODY)},
        )
        assert answer.status_code == 200
        # given the delivery failed
        with Session(engine) as session:
            row = session.exec(select(WebhookDelivery)).one()
            row.status = "failed"
            session.add(row)
            session.commit()
        # when
        replayed = crm("webhooks", "replay", "--failed", "--json")
        # then
        assert replayed.exit_code == 0, replayed.output
        assert json.loads(replayed.stdout) == {"processed": 1}
        with Session(engine) as session:
            assert session.exec(select(WebhookDelivery.status)).one() == "processed"
            assert len(session.exec(select(Order)).all()) == 1

    def test_an_unknown_provider_is_bad_usage(self, engine, org):
        result = crm("webhooks", "endpoint", "create", "--org", str(org.id), "--provider", "x")
        assert result.exit_code == 2
        assert "provider" in result.stderr
