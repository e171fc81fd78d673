"""What an import tells the person who ran it: every warning and reject where it ran, an
honest dry run, a re-import that repairs, an export that round-trips, named file problems."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session
from typer.testing import CliRunner

from crm.cli import app
from crm.models import Contact, ImportJob
from tests.importing.conftest import csv_text, import_text, write

# "Favourite Colour" is a column no field claims (a bare "Colour" is a pet's colour)
HEADER = ["Client ID", "First Name", "Surname", "Email", "Mobile", "DOB", "Favourite Colour"]


def crm(*args: str | Path):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def crm_json(*args: str | Path) -> dict:
    result = crm(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def contacts(engine) -> list[Contact]:
    with Session(engine) as s:
        return list(
            s.exec(select(Contact).where(Contact.status == "active").order_by(Contact.id))
            .scalars()
            .all()
        )


def job_errors(job_id: str) -> list[tuple]:
    """Every warning and reject of a job as ``crm imports show --errors --json`` gives them."""
    shown = crm_json("imports", "show", job_id, "--errors")
    return sorted(
        (e["line"], e["column"] or "", e["code"], e["message"], e["rejected"])
        for code in shown["codes"].values()
        for e in code["lines"]
    )


def mixed_rows() -> list[list[str]]:
    """Duplicates within the file, rows matching stored contacts, invalid values, rejects."""
    return [
        ["A1", "John", "Smith", "john@example.com", "0412 345 678", "31/01/1980", "blue"],
        ["A2", "Mary", "Smith", "john@example.com", "", "", "red"],
        ["", "Bad", "Email", "not-an-email", "+61 400 000 003", "", ""],
        ["", "", "", "bad", "12", "", ""],
        ["A5", "Jo", "Brown", "jo@example.com", "+61 400 000 001", "1990-02-03", ""],
        ["A1", "John", "Smith", "john@example.com", "0412 345 678", "31/01/1980", "blue"],
        ["", "Dup", "Row", "dup@example.com", "", "31/02/1990", ""],
        ["", "Dup", "Row", "dup@example.com", "", "31/02/1990", ""],
        ["", "Old", "Friend", "old@example.com", "0400 111 222", "", ""],
        ["", "", "", "", "", "", "green"],
        ["A9", "Ann", "Lee", "also-bad@", "", "", ""],
    ]


class TestWarningsAreShownWhereTheImportRan:
    def test_the_summary_is_followed_by_counts_per_code_and_the_first_lines(
        self, engine, org, tmp_path
    ):
        # given: seven rows with an invalid email (values a user would not want echoed)
        rows = [[f"X{n}", f"Name{n}", "Fam", f"secret{n}-at-nowhere", "", "", ""] for n in range(7)]
        path = write(tmp_path, "clients.csv", csv_text(HEADER, rows))
        # when
        everything = crm("import", path, "--org", org.name, "--show-all", "--dry-run")
        shown = crm("import", path, "--org", org.name)
        # then: counts per code, the first five lines, and where to see the rest
        assert shown.exit_code == 0, shown.output
        assert "INVALID_EMAIL" in shown.stdout and "UNKNOWN_COLUMN" in shown.stdout
        assert "line 2 column email" in shown.stdout
        assert "line 6 column email" in shown.stdout
        assert "line 7 column email" not in shown.stdout
        assert "and 2 more" in shown.stdout and "--show-all" in shown.stdout
        assert "line 8 column email" in everything.stdout
        assert "secret" not in shown.stdout + everything.stdout

    def test_json_carries_the_counts_per_code_with_their_first_lines(self, engine, org, tmp_path):
        path = write(tmp_path, "clients.csv", csv_text(HEADER, mixed_rows()))

        body = crm_json("import", path, "--org", org.name)

        assert body["codes"]["INVALID_EMAIL"]["warnings"] == 2
        assert body["codes"]["INVALID_EMAIL"]["rejected"] == 1
        assert body["codes"]["NOTHING_TO_IDENTIFY"]["rejected"] == 2
        first = body["codes"]["INVALID_EMAIL"]["lines"][0]
        assert (first["line"], first["column"]) == (4, "email")

    def test_imports_list_and_show_give_status_counts_options_and_every_error(
        self, engine, org, other_org, tmp_path
    ):
        # given: two imports of this organization, one of another
        path = write(tmp_path, "clients.csv", csv_text(HEADER, mixed_rows()))
        first = crm_json("import", path, "--org", org.name, "--dry-run")
        second = crm_json("import", path, "--org", org.name, "--map", "Favourite Colour=notes")
        crm_json("import", path, "--org", other_org.name)
        # when
        listed = crm("imports", "list", "--org", org.name, "--json")
        shown = crm_json("imports", "show", second["job_id"], "--errors")
        table = crm("imports", "show", first["job_id"])
        # then: newest first, this organization's only
        assert listed.exit_code == 0, listed.output
        jobs = [json.loads(line) for line in listed.stdout.splitlines()]
        assert [j["job_id"] for j in jobs] == [second["job_id"], first["job_id"]]
        assert jobs[1]["dry_run"] is True
        assert shown["status"] == "succeeded"
        assert shown["options"]["column_map"] == {"favouritecolour": "notes"}
        assert shown["rejected"] == second["rejected"] == 2
        assert len(job_errors(second["job_id"])) == sum(
            c["warnings"] + c["rejected"] for c in shown["codes"].values()
        )
        assert table.exit_code == 0 and "INVALID_EMAIL" in table.stdout
        # the text listing gives whole job ids, what `imports show` takes
        text = crm("imports", "list", "--org", org.name).stdout
        assert second["job_id"] in text and "(dry run)" in text
        assert crm("imports", "show", "not-a-job").exit_code == 2


class TestDryRunsAreHonest:
    def test_a_dry_run_reports_what_the_import_then_does(self, engine, org, tmp_path):
        # given: an organization that knows one of the file's people
        import_text(engine, org, "First Name,Surname,Email\nOld,Friend,old@example.com\n")
        path = write(tmp_path, "clients.csv", csv_text(HEADER, mixed_rows()))
        before = len(contacts(engine))
        # when: a dry run, then the import, each with a rejects file
        dry = crm_json(
            "import", path, "--org", org.name, "--dry-run", "--rejects", tmp_path / "dry.csv"
        )
        after_dry_run = len(contacts(engine))
        real = crm_json("import", path, "--org", org.name, "--rejects", tmp_path / "real.csv")
        # then: the same counts, warnings, row errors and rejects file; nothing written before
        assert after_dry_run == before
        counted = ("rows", "created", "updated", "unchanged", "linked", "rejected", "warnings")
        assert {k: dry[k] for k in counted} == {k: real[k] for k in counted}
        assert dry["codes"] == real["codes"]
        assert job_errors(dry["job_id"]) == job_errors(real["job_id"])
        rejected = (tmp_path / "dry.csv").read_text(encoding="utf-8")
        assert rejected == (tmp_path / "real.csv").read_text(encoding="utf-8")
        assert len(rejected.splitlines()) == 1 + dry["rejected"] == 3
        assert dry["created"] and dry["linked"] and dry["unchanged"] and dry["warnings"]

    def test_preview_says_what_becomes_of_the_first_rows(self, engine, org, tmp_path):
        import_text(engine, org, "First Name,Surname,Email\nOld,Friend,old@example.com\n")
        path = write(tmp_path, "clients.csv", csv_text(HEADER, mixed_rows()))
        (known,) = contacts(engine)

        body = crm_json("import", path, "--org", org.name, "--dry-run", "--preview", "9")
        shown = crm("import", path, "--org", org.name, "--dry-run", "--preview", "9")

        preview = {row["line"]: row for row in body["preview"]}
        assert sorted(preview) == list(range(2, 11))
        assert preview[2]["outcome"] == "created"
        assert preview[5]["outcome"] == "rejected"
        assert "NOTHING_TO_IDENTIFY" in preview[5]["codes"]
        assert preview[7]["outcome"] == "unchanged"  # line 2 again
        assert preview[7]["new_contact_from_line"] == 2
        assert (preview[10]["outcome"], preview[10]["contact_id"]) == ("linked", str(known.id))
        assert "line 10: linked: contact " + str(known.id) in shown.stdout
        assert len(contacts(engine)) == 1


WRONG = ["Client First Name", "Surname", "Email", "Mobile Ph"]


class TestReimportAfterABadMapping:
    def test_the_corrected_mapping_repairs_the_contacts_the_first_import_made(
        self, engine, org, tmp_path
    ):
        # given: a file whose first names were imported as notes and phones kept as metadata
        # (two columns mapped to one field is refused by the column plan)
        rows = [[f"Name{n}", f"Fam{n}", f"p{n}@example.com", f"0412 000 {n:03d}"] for n in range(6)]
        rows.append(["Lone", "Ranger", "", ""])
        rows.append(["", "Nomail", "", "0412 999 999"])
        path = write(tmp_path, "clients.csv", csv_text(WRONG, rows))
        wrong = crm_json(
            "import", path, "--org", org.name, "--map", "Client First Name=notes",
            "--map", "Mobile Ph=metadata",
        )  # fmt: skip
        made = contacts(engine)
        # when: the same file with the right mapping
        right = crm_json(
            "import", path, "--org", org.name, "--map", "Client First Name=first_name",
            "--map", "Mobile Ph=phone",
        )  # fmt: skip
        # then: the same contacts, now with their first names and phones
        assert wrong["created"] == len(made) == 8
        assert right["created"] == 0 and right["updated"] == 8
        repaired = contacts(engine)
        assert [c.id for c in repaired] == [c.id for c in made]
        by_last = {c.last_name: c for c in repaired}
        assert by_last["Fam3"].first_name == "Name3"
        assert by_last["Fam3"].phone == "+61412000003"
        assert by_last["Nomail"].phone == "+61412999999"
        # and once more: nothing left to do
        assert crm_json("import", path, "--org", org.name, "--map", "Client First Name=first_name",
                        "--map", "Mobile Ph=phone")["unchanged"] == 8  # fmt: skip

    def test_rows_stored_under_their_content_id_before_are_still_unchanged(self, engine, org):
        # given: rows stored as imports stored them before rows had a line identity
        from crm.ingest import build_observation, ingest

        records = [{"first_name": "Lone", "last_name": "Ranger"}, {"first_name": "Tonto"}]
        with Session(engine) as s:
            observations = [
                build_observation(r, source="csv", region=org.default_region, line=n + 2)
                for n, r in enumerate(records)
            ]
            assert all(o.source_id.startswith("h:") for o in observations)
            ingest(s, organization=org, observations=observations, actor="test")
            s.commit()
        # when: the same file imported again
        job = import_text(engine, org, "First Name,Surname\nLone,Ranger\nTonto,\n")
        # then: nothing new
        assert (job.unchanged, job.created, job.linked) == (2, 0, 0)
        assert len(contacts(engine)) == 2


def export_rows(org) -> list[dict[str, str]]:
    result = crm("export", "--org", org.name)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


class TestExportRoundTrip:
    def test_external_ids_are_exported_and_an_export_imports_as_a_no_op(
        self, engine, org, tmp_path
    ):
        # given: contacts from a clinic's file, with and without its reference
        import_text(engine, org, csv_text(HEADER, mixed_rows()))
        rows = export_rows(org)
        # when
        text = csv_text(list(rows[0]), [list(r.values()) for r in rows])
        again = crm_json("import", write(tmp_path, "export.csv", text), "--org", org.name)
        # then
        assert {r["external_id"] for r in rows} >= {"A1", "A2", "A5", "A9"}
        assert again["unchanged"] == again["rows"] == len(rows)

    def test_an_edited_export_row_counts_as_updated(self, engine, org, tmp_path):
        # given: an export, one row with the clinic's reference edited, one without it
        import_text(engine, org, csv_text(HEADER, mixed_rows()))
        rows = export_rows(org)
        for row in rows:
            if row["external_id"] == "A5":
                row["first_name"] = "Joanne"
            if row["last_name"] == "Friend":
                assert row["external_id"] == ""
                row["first_name"] = "Harriet"
        text = csv_text(list(rows[0]), [list(r.values()) for r in rows])
        # when
        again = crm_json("import", write(tmp_path, "export.csv", text), "--org", org.name)
        # then
        assert (again["updated"], again["linked"], again["created"]) == (2, 0, 0)
        assert again["unchanged"] == len(rows) - 2
        names = {c.last_name: c.first_name for c in contacts(engine)}
        assert names["Brown"] == "Joanne" and names["Friend"] == "Harriet"


class TestStructuralProblemsAreNamed:
    def test_a_stray_quote_is_rejected_with_its_line_and_the_lines_it_swallowed(self, engine, org):
        # given: a quote opened on line 4 and closed only on line 9
        lines = ["First Name,Surname,Email,Notes"]
        lines += [f"P{n},Fam{n},p{n}@example.com,ok" for n in range(2)]
        lines.append('Stray,Quote,sq@example.com,"he said')
        lines += [f"Q{n},Fam{n},q{n}@example.com,ok" for n in range(4)]
        lines.append('R,Fam,r@example.com,"and then" ok')
        lines.append('Legit,Multi,lm@example.com,"Unit 4\nback door"')
        # when
        job = import_text(engine, org, "\n".join(lines) + "\n")
        # then
        with Session(engine) as s:
            from crm.models import ImportRowError

            (error,) = s.exec(
                select(ImportRowError).where(ImportRowError.code == "UNBALANCED_QUOTE")
            ).scalars()
        assert (error.line, error.column, error.rejected) == (4, "Notes", True)
        assert "line 4" in error.message and "5 lines" in error.message
        assert "lines 5 to 9" in error.message
        assert job.rejected == 1 and job.created == 3  # the multi-line note is a real row

    def test_an_undecodable_line_mid_file_keeps_the_rows_before_and_names_it(self, engine, org):
        # given: a bad byte beyond the first 64 KiB, on line 702
        pad = "x" * 100
        good = "".join(f"N{n},F{n},{pad}\n" for n in range(700))
        data = ("First Name,Surname,Notes\n" + good).encode() + b"Bad\xff,Row,\nC,D,\n"
        # when
        from crm.importing.reader import ImportFailed
        from tests.importing.conftest import import_bytes

        with pytest.raises(ImportFailed) as failed:
            import_bytes(engine, org, data)
        # then: the same on SQLite and PostgreSQL: rows before kept, the job failed at the line
        assert "line 702" in failed.value.message
        with Session(engine) as s:
            job = s.exec(select(ImportJob)).scalars().one()
            stored = s.exec(select(func.count()).select_from(Contact)).one()[0]
        assert job.status == "failed" and "line 702" in (job.error or "")
        assert stored == job.created == 700


class TestPetsAreCounted:
    def test_the_summary_says_how_many_pets_the_import_created_and_changed(
        self, engine, org, tmp_path
    ):
        header = ["Client ID", "First Name", "Email", "Pet Name", "Species"]
        rows = [
            ["C1", "Ann", "ann@example.com", "Rex", "Dog"],
            ["C1", "Ann", "ann@example.com", "Tom", "Cat"],
        ]
        path = write(tmp_path, "pets.csv", csv_text(header, rows))
        plain = write(tmp_path, "plain.csv", csv_text(header[:3], [rows[0][:3]]))

        first = crm_json("import", path, "--org", org.name)
        rows[1][4] = "Kitten"
        changed = crm(
            "import", write(tmp_path, "pets.csv", csv_text(header, rows)), "--org", org.name
        )

        assert first["pets"] == {"created": 2, "updated": 0}
        assert changed.exit_code == 0, changed.output
        assert "pets: 0 created, 1 updated" in changed.stdout
        assert "pets" not in crm_json("import", plain, "--org", org.name)

    def test_the_preview_says_which_rows_carry_a_pet(self, engine, org, tmp_path):
        header = ["Client ID", "First Name", "Email", "Pet Name"]
        rows = [["C1", "Ann", "ann@example.com", "Rex"], ["C1", "Ann", "ann@example.com", "Tom"]]
        rows.append(["C2", "Bob", "bob@example.com", ""])
        path = write(tmp_path, "pets.csv", csv_text(header, rows))

        body = crm_json("import", path, "--org", org.name, "--dry-run", "--preview", "3")

        notes = [row["note"] for row in body["preview"]]
        assert notes == ["with a pet", "with a pet", ""]
