"""Property: any bytes in any declared encoding are read as rows or refused with a coded
error; an import of any text finishes (succeeded or failed with its reason) on SQLite and
PostgreSQL, never with another exception."""

from __future__ import annotations

import codecs
import io

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm.errors import ErrorCode, ServiceError
from crm.importing.reader import CsvSource
from crm.ingest.observation import storable
from tests.importing.conftest import import_bytes

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ENCODINGS = [
    None,
    "utf-8",
    "utf-8-sig",
    "cp1252",
    "latin-1",
    "utf-16",
    "utf-16-le",
    "utf-32",
    "shift_jis",
    "utf-7",
    "idna",
    "punycode",
    "rot13",
    "zip",
    "base64",
    "hex",
    "bz2",
    "undefined",
    "unicode_escape",
    "utf-8\x00",
    "no-such-codec",
    "",
]
HEADERS = ["first_name", "email", "phone", "notes", "x" * 250, "a\x00b", "\ud800", ""]
CELLS = st.text(alphabet=st.sampled_from(list(',;\t"\n\r \x00\ud800ab@.0+é')), max_size=12)


@st.composite
def csv_like(draw) -> str:
    """Text that looks like a CSV file: a header of known and odd names, rows of any cells."""
    known = draw(st.lists(st.sampled_from(HEADERS[:4]), min_size=1, max_size=3, unique=True))
    odd = draw(st.lists(st.sampled_from(HEADERS[4:]) | st.text(max_size=8), max_size=3))
    header = known + odd
    rows = draw(st.lists(st.lists(CELLS, min_size=1, max_size=6), min_size=1, max_size=5))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines)


def _read(data: bytes, encoding: str | None) -> None:
    """Read every row, checking each is storable; a refusal must be coded."""
    try:
        source = CsvSource(io.BytesIO(data), encoding=encoding)
        for name in source.unknown_columns:
            assert len(name) <= 200 and storable(name) == name
        for row in source.rows():
            for key, value in {**row.values, **row.metadata}.items():
                assert storable(key) == key and storable(value) == value
    except ServiceError as exc:
        assert exc.code is ErrorCode.INVALID_INPUT
        assert exc.field in ("file", "encoding")


class TestReader:
    @PROPERTY
    @given(data=st.binary(max_size=300), encoding=st.sampled_from(ENCODINGS))
    @example(data=b"first_name,email\nAnn,a@example.com\n", encoding="rot13")
    @example(data="first_name\nAnn\n".encode("utf-16-le"), encoding="utf-16")
    def test_any_bytes_in_any_encoding(self, data, encoding):
        _read(data, encoding)

    @PROPERTY
    @given(text=csv_like(), encoding=st.sampled_from(ENCODINGS))
    def test_csv_like_text_in_any_encoding(self, text, encoding):
        try:
            data = text.encode(encoding or "utf-8", "surrogatepass")
        except (LookupError, UnicodeError, ValueError, TypeError):
            data = text.encode("utf-8", "surrogatepass")
        _read(data, encoding)

    @PROPERTY
    @given(text=csv_like())
    def test_csv_given_as_text(self, text):
        from crm.importing.validation import csv_text_bytes

        _read(csv_text_bytes(text), None)


class TestImportOfAnyText:
    @settings(PROPERTY, max_examples=25)
    @given(text=csv_like(), encoding=st.sampled_from([None, "cp1252", "utf-16", "rot13"]))
    def test_finishes_with_a_status(self, engine, org, text, encoding):
        # given
        try:
            data = codecs.encode(text, encoding or "utf-8", "surrogatepass")
        except (LookupError, UnicodeError, TypeError):
            data = text.encode("utf-8", "surrogatepass")

        # when
        try:
            job = import_bytes(engine, org, data, encoding=encoding)
        except ServiceError as exc:
            # then: refused with a code (the encoding, or the file as a whole)
            assert exc.code is ErrorCode.INVALID_INPUT, exc
            return

        # then
        assert job.status in ("succeeded", "failed")
