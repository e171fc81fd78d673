"""``crm import`` shows its column plan before writing anything, and stops when the plan needs a
decision: the clinic list of issue 12 imports with first names and both phones."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from crm.models import Contact, ContactIdentifier, ImportJob, ImportRowError
from tests.importing.conftest import csv_text, write

CLINIC_HEADER = [
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
CLINIC_ROWS = [
    [
        "R-001",
        "Jo",
        "Brown",
        "jo@example.com",
        "0412 345 678",
        "(02) 9387 0000",
        "8/8/86",
        "12 Smith St",
        "Bondi",
        "NSW",
        "2026",
    ],
    [
        "R-002",
        "Sam",
        "Lee",
        "n/a",
        "61412000111",
        "-",
        "08-Aug-1990",
        "3 Beach Rd",
        "Coogee",
        "NSW",
        "2034",
    ],
]


def count(session, model, *where) -> int:
    return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.fixture
def clinic_list(tmp_path):
    return write(tmp_path, "clinic.csv", csv_text(CLINIC_HEADER, CLINIC_ROWS))


@pytest.fixture
def uncertain_list(tmp_path):
    header = [*CLINIC_HEADER, "Emergency Contact Phone"]
    rows = [[*row, "0400 000 009"] for row in CLINIC_ROWS]
    return write(tmp_path, "uncertain.csv", csv_text(header, rows))


class TestTheClinicList:
    def test_the_plan_maps_every_header_and_the_import_keeps_names_and_both_phones(
        self, engine, session, org, cli, clinic_list
    ):
        # when
        result = cli("import", str(clinic_list), "--org", str(org.id))

        # then: the plan, printed before the summary, maps every column
        assert result.exit_code == 0, result.output
        plan = result.stderr
        assert "Column plan" in plan
        for header, field in [
            ("Client First Name", "first_name"),
            ("Mobile Ph", "phone"),
            ("Home Ph", "home_phone"),
            ("D.O.B.", "date_of_birth"),
            ("Client Ref", "external_id"),
        ]:
            line = next(line for line in plan.splitlines() if header in line)
            assert field in line, line
        contacts = {c.first_name: c for c in session.execute(select(Contact)).scalars()}
        assert set(contacts) == {"Jo", "Sam"}
        jo, sam = contacts["Jo"], contacts["Sam"]
        assert (jo.phone, str(jo.date_of_birth)) == ("+61412345678", "1986-08-08")
        assert (sam.phone, sam.email) == ("+61412000111", None)
        tels = session.execute(
            select(ContactIdentifier.value).where(
                ContactIdentifier.contact_id == jo.id, ContactIdentifier.namespace == "tel"
            )
        ).scalars()
        assert sorted(tels) == ["+61293870000", "+61412345678"]
        # placeholders are empty, not invalid values
        assert count(session, ImportRowError, ImportRowError.line > 1) == 0
        assert "Home Ph" not in json.dumps(jo.attributes or {})

    def test_json_summary_carries_the_plan(self, engine, org, cli, clinic_list):
        result = cli("import", str(clinic_list), "--org", str(org.id), "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        fields = {c["column"]: c["field"] for c in summary["columns"]}
        assert fields["Client First Name"] == "first_name"
        assert fields["Mobile Ph"] == "phone"


class TestAPlanThatNeedsADecision:
    def test_stops_before_writing_and_names_the_column_and_the_fixes(
        self, engine, session, org, cli, uncertain_list
    ):
        # when
        result = cli("import", str(uncertain_list), "--org", str(org.id))

        # then
        assert result.exit_code == 2, result.output
        assert "Emergency Contact Phone" in result.stderr
        assert "--map" in result.stderr and "--yes" in result.stderr
        assert (count(session, Contact), count(session, ImportJob)) == (0, 0)

    def test_yes_imports_the_file_as_planned(self, engine, session, org, cli, uncertain_list):
        result = cli("import", str(uncertain_list), "--org", str(org.id), "--yes")
        assert result.exit_code == 0, result.output
        firsts = session.execute(select(Contact.first_name)).scalars().all()
        assert sorted(firsts) == ["Jo", "Sam"]
        # the emergency contact's phone is not the client's
        assert count(session, ContactIdentifier, ContactIdentifier.value == "+61400000009") == 0

    def test_map_decides_the_column(self, engine, session, org, cli, uncertain_list):
        result = cli(
            "import",
            str(uncertain_list),
            "--org",
            str(org.id),
            "--map",
            "Emergency Contact Phone=metadata",
        )
        assert result.exit_code == 0, result.output
        assert count(session, Contact, Contact.first_name.is_not(None)) == 2

    def test_json_mode_prints_an_error_object(self, engine, session, org, cli, uncertain_list):
        result = cli("import", str(uncertain_list), "--org", str(org.id), "--json")
        assert result.exit_code == 2
        body = json.loads(result.stdout)
        assert body["error"]["code"] == "COLUMN_PLAN_REFUSED"
        assert [p["column"] for p in body["error"]["problems"]] == ["Emergency Contact Phone"]
        assert any(c["column"] == "Mobile Ph" for c in body["columns"])

    def test_a_dry_run_shows_the_plan_and_what_would_stop(
        self, engine, session, org, cli, uncertain_list
    ):
        result = cli("import", str(uncertain_list), "--org", str(org.id), "--dry-run")
        assert result.exit_code == 0, result.output
        assert "would stop" in result.stderr
        assert count(session, Contact) == 0

    def test_a_file_without_a_name_column_asks(self, engine, session, org, cli, tmp_path):
        path = write(tmp_path, "emails.csv", csv_text(["E-mail"], [["a@example.com"]]))
        result = cli("import", str(path), "--org", str(org.id))
        assert result.exit_code == 2
        assert "no name column" in result.stderr
        assert cli("import", str(path), "--org", str(org.id), "--yes").exit_code == 0

    def test_a_file_that_identifies_nobody_fails(self, engine, session, org, cli, tmp_path):
        path = write(tmp_path, "towns.csv", csv_text(["Suburb", "Postcode"], [["Bondi", "2026"]]))
        result = cli("import", str(path), "--org", str(org.id))
        assert result.exit_code == 1
        assert "no name column" in result.stderr and "no contact channel" in result.stderr
        assert count(session, ImportJob) == 0

    def test_strict_refuses_an_unknown_column(self, engine, session, org, cli, tmp_path):
        path = write(
            tmp_path,
            "extra.csv",
            csv_text(
                ["First Name", "Email", "Favourite Colour"], [["Jo", "jo@example.com", "red"]]
            ),
        )
        result = cli("import", str(path), "--org", str(org.id), "--strict", "--yes")
        assert result.exit_code == 2
        assert "Favourite Colour" in result.stderr
        decided = cli(
            "import",
            str(path),
            "--org",
            str(org.id),
            "--strict",
            "--map",
            "Favourite Colour=metadata",
        )
        assert decided.exit_code == 0, decided.output


class TestIssue12EndToEnd:
    def test_refused_then_imported_then_a_wrong_mapping_repaired_in_place(
        self, engine, session, org, cli, uncertain_list
    ):
        org_ref = str(org.id)
        # a real import of the clinic list stops with a clear message and writes nothing
        refused = cli("import", str(uncertain_list), "--org", org_ref)
        assert refused.exit_code == 2, refused.output
        assert "COLUMN_PLAN_REFUSED" in refused.stderr
        assert "Emergency Contact Phone" in refused.stderr and "--map" in refused.stderr
        assert (count(session, Contact), count(session, ImportJob)) == (0, 0)
        session.rollback()  # end the read: SQLite lets one writer in
        # a wrong mapping first: first names imported as notes
        wrong = cli(
            "import", str(uncertain_list), "--org", org_ref, "--yes",
            "--map", "Client First Name=notes", "--json",
        )  # fmt: skip
        assert wrong.exit_code == 0, wrong.output
        assert json.loads(wrong.stdout)["created"] == 2
        made = sorted(session.execute(select(Contact.id)).scalars())
        assert session.execute(select(Contact.first_name)).scalars().all() == [None, None]
        session.rollback()
        # then the plan fixed: the same contacts get their names and both phones
        right = cli(
            "import", str(uncertain_list), "--org", org_ref,
            "--map", "Emergency Contact Phone=metadata", "--json",
        )  # fmt: skip
        assert right.exit_code == 0, right.output
        summary = json.loads(right.stdout)
        assert (summary["created"], summary["updated"]) == (0, 2)
        assert sorted(session.execute(select(Contact.id)).scalars()) == made
        jo = session.execute(select(Contact).where(Contact.first_name == "Jo")).scalar_one()
        tels = session.execute(
            select(ContactIdentifier.value).where(
                ContactIdentifier.contact_id == jo.id, ContactIdentifier.namespace == "tel"
            )
        ).scalars()
        assert sorted(tels) == ["+61293870000", "+61412345678"]
        sam = session.execute(select(Contact).where(Contact.first_name == "Sam")).scalar_one()
        assert sam.phone == "+61412000111"
        # the emergency contact's phone is nobody's here
        assert count(session, ContactIdentifier, ContactIdentifier.value == "+61400000009") == 0
