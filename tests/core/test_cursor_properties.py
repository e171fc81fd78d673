"""Property: every cursor decoder answers any string a client sends with a page or a coded
INVALID_INPUT on ``after``, never another error (on SQLite and PostgreSQL).

The strings are arbitrary text, and base64 of arbitrary JSON shaped like the cursors this
service makes (``{"id"}``, ``{"o"}``, ``{"s", "id"}``, ``{"line", "id"}``) with any values in
them: huge and negative integers, floats beyond 64 bits, NaN, Infinity, nested arrays.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.contacts.queries import ContactFilter, history_page, list_contacts
from crm.errors import ErrorCode, ServiceError
from crm.importing.jobs import ImportOptions, create_import_job, list_import_errors
from crm.merging.queue import list_candidates
from crm.pagination import decode_cursor, encode_cursor

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**31 - 2, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.uuids().map(str),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
cursor_shaped = st.fixed_dictionaries(
    {},
    optional={"id": json_values, "o": json_values, "s": json_values, "line": json_values},
)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


cursors = st.one_of(
    st.text(),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="),
    json_values.map(lambda v: _b64(json.dumps(v))),
    cursor_shaped.map(lambda v: _b64(json.dumps(v))),
    st.integers(min_value=1, max_value=5000).map(lambda depth: _b64("[" * depth + "]" * depth)),
    st.integers(min_value=1, max_value=5000).map(lambda depth: _b64('{"a":' * depth)),
)


def _invalid_or_page(call) -> None:
    try:
        call()
    except ServiceError as exc:
        assert (exc.code, exc.field) == (ErrorCode.INVALID_INPUT, "after"), exc


class TestDecodeCursor:
    @PROPERTY
    @given(cursor=cursors)
    def test_any_string_is_a_value_or_invalid(self, cursor):
        _invalid_or_page(lambda: decode_cursor(cursor))

    @PROPERTY
    @given(
        value=st.one_of(
            st.fixed_dictionaries({"id": st.uuids().map(str)}),
            st.fixed_dictionaries({"o": st.integers(min_value=0, max_value=10**9)}),
            st.fixed_dictionaries(
                {"s": st.floats(allow_nan=False, allow_infinity=False), "id": st.uuids().map(str)}
            ),
            st.fixed_dictionaries(
                {"line": st.integers(min_value=1, max_value=2**31 - 1), "id": st.uuids().map(str)}
            ),
        )
    )
    def test_every_cursor_it_makes_decodes_to_its_value(self, value):
        assert decode_cursor(encode_cursor(value)) == value

    @PROPERTY
    @given(cursor=cursors)
    def test_history_pages(self, cursor):
        _invalid_or_page(lambda: history_page(first=10, after=cursor))


@pytest.mark.usefixtures("engine")
class TestListings:
    @PROPERTY
    @given(cursor=cursors, search=st.sampled_from([None, "ann"]))
    def test_contacts(self, session, org, cursor, search):
        _invalid_or_page(
            lambda: list_contacts(
                session,
                organization_id=org.id,
                first=5,
                after=cursor,
                filter=ContactFilter(search=search),
            )
        )
        session.rollback()

    @PROPERTY
    @given(cursor=cursors)
    def test_duplicate_candidates(self, session, org, cursor):
        _invalid_or_page(
            lambda: list_candidates(session, organization_id=org.id, first=5, after=cursor)
        )
        session.rollback()

    @PROPERTY
    @given(cursor=cursors)
    def test_import_row_errors(self, session, org, cursor):
        job = create_import_job(
            session, organization=org, options=ImportOptions(), total_bytes=0, actor="test"
        )
        _invalid_or_page(lambda: list_import_errors(session, job=job, first=5, after=cursor))
        session.rollback()
