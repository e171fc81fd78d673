"""Reading CSV files: encodings, delimiters, quoting, header aliases, combined columns."""

from __future__ import annotations

import io

import pytest

from crm.errors import ServiceError
from crm.importing.address import split_address
from crm.importing.columns import parse_column_map, plan_columns
from crm.importing.reader import CsvSource, ImportFailed, canonical_record
from tests.importing.conftest import csv_text


def rows_of(data: bytes, **kwargs):
    source = CsvSource(io.BytesIO(data), **kwargs)
    return source, list(source.rows())


class TestEncoding:
    def test_utf8_with_bom_reads_the_first_header(self):
        # given
        data = "\ufeffFirst Name,Email\nZoë,zoe@example.com\n".encode()
        # when
        source, rows = rows_of(data)
        # then
        assert source.plan.canonical == {0: "first_name", 1: "email"}
        assert rows[0].values == {"first_name": "Zoë", "email": "zoe@example.com"}

    def test_other_encoding_without_declaration_is_a_clear_error(self):
        data = "First Name\nJosé\n".encode("cp1252")
        with pytest.raises(ImportFailed) as exc:
            rows_of(data)
        assert "not UTF-8" in exc.value.message
        assert "--encoding" in exc.value.message

    def test_declared_encoding_reads_the_file(self):
        data = "First Name\nJosé\n".encode("cp1252")
        _, rows = rows_of(data, encoding="cp1252")
        assert rows[0].values["first_name"] == "José"

    def test_unknown_encoding_is_refused(self):
        with pytest.raises(ImportFailed):
            rows_of(b"a\n", encoding="klingon")

    def test_empty_file_is_refused(self):
        with pytest.raises(ImportFailed):
            rows_of(b"")


class TestDelimitersAndQuoting:
    @pytest.mark.parametrize("delimiter", [",", ";", "\t"])
    def test_delimiter_is_sniffed(self, delimiter):
        data = csv_text(
            ["first_name", "last_name", "email"], [["Ann", "Lee", "a@x.io"]], delimiter=delimiter
        ).encode()
        source, rows = rows_of(data)
        assert source.delimiter == delimiter
        assert rows[0].values == {"first_name": "Ann", "last_name": "Lee", "email": "a@x.io"}

    def test_quoted_commas_quotes_and_newlines_and_line_numbers(self):
        # given: the second record spans lines 3-4
        data = (
            b"name,notes\r\n"
            b'"Smith, Ann","said ""hi"""\r\n'
            b'Bob Jones,"two\r\nlines"\r\n'
            b"Cy Twombly,last\r\n"
        )
        # when
        _, rows = rows_of(data)
        # then
        assert [r.line for r in rows] == [2, 3, 5]
        assert rows[0].values == {"name": "Smith, Ann", "notes": 'said "hi"'}
        assert rows[1].values["notes"] == "two\r\nlines"

    def test_blank_rows_are_skipped(self):
        _, rows = rows_of(b"first_name\nAnn\n\n,\nBob\n")
        assert [r.values["first_name"] for r in rows] == ["Ann", "Bob"]


class TestHeaders:
    def test_aliases_match_case_and_punctuation_insensitively(self):
        plan = plan_columns(
            ["FIRST NAME", "given_name", "Surname", "E-mail", "Mobile", "D.O.B.", "Zip", "Suburb"],
            {},
        )
        assert plan.canonical == {
            0: "first_name",
            2: "last_name",
            3: "email",
            4: "phone",
            5: "date_of_birth",
            6: "postal_code",
            7: "city",
        }
        # a second first-name column is kept, not silently dropped
        assert plan.unknown == {1: "given_name"}

    def test_map_overrides_and_unknown_columns_land_in_metadata(self):
        data = csv_text(["Ref", "Name", "Favourite colour"], [["77", "Ann Lee", "blue"]]).encode()
        source, rows = rows_of(data, column_map=parse_column_map(["Ref=external_id"]))
        assert source.unknown_columns == ["Favourite colour"]
        record = canonical_record(rows[0])
        assert record["external_id"] == "77"
        assert record["metadata"] == {"Favourite colour": "blue"}

    def test_bad_map_is_a_usage_error(self):
        with pytest.raises(ServiceError):
            parse_column_map(["Ref=shoe_size"])
        with pytest.raises(ServiceError):
            parse_column_map(["no-equals-sign"])

    def test_no_recognisable_column_is_refused(self):
        with pytest.raises(ImportFailed):
            rows_of(b"foo,bar\n1,2\n")


class TestCombinedColumns:
    def test_one_address_column_is_split(self):
        assert split_address("Unit 3, 12 Smith St, Bondi NSW 2026, Australia") == {
            "address_line1": "Unit 3",
            "address_line2": "12 Smith St",
            "city": "Bondi",
            "region": "NSW",
            "postal_code": "2026",
            "country": "Australia",
        }
        assert split_address("5 High St, London, SW1A 1AA") == {
            "address_line1": "5 High St",
            "city": "London",
            "postal_code": "SW1A 1AA",
        }

    def test_address_column_beside_structured_columns_is_kept_not_split(self):
        data = csv_text(["name", "address", "city"], [["Ann Lee", "1 Main Rd", "Perth"]]).encode()
        _, rows = rows_of(data)
        record = canonical_record(rows[0])
        assert record["city"] == "Perth"
        assert record["metadata"] == {"address": "1 Main Rd"}

    def test_formula_neutralised_values_read_back_plain(self):
        _, rows = rows_of(b"first_name,phone\nAnn,'+61412345678\n")
        assert rows[0].values["phone"] == "+61412345678"
