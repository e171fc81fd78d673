"""importContacts and the column plan: returned with the job, refused with a code when it
needs a decision, accepted with ``acceptColumnPlan``; a dry run returns it."""

from __future__ import annotations

from tests.cli.test_cli_import_columns import CLINIC_HEADER, CLINIC_ROWS
from tests.importing.conftest import csv_text

IMPORT = """
mutation Import($input: ImportContactsInput!) {
  importContacts(input: $input) {
    importJob { status rows created }
    columnPlan { column field confidence how note confirm }
    errors { code field message }
  }
}
"""
CONTACTS = "{ contacts(first: 10) { edges { node { firstName phone } } } }"
UNCERTAIN = csv_text(
    [*CLINIC_HEADER, "Emergency Contact Phone"], [[*row, "0400 000 009"] for row in CLINIC_ROWS]
)


def imported(api, key: str, **input) -> dict:
    return api.data(IMPORT, key=key, variables={"input": input})["importContacts"]


class TestColumnPlan:
    def test_the_clinic_list_imports_with_its_plan(self, api, editor_key):
        # when
        payload = imported(api, editor_key, csv=csv_text(CLINIC_HEADER, CLINIC_ROWS))

        # then
        assert payload["errors"] == []
        assert payload["importJob"]["created"] == 2
        plan = {c["column"]: c for c in payload["columnPlan"]}
        assert plan["Client First Name"]["field"] == "first_name"
        assert plan["Client First Name"]["confidence"] == 0.9
        assert plan["Home Ph"]["field"] == "home_phone"
        nodes = [e["node"] for e in api.data(CONTACTS, key=editor_key)["contacts"]["edges"]]
        assert sorted((n["firstName"], n["phone"]) for n in nodes) == [
            ("Jo", "+61412345678"),
            ("Sam", "+61412000111"),
        ]

    def test_a_plan_that_needs_a_decision_is_refused_with_a_code(self, api, editor_key):
        # when
        payload = imported(api, editor_key, csv=UNCERTAIN)

        # then
        assert payload["importJob"] is None
        [error] = payload["errors"]
        assert error["code"] == "COLUMN_PLAN_REFUSED"
        assert "Emergency Contact Phone" in error["message"]
        assert "acceptColumnPlan" in error["message"]
        confirm = [c["column"] for c in payload["columnPlan"] if c["confirm"]]
        assert confirm == ["Emergency Contact Phone"]
        assert api.data(CONTACTS, key=editor_key)["contacts"]["edges"] == []

    def test_accept_column_plan_imports_it(self, api, editor_key):
        payload = imported(api, editor_key, csv=UNCERTAIN, acceptColumnPlan=True)
        assert payload["errors"] == []
        assert payload["importJob"]["created"] == 2

    def test_a_column_map_decides_it(self, api, editor_key):
        column_map = [{"column": "Emergency Contact Phone", "field": "metadata"}]
        payload = imported(api, editor_key, csv=UNCERTAIN, columnMap=column_map)
        assert payload["errors"] == []
        assert payload["importJob"]["status"] == "SUCCEEDED"

    def test_a_dry_run_returns_the_plan_without_refusing(self, api, editor_key):
        payload = imported(api, editor_key, csv=UNCERTAIN, dryRun=True)
        assert payload["errors"] == []
        assert payload["importJob"]["rows"] == 2
        assert any(c["confirm"] for c in payload["columnPlan"])
        assert api.data(CONTACTS, key=editor_key)["contacts"]["edges"] == []

    def test_strict_refuses_an_unknown_column(self, api, editor_key):
        text = csv_text(
            ["First Name", "Email", "Favourite Colour"], [["Jo", "j@example.com", "red"]]
        )
        payload = imported(api, editor_key, csv=text, strict=True, acceptColumnPlan=True)
        assert [e["code"] for e in payload["errors"]] == ["COLUMN_PLAN_REFUSED"]
