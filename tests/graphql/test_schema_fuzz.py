"""Property: whatever operation the printed schema allows, the API answers it without an
internal error and without a 5xx, on SQLite and PostgreSQL.

Operations are generated from ``schema.graphql`` by hypothesis-graphql (every query and
mutation, every argument and input field, arbitrary strings, numbers and nulls, dates that are
not dates) and sent through the real app in production mode, where a bug shows as the masked
"Unexpected error.". Budgets are small and the search is derandomized, so CI sees the same
operations every run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import hypothesis_graphql
from graphql import print_ast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from graphql_schema.schema import SCHEMA_FILE

SCHEMA = SCHEMA_FILE.read_text()
MASKED = "Unexpected error."


def _date_like(values: st.SearchStrategy[str]) -> st.SearchStrategy:
    # a real value, or text that is not one: both must be answered without a bug
    return st.one_of(values, st.text(max_size=30)).map(nodes.String)


SCALARS = {
    "DateTime": _date_like(
        st.datetimes(
            min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        ).map(datetime.isoformat)
    ),
    "Date": _date_like(st.dates().map(lambda d: d.isoformat())),
    # a file can only arrive in a multipart request: in a JSON one it is a string or null
    "Upload": st.one_of(st.just(nodes.Null), st.text(max_size=10).map(nodes.String)),
    "JSON": st.text(max_size=10).map(nodes.String),
}
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _document(strategy: st.SearchStrategy) -> st.SearchStrategy[str]:
    return strategy.map(lambda document: document if isinstance(document, str) else str(document))


QUERIES = _document(hypothesis_graphql.queries(SCHEMA, custom_scalars=SCALARS, print_ast=print_ast))
MUTATIONS = _document(
    hypothesis_graphql.mutations(SCHEMA, custom_scalars=SCALARS, print_ast=print_ast)
)


def _answered_without_a_bug(production_api, key: str, document: str) -> None:
    response = production_api.post(document, key=key)
    assert response.status_code < 500, (document, response.text)
    body = response.json()
    for error in body.get("errors") or []:
        assert error["message"] != MASKED, (document, json.dumps(body)[:2000])


class TestGeneratedOperations:
    @FUZZ
    @given(document=QUERIES)
    def test_queries(self, production_api, admin_key, document):
        _answered_without_a_bug(production_api, admin_key, document)

    @FUZZ
    @given(document=MUTATIONS)
    def test_mutations(self, production_api, admin_key, document):
        _answered_without_a_bug(production_api, admin_key, document)
