"""dedupModel and setDedupSettings: the organization's thresholds and learned model through
GraphQL (issue 11 points 1 and 5)."""

from __future__ import annotations

import pytest

from crm.matching import training
from tests.graphql.conftest import top_level_error

MODEL = """
query Model {
  dedupModel {
    autoMergeAt reviewAt runId learnedAt trained pairs iterations matchProbability note
    keepsTwinsApart keepsJuniorsApart
    fields { field levels { level m u uRandom weight } }
  }
}
"""

SET = """
mutation Set($input: SetDedupSettingsInput!) {
  setDedupSettings(input: $input) {
    dedupModel { autoMergeAt reviewAt }
    errors { code field message }
  }
}
"""

SWEEP = """
mutation Sweep { runDedupSweep(input: {}) { summary { contacts } errors { code } } }
"""


class TestDedupModel:
    def test_before_any_sweep_the_defaults(self, api, reader_key):
        model = api.data(MODEL, key=reader_key)["dedupModel"]

        assert (model["autoMergeAt"], model["reviewAt"]) == (0.98, 0.6)
        assert model["runId"] is None
        assert model["trained"] is False
        assert (model["keepsTwinsApart"], model["keepsJuniorsApart"]) == (True, True)
        assert model["fields"] == []

    def test_the_model_the_last_sweep_learned(
        self, api, admin_key, reader_key, import_contact, monkeypatch
    ):
        # given
        pytest.importorskip("crm.merging.service", reason="the sweep merges through crm.merging")
        monkeypatch.setattr(training, "TRAIN_MIN_CONTACTS", 10)
        for i in range(24):
            import_contact(
                external_id=str(i),
                first_name=["Ann", "Bob", "Cat", "Dan"][i % 4],
                last_name=["Lee", "Kim", "Roe"][i % 3] + ("" if i < 12 else "son"),
                date_of_birth=f"198{i % 10}-0{1 + i % 9}-1{i % 10}",
            )
        assert api.data(SWEEP, key=admin_key)["runDedupSweep"]["errors"] == []

        # when
        model = api.data(MODEL, key=reader_key)["dedupModel"]

        # then
        assert model["runId"] is not None
        assert model["trained"] is True
        assert model["pairs"] > 0
        assert 0 < model["matchProbability"] < 1
        # no household among them: nothing says twins or juniors are names written wrong
        assert (model["keepsTwinsApart"], model["keepsJuniorsApart"]) == (True, True)
        fields = {f["field"]: f["levels"] for f in model["fields"]}
        assert {"first_name", "last_name", "date_of_birth", "postcode", "suburb"} <= set(fields)
        for level in fields["first_name"]:
            assert 0 < level["m"] <= 1 and 0 < level["u"] <= 1
            assert isinstance(level["weight"], float)


class TestSetDedupSettings:
    def test_an_admin_sets_the_thresholds_and_reads_them_back(self, api, admin_key, reader_key):
        payload = api.data(
            SET, key=admin_key, variables={"input": {"autoMergeAt": 0.995, "reviewAt": 0.5}}
        )["setDedupSettings"]
        only_review = api.data(SET, key=admin_key, variables={"input": {"reviewAt": 0.7}})

        assert payload == {"dedupModel": {"autoMergeAt": 0.995, "reviewAt": 0.5}, "errors": []}
        assert only_review["setDedupSettings"]["dedupModel"]["autoMergeAt"] == 0.995
        model = api.data(MODEL, key=reader_key)["dedupModel"]
        assert (model["autoMergeAt"], model["reviewAt"]) == (0.995, 0.7)

    @pytest.mark.parametrize(
        ("given", "field"),
        [
            ({"autoMergeAt": 1.5}, "autoMergeAt"),
            ({"autoMergeAt": 0.0}, "autoMergeAt"),
            ({"reviewAt": 0.99, "autoMergeAt": 0.9}, "reviewAt"),
            ({"reviewAt": 0.01}, "reviewAt"),
        ],
    )
    def test_bad_thresholds_are_explained_and_change_nothing(
        self, api, admin_key, reader_key, given, field
    ):
        payload = api.data(SET, key=admin_key, variables={"input": given})["setDedupSettings"]

        assert payload["dedupModel"] is None
        [error] = payload["errors"]
        assert (error["code"], error["field"]) == ("INVALID_INPUT", field)
        model = api.data(MODEL, key=reader_key)["dedupModel"]
        assert (model["autoMergeAt"], model["reviewAt"]) == (0.98, 0.6)

    def test_only_an_admin_sets_them(self, api, editor_key):
        body = api.execute(SET, key=editor_key, variables={"input": {"reviewAt": 0.7}})

        assert top_level_error(body)["extensions"]["code"] == "FORBIDDEN"

    def test_each_organization_has_its_own(self, api, admin_key, foreign_key):
        api.data(SET, key=admin_key, variables={"input": {"autoMergeAt": 0.999}})

        other = api.data(MODEL, key=foreign_key)["dedupModel"]

        assert other["autoMergeAt"] == 0.98
