"""Importing pets from the client CSV: one row per pet, the owner repeated (docs/pets.md)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from crm.models import Contact, ImportRowError, Pet, PetVersion
from tests.importing.conftest import csv_text, import_text

HEADER = [
    "external_id",
    "first_name",
    "last_name",
    "email",
    "pet_name",
    "species",
    "breed",
    "pet_sex",
    "pet_date_of_birth",
    "microchip",
    "pet_external_id",
]


def owners_file(*rows: list[str]) -> str:
    return csv_text(HEADER, rows)


TWO_OWNERS = owners_file(
    [
        "C1",
        "Ann",
        "Lee",
        "ann@example.com",
        "Rex",
        "Dog",
        "Kelpie",
        "MN",
        "2019-03-01",
        "956 000 012 345 678",
        "P1",
    ],
    ["C1", "Ann", "Lee", "ann@example.com", "Tom", "Cat", "DSH", "F", "", "", "P2"],
    ["C2", "Bob", "Ray", "bob@example.com", "Fido", "dog", "", "female spayed", "", "", ""],
)


def pets(engine) -> list[Pet]:
    with Session(engine) as session:
        return list(session.execute(select(Pet).order_by(Pet.name)).scalars())


def versions(engine) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(PetVersion)).scalar_one()


def row_errors(engine) -> list[ImportRowError]:
    with Session(engine) as session:
        return list(session.execute(select(ImportRowError).order_by(ImportRowError.line)).scalars())


class TestImportWithPets:
    def test_each_row_a_pet_of_its_owner_and_owners_collapse(self, engine, org):
        # when
        job = import_text(engine, org, TWO_OWNERS)
        # then
        assert job.status == "succeeded"
        assert (job.created, job.rejected) == (2, 0)
        with Session(engine) as session:
            contacts = {c.email: c.id for c in session.execute(select(Contact)).scalars()}
        assert len(contacts) == 2
        found = {p.name: p for p in pets(engine)}
        assert set(found) == {"Rex", "Tom", "Fido"}
        rex = found["Rex"]
        assert rex.contact_id == contacts["ann@example.com"]
        assert found["Tom"].contact_id == contacts["ann@example.com"]
        assert found["Fido"].contact_id == contacts["bob@example.com"]
        assert (rex.species, rex.breed, rex.sex, rex.desexed) == ("Dog", "Kelpie", "male", True)
        assert rex.microchip == "956000012345678"
        assert rex.date_of_birth.isoformat() == "2019-03-01"
        assert (rex.source_system, rex.source_pet_id, rex.status) == ("csv", "P1", "active")
        assert (found["Fido"].sex, found["Fido"].desexed) == ("female", True)
        assert versions(engine) == 3

    def test_reimport_is_a_no_op(self, engine, org):
        # given
        import_text(engine, org, TWO_OWNERS)
        before = [(p.id, p.version, p.updated_at) for p in pets(engine)]
        # when
        job = import_text(engine, org, TWO_OWNERS)
        # then
        assert job.unchanged == 3
        assert [(p.id, p.version, p.updated_at) for p in pets(engine)] == before
        assert versions(engine) == 3

    def test_a_changed_pet_is_a_new_version(self, engine, org):
        # given
        import_text(engine, org, TWO_OWNERS)
        changed = TWO_OWNERS.replace("Kelpie", "Border Collie")
        # when
        import_text(engine, org, changed)
        # then
        rex = next(p for p in pets(engine) if p.name == "Rex")
        assert (rex.breed, rex.version) == ("Border Collie", 2)
        with Session(engine) as session:
            history = list(
                session.execute(
                    select(PetVersion)
                    .where(PetVersion.pet_id == rex.id)
                    .order_by(PetVersion.version)
                ).scalars()
            )
        assert [v.normalized["breed"] for v in history] == ["Kelpie", "Border Collie"]
        assert versions(engine) == 4

    def test_a_pet_without_source_id_is_keyed_by_owner_and_name(self, engine, org):
        # given
        import_text(engine, org, TWO_OWNERS)
        # when: Bob's Fido again, weighed now
        job = import_text(
            engine,
            org,
            csv_text(
                ["external_id", "first_name", "last_name", "email", "pet_name", "weight"],
                [["C2", "Bob", "Ray", "bob@example.com", "FIDO ", "12.5 kg"]],
            ),
        )
        # then
        assert job.status == "succeeded"
        fido = [p for p in pets(engine) if p.name_key == "fido"]
        assert len(fido) == 1
        assert (fido[0].weight_kg, fido[0].breed, fido[0].version) == (12.5, None, 2)

    def test_the_same_microchip_on_another_owner_is_a_conflict_not_a_move(self, engine, org):
        # given
        import_text(engine, org, TWO_OWNERS)
        # when: Bob's new row claims Rex's chip
        job = import_text(
            engine,
            org,
            owners_file(
                [
                    "C2",
                    "Bob",
                    "Ray",
                    "bob@example.com",
                    "Max",
                    "Dog",
                    "",
                    "",
                    "",
                    "956000012345678",
                    "",
                ]
            ),
        )
        # then
        assert job.status == "succeeded"
        rex = next(p for p in pets(engine) if p.name == "Rex")
        assert rex.microchip == "956000012345678"
        assert "Max" not in {p.name for p in pets(engine)}
        [error] = [e for e in row_errors(engine) if e.import_job_id == job.id]
        assert (error.code, error.column, error.rejected) == (
            "MICROCHIP_CONFLICT",
            "microchip",
            False,
        )

    def test_bad_values_are_row_warnings_and_the_owner_imports(self, engine, org):
        # when
        job = import_text(
            engine,
            org,
            owners_file(
                [
                    "C9",
                    "Cat",
                    "Woman",
                    "cw@example.com",
                    "Kit",
                    "Cat",
                    "",
                    "sometimes",
                    "31/02/2020",
                    "12-34",
                    "",
                ],
            ),
        )
        # then
        assert (job.status, job.created, job.rejected) == ("succeeded", 1, 0)
        [kit] = pets(engine)
        assert (kit.name, kit.sex, kit.date_of_birth, kit.microchip) == ("Kit", None, None, None)
        codes = {(e.code, e.column) for e in row_errors(engine)}
        assert codes == {
            ("INVALID_PET_SEX", "pet_sex"),
            ("INVALID_DATE", "pet_date_of_birth"),
            ("INVALID_MICROCHIP", "microchip"),
        }

    def test_a_file_without_pet_columns_makes_no_pets(self, engine, org):
        # when
        import_text(engine, org, csv_text(["first_name", "email"], [["Ann", "ann@example.com"]]))
        # then
        assert pets(engine) == []


class TestBatches:
    def test_pets_of_one_owner_across_batches(self, engine, org):
        # given: every row its own batch (stored one after the other, overlapped on PostgreSQL)
        rows = [
            ["C1", "Ann", "Lee", "ann@example.com", f"Pet {i}", "Dog", "", "", "", "", f"P{i}"]
            for i in range(5)
        ]
        # when
        job = import_text(engine, org, owners_file(*rows), batch_size=1)
        again = import_text(engine, org, owners_file(*rows), batch_size=1)
        # then
        assert (job.created, job.unchanged) == (1, 4)
        assert again.unchanged == 5
        found = pets(engine)
        assert len(found) == 5
        assert len({p.contact_id for p in found}) == 1
        assert versions(engine) == 5


class TestHeadersAndConflicts:
    def test_common_pet_headers_are_recognised(self, engine, org):
        # when
        job = import_text(
            engine,
            org,
            csv_text(
                [
                    "Client ID",
                    "First Name",
                    "E-mail",
                    "Pet Name",
                    "Animal Type",
                    "Microchip Number",
                    "Pet DOB",
                    "Desexed",
                    "Weight",
                    "Colour",
                ],
                [
                    [
                        "C1",
                        "Ann",
                        "ann@example.com",
                        "Rex",
                        "Dog",
                        "956.000.012.345.678",
                        "01/03/2019",
                        "no",
                        "30 lb",
                        "Red",
                    ]
                ],
            ),
        )
        # then
        assert job.status == "succeeded"
        [rex] = pets(engine)
        assert (rex.name, rex.species, rex.microchip, rex.desexed) == (
            "Rex",
            "Dog",
            "956000012345678",
            False,
        )
        assert (rex.date_of_birth.isoformat(), rex.weight_kg, rex.colour) == (
            "2019-03-01",
            13.608,
            "Red",
        )
        assert not [e for e in row_errors(engine) if e.code == "UNKNOWN_COLUMN"]

    def test_a_source_pet_id_under_another_owner_is_not_moved(self, engine, org):
        # given
        import_text(engine, org, TWO_OWNERS)
        # when: the source now lists P1 under Bob
        job = import_text(
            engine,
            org,
            owners_file(
                ["C2", "Bob", "Ray", "bob@example.com", "Rex", "Dog", "", "", "", "", "P1"]
            ),
        )
        # then
        with Session(engine) as session:
            ann = session.execute(
                select(Contact).where(Contact.email == "ann@example.com")
            ).scalar_one()
        rex = next(p for p in pets(engine) if p.source_pet_id == "P1")
        assert rex.contact_id == ann.id
        codes = [e.code for e in row_errors(engine) if e.import_job_id == job.id]
        assert codes == ["PET_OWNER_CONFLICT"]

    def test_a_dry_run_stores_no_pet_and_reports_bad_values(self, engine, org):
        # when
        job = import_text(
            engine,
            org,
            owners_file(
                ["C9", "Cat", "Woman", "cw@example.com", "Kit", "Cat", "", "Q", "", "", ""]
            ),
            dry_run=True,
        )
        # then
        assert job.status == "succeeded"
        assert pets(engine) == []
        assert [e.code for e in row_errors(engine)] == ["INVALID_PET_SEX"]

    def test_a_dry_run_warns_of_the_unnamed_new_pets_the_import_skips(self, engine, org):
        # given: a pet with no name, id or microchip (only a breed), and a rejected owner row
        text = owners_file(
            ["C1", "Ann", "Lee", "ann@example.com", "", "", "Kelpie", "", "", "", ""],
            ["", "", "", "", "", "", "Poodle", "", "", "", ""],
        )
        # when
        dry = import_text(engine, org, text, dry_run=True)
        dry_codes = sorted((e.line, e.code) for e in row_errors(engine))
        real = import_text(engine, org, text)
        # then: the dry run warns as the import does
        real_codes = sorted(
            (e.line, e.code) for e in row_errors(engine) if e.import_job_id == real.id
        )
        assert dry.status == "succeeded"
        assert dry_codes == real_codes == [(2, "MISSING_PET_NAME"), (3, "NOTHING_TO_IDENTIFY")]
