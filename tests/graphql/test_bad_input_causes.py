"""Bad input is never an internal error: each cause the fuzzer found, as a client sends it.

Every answer is a coded error (a payload's UserError, or a top-level error with a code and a
location for a query's argument) or, for CSV content, a row-level issue of the import.
"""

from __future__ import annotations

import base64
import json

import pytest

IMPORT = """
mutation Import($input: ImportContactsInput!) {
  importContacts(input: $input) {
    importJob { id status rows created errors { totalCount edges { node { line column code } } } }
    errors { code field message }
  }
}
"""
JOB_ERRORS = """
query Errors($id: ID!, $after: String) {
  importJob(id: $id) { errors(after: $after) { totalCount } }
}
"""
CONTACTS_AFTER = "query($after: String) { contacts(after: $after) { totalCount } }"
CANDIDATES_AFTER = "query($after: String) { duplicateCandidates(after: $after) { totalCount } }"
CSV = "first_name,email\nAnn,ann@example.com\n"
NON_TEXT_ENCODINGS = ["rot13", "zip", "base64", "hex", "bz2", "punycode", "utf-8\x00", "x" * 300]


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def coded_error(body: dict, code: str = "INVALID_INPUT") -> dict:
    """The one top-level error of ``body``: coded, pointing at the document."""
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, error
    assert error.get("locations"), error
    return error


def imported(api, key: str, **input) -> dict:
    body = api.execute(IMPORT, key=key, variables={"input": input})
    assert "errors" not in body, body["errors"]
    return body["data"]["importContacts"]


class TestImportEncoding:
    @pytest.mark.parametrize("encoding", NON_TEXT_ENCODINGS)
    def test_a_codec_that_is_not_a_text_encoding_is_refused(self, api, admin_key, encoding):
        # when
        payload = imported(api, admin_key, csv=CSV, encoding=encoding)

        # then
        assert payload["importJob"] is None
        [error] = payload["errors"]
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "encoding")

    def test_utf16_without_a_bom_fails_the_job_with_its_reason(self, api, admin_key):
        # when: the text is UTF-8, declared as UTF-16 (no byte order mark)
        payload = imported(api, admin_key, csv=CSV, encoding="utf-16")

        # then
        assert payload["importJob"]["status"] == "FAILED"
        [error] = payload["errors"]
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "file")
        assert "utf-16" in error["message"]


class TestImportContent:
    def test_a_file_that_is_not_an_upload_is_a_user_error(self, api, admin_key):
        # given: a string where the multipart request's file part belongs

        # when
        payload = imported(api, admin_key, file="")

        # then
        assert payload["importJob"] is None
        [error] = payload["errors"]
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "file")

    def test_a_lone_surrogate_in_csv_text_is_dropped_like_a_nul(self, api, admin_key):
        # when
        payload = imported(api, admin_key, csv="first_name,email\nAn\ud800n,ann@example.com\n")

        # then
        assert payload["errors"] == []
        assert (payload["importJob"]["status"], payload["importJob"]["created"]) == (
            "SUCCEEDED",
            1,
        )

    @pytest.mark.parametrize("length", [201, 5000])
    def test_an_unknown_header_of_any_length_is_a_warning(self, api, admin_key, length):
        # given
        header = "h" * length
        csv = f"first_name,email,{header}\nAnn,ann@example.com,kept\n"

        # when
        payload = imported(api, admin_key, csv=csv)

        # then: the row imports; the header line says its column was not recognised
        job = payload["importJob"]
        assert (job["status"], job["created"]) == ("SUCCEEDED", 1)
        [warning] = [e["node"] for e in job["errors"]["edges"]]
        assert (warning["line"], warning["code"]) == (1, "UNKNOWN_COLUMN")
        assert header.startswith(warning["column"])

    def test_a_nul_in_a_header_is_dropped(self, api, admin_key):
        # when
        payload = imported(api, admin_key, csv="first_name,email,no\x00tes\nAnn,a@example.com,x\n")

        # then
        job = payload["importJob"]
        assert (job["status"], job["created"]) == ("SUCCEEDED", 1)

    @pytest.mark.parametrize("length", [10, 501, 4000])
    def test_an_upload_filename_of_any_length_is_kept(self, api, admin_key, length):
        # given: a GraphQL multipart request
        filename = "c" * length + ".csv"
        operations = {"query": IMPORT, "variables": {"input": {"file": None}}}
        files = {
            "operations": (None, json.dumps(operations)),
            "map": (None, json.dumps({"0": ["variables.input.file"]})),
            "0": (filename, CSV.encode(), "text/csv"),
        }

        # when
        response = api.client.post(
            "/graphql", files=files, headers={"Authorization": f"Bearer {admin_key}"}
        )

        # then
        assert response.status_code == 200, response.text
        payload = response.json()["data"]["importContacts"]
        assert payload["errors"] == []
        assert payload["importJob"]["status"] == "SUCCEEDED"


class TestCursors:
    def test_a_cursor_of_deeply_nested_json_is_invalid(self, api, admin_key):
        # when
        body = api.execute(CONTACTS_AFTER, key=admin_key, variables={"after": cursor("[" * 10**5)})

        # then
        assert coded_error(body)["extensions"]["field"] == "after"

    def test_a_long_cursor_is_invalid(self, api, admin_key):
        # when
        body = api.execute(CONTACTS_AFTER, key=admin_key, variables={"after": "A" * 10**6})

        # then
        coded_error(body)

    def test_a_candidates_cursor_with_a_score_beyond_64_bits_pages_on(self, api, admin_key):
        # given
        after = cursor(json.dumps({"s": 2**70, "id": "00000000-0000-0000-0000-000000000000"}))

        # when
        body = api.execute(CANDIDATES_AFTER, key=admin_key, variables={"after": after})

        # then: a score above every score: the page after it is everything (none here)
        assert body == {"data": {"duplicateCandidates": {"totalCount": 0}}}

    @pytest.mark.parametrize("score", ["NaN", "Infinity", "1e400"])
    def test_a_candidates_cursor_without_a_finite_score_is_invalid(self, api, admin_key, score):
        # given
        after = cursor('{"s": ' + score + ', "id": "00000000-0000-0000-0000-000000000000"}')

        # when
        body = api.execute(CANDIDATES_AFTER, key=admin_key, variables={"after": after})

        # then
        coded_error(body)

    @pytest.mark.parametrize("line", ["Infinity", "-Infinity", "NaN", str(2**31), "1e400", "-1"])
    def test_an_import_errors_cursor_with_an_impossible_line_is_invalid(self, api, admin_key, line):
        # given
        job_id = imported(api, admin_key, csv=CSV)["importJob"]["id"]
        after = cursor('{"line": ' + line + ', "id": "00000000-0000-0000-0000-000000000000"}')

        # when
        body = api.execute(JOB_ERRORS, key=admin_key, variables={"id": job_id, "after": after})

        # then
        coded_error(body)


class TestUpdatedSince:
    def test_a_bad_literal_is_a_located_coded_error(self, api, admin_key):
        # when
        body = api.execute(
            '{ contacts(filter: {updatedSince: "soon"}) { totalCount } }', key=admin_key
        )

        # then
        assert "DateTime" in coded_error(body)["message"]

    def test_a_bad_variable_is_not_masked_in_production(self, production_api, admin_key):
        # when
        body = production_api.execute(
            "query($since: DateTime) { contacts(filter: {updatedSince: $since}) { totalCount } }",
            key=admin_key,
            variables={"since": "soon"},
        )

        # then
        [error] = body["errors"]
        assert "DateTime" in error["message"] and error["locations"]
