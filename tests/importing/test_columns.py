"""Header matching: the headers practices really write, the exports they really produce, content
sniffing, phone kinds, and the plan's invariants."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.importing import columns as cols
from crm.importing.column_check import (
    ColumnPlanRefused,
    check_column_plan,
    plan_problems,
    preview_columns,
)
from crm.importing.columns import MULTI_PHONE, parse_column_map, plan_columns

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
CLINIC_LIST = [
    "Client Ref",
    "Client First Name",
    "Surname",
    "E-mail Address",
    "Mobile Ph",
    "Home Ph",
    "D.O.B.",
    "Street Address",
    "Suburb",
    "State",
    "Postcode",
]


def mapping(headers, column_map=None, **kw) -> dict[str, str | None]:
    plan = plan_columns(headers, column_map or {}, **kw)
    return {m.header: m.field for m in plan.matches}


def export_plan(name: str):
    with (EXPORTS / name).open("rb") as stream:
        return preview_columns(stream, region="AU")


class TestHeaderWords:
    @pytest.mark.parametrize(
        ("header", "field"),
        [
            ("Client First Name", "first_name"),
            ("Patient Given Name", "first_name"),
            ("Owner Last Name", "last_name"),
            ("Mobile Ph", "phone"),
            ("Phone (Mobile)", "phone"),
            ("Mob. No.", "phone"),
            ("Home Ph", "phone"),  # the only phone: the primary one
            ("PhoneWork", "phone"),
            ("D.O.B.", "date_of_birth"),
            ("Birth Date", "date_of_birth"),
            ("Post code", "postal_code"),
            ("Street Address", "address_line1"),
            ("Client Ref", "external_id"),
            ("Patient ID", "external_id"),
            ("E-mail Address", "email"),
            ("State/Region", "region"),
        ],
    )
    def test_a_header_as_practices_write_it_is_recognised(self, header, field):
        assert mapping([header]) == {header: field}

    def test_the_clinic_list_maps_every_column(self):
        # the hand-written list that imported without first names or phones (issue 12)
        assert mapping(CLINIC_LIST) == {
            "Client Ref": "external_id",
            "Client First Name": "first_name",
            "Surname": "last_name",
            "E-mail Address": "email",
            "Mobile Ph": "phone",
            "Home Ph": "home_phone",
            "D.O.B.": "date_of_birth",
            "Street Address": "address_line1",
            "Suburb": "city",
            "State": "region",
            "Postcode": "postal_code",
        }
        assert plan_problems(plan_columns(CLINIC_LIST, {})) == []

    def test_each_match_has_a_confidence(self):
        plan = plan_columns(["Email", "Client First Name", "Emergency Contact Phone"], {})
        confidence = {m.header: m.confidence for m in plan.matches}
        assert confidence["Email"] == 1.0
        assert 0.8 <= confidence["Client First Name"] < 1.0
        assert confidence["Emergency Contact Phone"] < 0.8

    @pytest.mark.parametrize(
        "header", ["Emergency Contact Phone", "Referrer Email", "Guardian DOB", "Email 2"]
    )
    def test_a_header_that_only_looks_like_a_field_is_not_imported_as_it_and_asks(self, header):
        plan = plan_columns(["First Name", "Mobile", header], {})
        match = plan.matches[2]
        assert match.field is None
        assert match.confirm
        problems = plan_problems(plan)
        assert [p.column for p in problems] == [header]

    @pytest.mark.parametrize("header", ["Preferred First Name", "Middle Name", "Fax", "Title"])
    def test_a_known_non_field_goes_to_metadata_without_asking(self, header):
        plan = plan_columns(["First Name", "Mobile", header], {})
        assert plan.matches[2].field is None
        assert plan_problems(plan) == []


class TestPhoneKinds:
    def test_the_mobile_is_the_primary_phone_and_the_others_keep_their_kind(self):
        headers = ["Home Phone", "Work Phone", "Phone", "Mobile", "Other Phone"]
        assert mapping(headers) == {
            "Home Phone": "home_phone",
            "Work Phone": "work_phone",
            "Phone": "other_phone",
            "Mobile": "phone",
            "Other Phone": None,  # other_phone taken by "Phone": asks
        }

    def test_without_a_mobile_the_plain_phone_then_home_is_primary(self):
        assert mapping(["Work Ph", "Home Ph"]) == {"Work Ph": "work_phone", "Home Ph": "phone"}
        assert mapping(["Home Ph", "Telephone"]) == {"Home Ph": "home_phone", "Telephone": "phone"}

    def test_a_map_to_a_phone_kind_is_kept(self):
        column_map = parse_column_map(["Contact Ph=work_phone"])
        assert mapping(["Mobile", "Contact Ph"], column_map) == {
            "Mobile": "phone",
            "Contact Ph": "work_phone",
        }


class TestExports:
    def test_hubspot_contacts(self):
        fields = {m.header: m.field for m in export_plan("hubspot_contacts.csv").matches}
        assert fields["Record ID"] == "external_id"
        assert fields["Mobile Phone Number"] == "phone"
        assert fields["Phone Number"] == "other_phone"
        assert fields["State/Region"] == "region"
        assert fields["Country/Region"] == "country"
        assert fields["Date of birth"] == "date_of_birth"
        assert fields["Create Date"] is None and fields["Contact owner"] is None
        assert plan_problems(export_plan("hubspot_contacts.csv")) == []

    def test_shopify_customers(self):
        plan = export_plan("shopify_customers.csv")
        fields = {m.header: m.field for m in plan.matches}
        assert fields["Customer ID"] == "external_id"
        assert fields["Phone"] == "phone"
        assert fields["Default Address Phone"] == "other_phone"
        assert fields["Default Address Address1"] == "address_line1"
        assert fields["Default Address City"] == "city"
        assert fields["Default Address Province Code"] == "region"
        assert fields["Default Address Zip"] == "postal_code"
        assert fields["Default Address Company"] is None
        assert fields["Note"] == "notes"
        assert plan_problems(plan) == []

    def test_cliniko_patients(self):
        plan = export_plan("cliniko_patients.csv")
        fields = {m.header: m.field for m in plan.matches}
        assert fields["Patient ID"] == "external_id"
        assert fields["Preferred First Name"] is None
        assert (fields["Mobile"], fields["Home Phone"], fields["Work Phone"]) == (
            "phone",
            "home_phone",
            "work_phone",
        )
        assert fields["Other Phone"] == "other_phone"
        assert fields["Post Code"] == "postal_code"
        assert fields["Emergency Contact"] is None and fields["Medicare"] is None
        assert plan_problems(plan) == []

    def test_vet_clients_never_give_the_animal_s_fields_to_the_owner(self):
        plan = export_plan("vet_clients.csv")
        fields = {m.header: m.field for m in plan.matches}
        assert fields["Owner First Name"] == "first_name"
        assert fields["Owner Last Name"] == "last_name"
        assert fields["Client Code"] == "external_id"
        # the animal's columns are the pet's (crm/importing/pet_columns.py), never the owner's
        assert fields["Animal Name"] == "pet_name"
        assert fields["Animal DOB"] == "pet_date_of_birth"
        assert "date_of_birth" not in fields.values()


class TestContentSniffing:
    def test_a_column_of_emails_under_a_meaningless_header_is_proposed_as_email(self):
        sample = [["Jo", f"jo{n}@example.com", "x"] for n in range(10)]
        plan = plan_columns(["First Name", "Col 2", "Col 3"], {}, sample=sample, region="AU")
        match = plan.matches[1]
        assert (match.field, match.how, match.confirm) == ("email", "content", True)
        with pytest.raises(ColumnPlanRefused):
            check_column_plan(plan)
        check_column_plan(plan, accept=True)

    def test_phones_and_birth_dates_are_proposed_too(self):
        sample = [["Jo", f"04{n:08d}", f"{n + 1}/08/1986"] for n in range(10)]
        fields = mapping(["Name", "Contact", "Col C"], sample=sample, region="AU")
        assert fields == {"Name": "name", "Contact": "phone", "Col C": "date_of_birth"}

    def test_dates_under_a_when_header_are_not_birth_dates(self):
        sample = [["Jo", "jo@example.com", f"{n + 1}/08/2020"] for n in range(10)]
        fields = mapping(["Name", "Email", "Last Visit"], sample=sample, region="AU")
        assert fields["Last Visit"] is None

    def test_a_mixed_column_is_not_proposed(self):
        sample = [["Jo", "jo@example.com" if n % 2 else "call back"] for n in range(10)]
        assert mapping(["Name", "Misc"], sample=sample, region="AU")["Misc"] is None

    def test_the_reader_sniffs_the_file_s_first_rows(self):
        text = "Name,Info\r\n" + "".join(f"P{n},p{n}@example.com\r\n" for n in range(20))
        plan = preview_columns(io.BytesIO(text.encode()), region="AU")
        assert plan.matches[1].field == "email"


class TestPlanChecks:
    def test_no_name_column_asks(self):
        problems = plan_problems(plan_columns(["Email", "Mobile"], {}))
        assert [p.message for p in problems] == ["no name column (first_name, last_name or name)"]

    def test_no_channel_column_asks(self):
        problems = plan_problems(plan_columns(["First Name", "Surname"], {}))
        assert len(problems) == 1 and "no contact channel" in problems[0].message

    def test_strict_refuses_every_unknown_column_even_with_yes(self):
        plan = plan_columns(["First Name", "Email", "Favourite Colour"], {})
        check_column_plan(plan)
        with pytest.raises(ColumnPlanRefused, match="Favourite Colour"):
            check_column_plan(plan, strict=True, accept=True)
        decided = plan_columns(
            ["First Name", "Email", "Favourite Colour"],
            parse_column_map(["Favourite Colour=metadata"]),
        )
        check_column_plan(decided, strict=True)

    def test_the_refusal_names_the_column_and_the_fixes(self):
        plan = plan_columns(["First Name", "Mobile", "Emergency Contact Phone"], {})
        with pytest.raises(ColumnPlanRefused) as refused:
            check_column_plan(plan)
        message = refused.value.message
        assert "Emergency Contact Phone" in message
        assert "--map" in message and "--yes" in message
        assert refused.value.code.value == "COLUMN_PLAN_REFUSED"

    def test_two_columns_mapped_to_one_field_say_it_was_the_map(self):
        headers = ["Client First Name", "Surname", "Email", "Mobile Ph"]
        plan = plan_columns(
            headers, parse_column_map(["Client First Name=notes", "Mobile Ph=notes"])
        )
        with pytest.raises(ColumnPlanRefused) as refused:
            check_column_plan(plan)
        assert [p.column for p in refused.value.problems] == ["Mobile Ph"]
        assert "--map gives notes to column 'Client First Name' too" in refused.value.message

    def test_a_map_to_an_unknown_target_is_refused(self):
        with pytest.raises(Exception, match="cannot map"):
            parse_column_map(["Foo=favourite_colour"])


class TestRegisteredColumns:
    def test_a_module_can_add_a_column_with_its_aliases(self, monkeypatch):
        monkeypatch.setattr(cols, "_COLUMNS", dict(cols._COLUMNS))
        try:
            cols.register_column("loyalty_number", aliases=["Loyalty No", "loyaltynumber"])
            assert mapping(["Loyalty No"]) == {"Loyalty No": "loyalty_number"}
            assert parse_column_map(["Card=loyalty_number"]) == {"card": "loyalty_number"}
        finally:
            monkeypatch.undo()
            cols._rebuild()
        assert "loyalty_number" not in cols.CANONICAL


class TestMarkdown:
    def test_lists_every_column_and_its_aliases(self):
        text = subprocess.run(
            [sys.executable, "-m", "crm.importing.columns", "--markdown"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for column in cols.columns():
            assert f"| `{column.name}` |" in text
        assert "`mobile`" in text and "`surname`" in text


# header words a hand-made or exported list might use
_VOCABULARY = [
    "Client",
    "Patient",
    "First",
    "Last",
    "Given",
    "Name",
    "Surname",
    "Email",
    "E-mail",
    "Address",
    "Mobile",
    "Home",
    "Work",
    "Other",
    "Phone",
    "Ph",
    "Tel",
    "No.",
    "D.O.B.",
    "Birth",
    "Date",
    "Street",
    "Suburb",
    "State",
    "Post",
    "Code",
    "ID",
    "Ref",
    "Emergency",
    "2",
    "Notes",
]
header_strategy = st.lists(st.sampled_from(_VOCABULARY), min_size=1, max_size=4).map(" ".join)


class TestPlanInvariants:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(header_strategy, min_size=1, max_size=12))
    def test_no_column_has_two_fields_and_no_field_two_columns(self, headers):
        plan = plan_columns(headers, {})
        # one field (or metadata) per file column
        assert not set(plan.canonical) & set(plan.unknown)
        assert set(plan.canonical) | set(plan.unknown) | plan.skipped == set(range(len(headers)))
        fields = list(plan.canonical.values())
        # single-valued fields once; phones as several kinds, each once
        assert len(fields) == len(set(fields))
        assert all(f in cols.CANONICAL for f in fields)
        phones = [f for f in fields if f in MULTI_PHONE]
        if phones:
            assert "phone" in phones  # the primary is always given when any phone is

    @settings(max_examples=100, deadline=None)
    @given(st.lists(header_strategy, min_size=1, max_size=8))
    def test_the_plan_reads_a_file_with_these_headers(self, headers):
        out = io.StringIO()
        csv.writer(out).writerow(headers)
        try:
            plan = preview_columns(io.BytesIO(out.getvalue().encode()), region="AU")
        except Exception as exc:  # a header nothing matches: the reader's own error
            assert "no recognisable columns" in str(exc)
            return
        assert len(plan.matches) == len(headers)
