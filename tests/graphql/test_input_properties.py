"""Property: the inputs the fuzzer broke, drawn widely and sent through the real app in
production mode: no internal error ("Unexpected error."), no 5xx, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import encodings.aliases
import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

MASKED = "Unexpected error."
PROPERTY = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
IMPORT = """
mutation($input: ImportContactsInput!) {
  importContacts(input: $input) { importJob { status } errors { code field } }
}
"""
CONNECTIONS = [
    "query($after: String) { contacts(first: 2, after: $after) { totalCount } }",
    'query($after: String) { contacts(first: 2, after: $after, filter: {search: "ann"}) '
    "{ totalCount } }",
    "query($after: String) { duplicateCandidates(first: 2, after: $after) { totalCount } }",
    "query($after: String) { contacts(first: 1) { edges { node { history(after: $after) "
    "{ edges { cursor } } } } } }",
]
CODEC_NAMES = sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values()))
encodings_drawn = st.one_of(
    st.none(), st.sampled_from(CODEC_NAMES), st.sampled_from(["punycode", "idna"]), st.text()
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
cursors = st.one_of(
    st.text(),
    json_values.map(lambda v: base64.urlsafe_b64encode(json.dumps(v).encode()).decode()),
    st.integers(min_value=50, max_value=3000).map(
        lambda n: base64.urlsafe_b64encode(b"[" * n).decode()
    ),
)
csv_texts = st.one_of(
    st.text(),
    st.lists(st.text(max_size=300), min_size=1, max_size=4).map(
        lambda header: ",".join(["first_name", *header]) + "\nAnn,x\n"
    ),
)


def _no_bug(response) -> dict:
    assert response.status_code < 500, response.text
    body = response.json()
    for error in body.get("errors") or []:
        assert error["message"] != MASKED, body
    return body


class TestImportInputs:
    @PROPERTY
    @given(csv=csv_texts, encoding=encodings_drawn)
    @example(csv="first_name\nAnn\n", encoding="rot13")
    @example(csv="first_name\nAnn\n", encoding="utf-16")
    @example(csv="first_name,email\nAn\ud800n,a@example.com\n", encoding=None)
    def test_any_csv_text_in_any_encoding(self, production_api, admin_key, csv, encoding):
        body = _no_bug(
            production_api.post(
                IMPORT, key=admin_key, variables={"input": {"csv": csv, "encoding": encoding}}
            )
        )
        assert "errors" not in body, body


class TestConnectionCursors:
    @PROPERTY
    @given(query=st.sampled_from(CONNECTIONS), after=cursors)
    @example(query=CONNECTIONS[0], after=base64.urlsafe_b64encode(b"[" * 5000).decode())
    def test_any_after_cursor(self, production_api, admin_key, import_contact, query, after):
        import_contact(first_name="Ann", email="ann@example.com")
        body = _no_bug(production_api.post(query, key=admin_key, variables={"after": after}))
        for error in body.get("errors") or []:
            assert error["extensions"]["code"] == "INVALID_INPUT", body
