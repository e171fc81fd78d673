"""Pets over GraphQL: Contact.pets, pet, petByMicrochip, createPet, updatePet (docs/pets.md)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from crm.models import Pet
from crm.pets.service import create_pet
from tests.graphql.conftest import top_level_error
from tests.graphql.test_sql_statements import recorded_statements

CREATE = """
mutation Create($input: CreatePetInput!) {
  createPet(input: $input) {
    pet { id name species sex desexed dateOfBirth weightKg microchip status version ownerId }
    errors { code field message }
  }
}
"""
UPDATE = """
mutation Update($input: UpdatePetInput!) {
  updatePet(input: $input) {
    pet { id name breed status version ownerId versions { version source normalized } }
    errors { code field message }
  }
}
"""
PET = """
query Pet($id: ID!) { pet(id: $id) { id name owner { id firstName } } }
"""
BY_CHIP = """
query ByChip($chip: String!) { petByMicrochip(microchip: $chip) { id name } }
"""
CONTACT_PETS = """
query ContactPets($id: ID!) { contact(id: $id) { id pets { name microchip status } } }
"""
PAGE_WITH_PETS = """
query Page($first: Int!) { contacts(first: $first) { edges { node { id pets { name } } } } }
"""


def new_pet(api, key, **fields):
    return api.data(CREATE, key=key, variables={"input": fields})["createPet"]


class TestCreateAndRead:
    def test_an_editor_creates_a_pet_readers_read_it(
        self, api, editor_key, reader_key, import_contact
    ):
        # given
        owner = import_contact(first_name="Ann", email="ann@example.com")
        # when
        result = new_pet(
            api,
            editor_key,
            ownerId=str(owner.id),
            name="Rex",
            species="Dog",
            sex="MALE",
            desexed=True,
            dateOfBirth="2020-01-31",
            weightKg=21.5,
            microchip="956 000 012 345 678",
        )
        # then
        assert result["errors"] == []
        pet = result["pet"]
        assert pet["microchip"] == "956000012345678"
        assert (pet["sex"], pet["status"], pet["version"]) == ("MALE", "ACTIVE", 1)
        assert pet["ownerId"] == str(owner.id)
        contact = api.data(CONTACT_PETS, key=reader_key, variables={"id": str(owner.id)})
        assert contact["contact"]["pets"] == [
            {"name": "Rex", "microchip": "956000012345678", "status": "ACTIVE"}
        ]
        read = api.data(PET, key=reader_key, variables={"id": pet["id"]})["pet"]
        assert read["owner"] == {"id": str(owner.id), "firstName": "Ann"}
        found = api.data(BY_CHIP, key=reader_key, variables={"chip": "956-000-012-345-678"})
        assert found["petByMicrochip"] == {"id": pet["id"], "name": "Rex"}

    def test_a_microchip_held_by_another_pet_is_a_conflict(self, api, editor_key, import_contact):
        # given
        ann = import_contact(first_name="Ann", email="ann@example.com")
        bob = import_contact(first_name="Bob", email="bob@example.com")
        new_pet(api, editor_key, ownerId=str(ann.id), name="Rex", microchip="956000012345678")
        # when
        result = new_pet(
            api, editor_key, ownerId=str(bob.id), name="Max", microchip="956000012345678"
        )
        # then
        assert result["pet"] is None
        assert [(e["code"], e["field"]) for e in result["errors"]] == [
            ("MICROCHIP_CONFLICT", "microchip")
        ]

    def test_bad_values_are_user_errors(self, api, editor_key, import_contact):
        # given
        ann = import_contact(first_name="Ann", email="ann@example.com")
        # when
        chip = new_pet(api, editor_key, ownerId=str(ann.id), name="Rex", microchip="12-34")
        date = new_pet(api, editor_key, ownerId=str(ann.id), name="Rex", dateOfBirth="2099-01-01")
        owner = new_pet(api, editor_key, ownerId="nope", name="Rex")
        weight = new_pet(api, editor_key, ownerId=str(ann.id), name="Rex", weightKg=-3)
        # then
        assert [(e["code"], e["field"]) for e in chip["errors"]] == [
            ("INVALID_MICROCHIP", "microchip")
        ]
        assert [(e["code"], e["field"]) for e in date["errors"]] == [
            ("INVALID_DATE", "dateOfBirth")
        ]
        assert [(e["code"], e["field"]) for e in owner["errors"]] == [("NOT_FOUND", "ownerId")]
        assert [(e["code"], e["field"]) for e in weight["errors"]] == [
            ("INVALID_INPUT", "weightKg")
        ]

    def test_a_query_with_a_bad_microchip_is_a_coded_error(self, api, reader_key):
        # when
        body = api.execute(BY_CHIP, key=reader_key, variables={"chip": "not a chip"})
        # then
        assert top_level_error(body)["extensions"]["code"] == "INVALID_MICROCHIP"


class TestUpdate:
    def test_a_change_is_a_new_version_and_a_stale_version_is_refused(
        self, api, editor_key, import_contact
    ):
        # given
        ann = import_contact(first_name="Ann", email="ann@example.com")
        pet = new_pet(api, editor_key, ownerId=str(ann.id), name="Rex")["pet"]
        # when
        changed = api.data(
            UPDATE,
            key=editor_key,
            variables={"input": {"id": pet["id"], "version": 1, "breed": "Kelpie"}},
        )["updatePet"]
        stale = api.data(
            UPDATE,
            key=editor_key,
            variables={"input": {"id": pet["id"], "version": 1, "status": "DECEASED"}},
        )["updatePet"]
        same = api.data(
            UPDATE,
            key=editor_key,
            variables={"input": {"id": pet["id"], "version": 2, "breed": "Kelpie"}},
        )["updatePet"]
        # then
        assert changed["errors"] == []
        assert (changed["pet"]["breed"], changed["pet"]["version"]) == ("Kelpie", 2)
        assert [v["version"] for v in changed["pet"]["versions"]] == [2, 1]
        assert changed["pet"]["versions"][0]["normalized"]["breed"] == "Kelpie"
        assert [e["code"] for e in stale["errors"]] == ["VERSION_CONFLICT"]
        assert (same["errors"], same["pet"]["version"]) == ([], 2)

    def test_owner_id_moves_the_pet(self, api, editor_key, import_contact):
        # given
        ann = import_contact(first_name="Ann", email="ann@example.com")
        bob = import_contact(first_name="Bob", email="bob@example.com")
        pet = new_pet(api, editor_key, ownerId=str(ann.id), name="Rex")["pet"]
        # when
        moved = api.data(
            UPDATE, key=editor_key, variables={"input": {"id": pet["id"], "ownerId": str(bob.id)}}
        )["updatePet"]
        # then
        assert moved["errors"] == []
        assert (moved["pet"]["ownerId"], moved["pet"]["version"]) == (str(bob.id), 2)


class TestPermissionsAndTenancy:
    def test_a_reader_cannot_create_or_update(self, api, reader_key, import_contact, session, org):
        # given
        ann = import_contact(first_name="Ann", email="ann@example.com")
        pet = create_pet(
            session, organization=org, owner_id=ann.id, data={"name": "Rex"}, actor=None
        )
        session.commit()
        # when
        created = api.execute(
            CREATE, key=reader_key, variables={"input": {"ownerId": str(ann.id), "name": "Max"}}
        )
        updated = api.execute(
            UPDATE, key=reader_key, variables={"input": {"id": str(pet.id), "name": "Max"}}
        )
        # then
        assert top_level_error(created)["message"]
        assert top_level_error(updated)["message"]
        with Session(session.get_bind()) as fresh:
            assert [p.name for p in fresh.execute(select(Pet)).scalars()] == ["Rex"]

    def test_another_organization_sees_nothing(self, api, foreign_key, editor_key, import_contact):
        # given
        ann = import_contact(first_name="Ann", email="ann@example.com")
        pet = new_pet(
            api, editor_key, ownerId=str(ann.id), name="Rex", microchip="956000012345678"
        )["pet"]
        # when
        read = api.data(PET, key=foreign_key, variables={"id": pet["id"]})
        by_chip = api.data(BY_CHIP, key=foreign_key, variables={"chip": "956000012345678"})
        create = api.data(
            CREATE, key=foreign_key, variables={"input": {"ownerId": str(ann.id), "name": "X"}}
        )["createPet"]
        update = api.data(
            UPDATE, key=foreign_key, variables={"input": {"id": pet["id"], "name": "X"}}
        )["updatePet"]
        # then
        assert read == {"pet": None}
        assert by_chip == {"petByMicrochip": None}
        assert [e["code"] for e in create["errors"]] == ["NOT_FOUND"]
        assert [e["code"] for e in update["errors"]] == ["NOT_FOUND"]


class TestStatements:
    def test_the_pets_of_a_page_cost_one_statement(
        self, engine, api, reader_key, import_batch, session, org
    ):
        # given
        ids = import_batch(
            records=[{"first_name": f"P{n}", "email": f"p{n}@x.com"} for n in range(30)]
        )
        for n, contact_id in enumerate(ids):
            create_pet(
                session, organization=org, owner_id=contact_id, data={"name": f"Pet{n}"}, actor=None
            )
        session.commit()
        # the key's first use in a minute also records last_used_at: not part of a page's cost
        api.data(PAGE_WITH_PETS, key=reader_key, variables={"first": 1})
        with recorded_statements(engine) as small:
            api.data(PAGE_WITH_PETS, key=reader_key, variables={"first": 2})
        # when
        with recorded_statements(engine) as large:
            data = api.data(PAGE_WITH_PETS, key=reader_key, variables={"first": 30})
        # then
        assert all(len(e["node"]["pets"]) == 1 for e in data["contacts"]["edges"])
        assert len(large) == len(small)


IMPORT = """
mutation Import($csv: String!) {
  importContacts(input: {csv: $csv}) {
    importJob { status created pets { created updated } }
    errors { code message }
  }
}
"""
PET_CSV = (
    "external_id,first_name,email,pet_name,species,microchip\r\n"
    "C1,Ann,ann@example.com,Rex,Dog,956000012345678\r\n"
    "C1,Ann,ann@example.com,Tom,Cat,\r\n"
)


class TestImportContacts:
    def test_an_import_counts_its_pets(self, api, editor_key, reader_key):
        # when
        first = api.data(IMPORT, key=editor_key, variables={"csv": PET_CSV})["importContacts"]
        again = api.data(
            IMPORT, key=editor_key, variables={"csv": PET_CSV.replace("Cat", "Kitten")}
        )["importContacts"]
        # then
        assert first["importJob"]["created"] == 1
        assert first["importJob"]["pets"] == {"created": 2, "updated": 0}
        assert again["importJob"]["pets"] == {"created": 0, "updated": 1}
        found = api.data(BY_CHIP, key=reader_key, variables={"chip": "956000012345678"})
        assert found["petByMicrochip"]["name"] == "Rex"
