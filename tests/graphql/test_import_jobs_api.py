"""importJobs and an import job's error counts through GraphQL."""

from __future__ import annotations

from tests.importing.conftest import csv_text, import_text
from tests.importing.test_import_visible import HEADER, mixed_rows


class TestImportContactsDryRun:
    def test_import_contacts_dry_run_returns_its_row_errors(self, api, editor_key):
        query = """mutation($csv: String!) { importContacts(input: {csv: $csv, dryRun: true}) {
          importJob { dryRun rejected errorCounts { code warnings rejected }
            errors { totalCount edges { node { line code rejected } } } } errors { code } } }"""
        text = csv_text(HEADER, mixed_rows())

        job = api.data(query, key=editor_key, variables={"csv": text})["importContacts"][
            "importJob"
        ]

        assert job["dryRun"] and job["rejected"] == 2
        codes = {c["code"]: (c["warnings"], c["rejected"]) for c in job["errorCounts"]}
        assert codes["INVALID_EMAIL"] == (2, 1)
        nodes = [e["node"] for e in job["errors"]["edges"]]
        assert len(nodes) == job["errors"]["totalCount"] > 0
        assert {"line": 5, "code": "NOTHING_TO_IDENTIFY", "rejected": True} in nodes


IMPORT_JOBS = """query($first: Int!, $after: String) { importJobs(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id filename dryRun } } } }"""


class TestImportJobsQuery:
    def test_newest_first_paged_and_of_the_callers_organization(
        self, engine, org, other_org, api, reader_key
    ):
        # given
        jobs = [
            import_text(engine, org, "Email\na@example.com\n", filename=f"f{n}.csv")
            for n in range(3)
        ]
        import_text(engine, other_org, "Email\nb@example.com\n", filename="theirs.csv")
        # when
        first = api.data(IMPORT_JOBS, key=reader_key, variables={"first": 2})["importJobs"]
        rest = api.data(
            IMPORT_JOBS,
            key=reader_key,
            variables={"first": 2, "after": first["pageInfo"]["endCursor"]},
        )["importJobs"]
        # then
        ids = [e["node"]["id"] for e in first["edges"] + rest["edges"]]
        assert ids == [str(j.id) for j in reversed(jobs)]
        assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
        assert not rest["pageInfo"]["hasNextPage"]

    def test_a_bad_cursor_is_bad_input(self, api, reader_key):
        body = api.execute(IMPORT_JOBS, key=reader_key, variables={"first": 2, "after": "x"})
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"

    def test_a_page_costs_the_same_statements_whatever_its_size(self, engine, org, api, reader_key):
        from tests.graphql.test_sql_statements import recorded_statements

        for n in range(8):
            import_text(engine, org, "Email\na@example.com\n", filename=f"f{n}.csv")
        # the key's first use in a minute also records last_used_at: not part of a page's cost
        api.data(IMPORT_JOBS, key=reader_key, variables={"first": 1})
        costs = []
        for first in (2, 8):
            with recorded_statements(engine) as statements:
                page = api.data(IMPORT_JOBS, key=reader_key, variables={"first": first})
            assert len(page["importJobs"]["edges"]) == first
            costs.append(len(statements))
        assert costs[0] == costs[1]
