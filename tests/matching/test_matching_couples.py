"""The sweep and couples: near first names of the two sexes are never merged on their own."""

from __future__ import annotations

import pytest

from crm.matching.sweep import run_sweep

pytest.importorskip("crm.merging.service", reason="the sweep merges through crm.merging")

HOME = {
    "last_name": "Nguyen",
    "date_of_birth": "1990-04-12",
    "address_line1": "12 Wattle Street",
    "city": "Bondi",
    "postal_code": "2026",
}


class TestTwins:
    @pytest.mark.parametrize(
        ("first", "second"), [("Paul", "Paula"), ("Louis", "Louise"), ("Eric", "Erica")]
    )
    def test_twins_of_one_birthday_are_queued_not_merged(
        self, engine, session, org, person, candidates, first, second
    ):
        # given: one surname, home and birthday; a feminine form of the name
        person(**HOME, first_name=first)
        person(**HOME, first_name=second)

        # when
        summary = run_sweep(engine, organization_id=org.id)

        # then: a person decides
        assert summary.auto_merged == 0
        [candidate] = candidates()
        assert candidate.status == "pending"
