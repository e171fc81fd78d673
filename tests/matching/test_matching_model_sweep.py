"""The sweep learns the organization's model and stores it; thresholds per organization from
the command line (issue 11 points 1 and 5)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from crm.matching import training
from crm.matching.scoring import Thresholds
from crm.matching.sweep import run_sweep
from crm.models import DedupRun, Organization

pytest.importorskip("crm.merging.service", reason="the sweep merges through crm.merging")

FIRST = ["Olivia", "Hamish", "Priya", "Liam", "Grace", "Noah", "Chloe", "Oscar", "Ruby", "Jack"]
LAST = ["Chen", "Fraser", "Sharma", "Nguyen", "Kelly", "Rossi", "Brown", "Singh", "Walsh", "Lee"]


def people(person, count: int) -> None:
    for i in range(count):
        person(
            first_name=FIRST[i % 10],
            last_name=LAST[(i // 10) % 10] + ("" if i < 100 else str(i)),
            date_of_birth=f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
            postal_code=f"2{i % 7}00",
        )


def last_run(session) -> DedupRun:
    session.expire_all()
    run = session.execute(select(DedupRun).order_by(DedupRun.started_at.desc())).scalars().first()
    session.commit()
    return run


class TestStoredModel:
    def test_the_sweep_stores_the_model_it_learned(self, engine, session, org, person, monkeypatch):
        # given: an organization over the (lowered) training size, with duplicates
        monkeypatch.setattr(training, "TRAIN_MIN_CONTACTS", 20)
        people(person, 40)
        person(
            first_name="Olivia", last_name="Chen", date_of_birth="1950-01-10", postal_code="2000"
        )

        # when
        summary = run_sweep(engine, organization_id=org.id)

        # then
        assert summary.model["trained"] is True
        run = last_run(session)
        assert run.model["trained"] is True
        assert run.model["pairs"] > 0
        fields = {f["field"]: f["levels"] for f in run.model["fields"]}
        assert set(fields) == set(training.FIELDS)
        exact = next(lv for lv in fields["date_of_birth"] if lv["level"] == "exact")
        assert 0 < exact["u"] < exact["m"] <= 1
        assert exact["weight"] > 0
        assert run.model["thresholds"] == {"auto_merge_at": 0.98, "review_at": 0.6}

    def test_a_small_organization_is_swept_with_the_defaults(self, engine, session, org, person):
        people(person, 5)

        run_sweep(engine, organization_id=org.id)

        run = last_run(session)
        assert run.model["trained"] is False
        assert "fewer than" in run.model["note"]


class TestThresholdsFromTheCommandLine:
    def test_the_thresholds_are_set_for_the_organization(self, engine, session, org, person):
        from crm.cli import app

        person(first_name="Ann", last_name="Lee")

        result = CliRunner().invoke(
            app,
            [
                "dedup",
                "--org",
                org.name,
                "--auto-merge-at",
                "0.995",
                "--review-at",
                "0.7",
                "--json",
            ],
        )

        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["contacts"] == 1
        session.expire_all()
        settings = session.get(Organization, org.id).settings
        session.commit()
        assert Thresholds.for_settings(settings) == Thresholds(auto_merge=0.995, review=0.7)
        assert last_run(session).model["thresholds"] == {"auto_merge_at": 0.995, "review_at": 0.7}

    def test_a_review_threshold_above_the_auto_merge_one_is_refused(self, engine, session, org):
        from crm.cli import app

        result = CliRunner().invoke(
            app, ["dedup", "--org", org.name, "--auto-merge-at", "0.9", "--review-at", "0.95"]
        )

        assert result.exit_code == 2
        assert "reviewAt" in result.output
        assert last_run(session) is None
