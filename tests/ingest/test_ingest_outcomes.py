"""The pipeline takes a batch and says, per item, what happened and to which contact."""

from __future__ import annotations

import pytest

from crm.ingest import (
    CREATED,
    LINKED,
    UNCHANGED,
    UPDATED,
    Rejected,
    build_observation,
    ingest,
)


def outcomes_of(results):
    return [r.outcome for r in results]


class TestOutcomes:
    def test_a_new_person_is_created(self, observe, run, rows):
        # when
        [result] = run(observe(first_name="Ann", last_name="Lee", email="ann@example.com"))

        # then
        assert result.outcome == CREATED
        [contact] = rows.contacts()
        assert contact.id == result.contact_id
        assert (contact.first_name, contact.last_name) == ("Ann", "Lee")
        assert contact.email == "ann@example.com"

    def test_a_changed_record_from_the_same_source_is_updated(self, observe, run, rows):
        # given
        [first] = run(observe(external_id="p1", first_name="Ann", last_name="Lee"))

        # when
        [second] = run(observe(external_id="p1", first_name="Ann", last_name="Leigh"))

        # then
        assert second.outcome == UPDATED
        assert second.contact_id == first.contact_id
        assert rows.contact(first.contact_id).last_name == "Leigh"

    def test_the_same_record_again_is_unchanged(self, observe, run):
        # given
        [first] = run(observe(external_id="p1", first_name="Ann", email="ann@example.com"))

        # when
        [again] = run(observe(external_id="p1", first_name="Ann", email="ann@example.com"))

        # then
        assert again.outcome == UNCHANGED
        assert again.contact_id == first.contact_id

    def test_another_source_knowing_the_same_identifier_is_linked(self, observe, run, rows):
        # given
        [first] = run(observe(first_name="Ann", email="ann@example.com"))

        # when
        [other] = run(
            observe(
                source="whatsapp", first_name="Ann", phone="0412 345 678", email="ANN@example.com"
            )
        )

        # then
        assert other.outcome == LINKED
        assert other.contact_id == first.contact_id
        assert len(rows.contacts()) == 1
        assert {i.namespace for i in rows.identifiers()} == {"email", "tel"}

    def test_one_outcome_per_item_in_order(self, observe, run):
        # given
        run(observe(external_id="p1", first_name="Ann", email="ann@example.com"))
        run(observe(external_id="p2", first_name="Bob", email="bob@example.com"))

        # when
        results = run(
            observe(external_id="p3", first_name="Cat"),
            observe(external_id="p1", first_name="Ann", email="ann@example.com"),
            observe(source="whatsapp", first_name="Bob", email="bob@example.com"),
            observe(external_id="p2", first_name="Bob", last_name="Brown", email="bob@example.com"),
        )

        # then
        assert outcomes_of(results) == [CREATED, UNCHANGED, LINKED, UPDATED]
        assert [r.index for r in results] == [0, 1, 2, 3]
        assert results[2].contact_id == results[3].contact_id

    def test_the_line_of_each_item_is_carried_to_its_outcome(self, org, run):
        # given
        obs = build_observation({"first_name": "Ann"}, source="csv", region="AU", line=7)

        # when
        [result] = run(obs)

        # then
        assert result.line == 7


class TestRejection:
    def test_a_record_identifying_nobody_is_rejected(self):
        with pytest.raises(Rejected) as info:
            build_observation({"notes": "called twice"}, source="csv", region="AU")

        assert [i.code for i in info.value.issues] == ["NOTHING_TO_IDENTIFY"]

    def test_invalid_values_are_reported_with_the_rejection(self):
        with pytest.raises(Rejected) as info:
            build_observation({"email": "not-an-email", "phone": "12"}, source="csv", region="AU")

        codes = {(i.code, i.field) for i in info.value.issues}
        assert ("INVALID_EMAIL", "email") in codes
        assert ("NOTHING_TO_IDENTIFY", None) in codes

    def test_a_named_row_with_an_invalid_email_imports_without_it(self, observe, run, rows):
        # given
        obs = observe(first_name="Ann", email="not-an-email")

        # when
        [result] = run(obs)

        # then
        assert result.outcome == CREATED
        assert [(i.code, i.field) for i in result.issues] == [("INVALID_EMAIL", "email")]
        assert rows.contact(result.contact_id).email is None
        assert rows.identifiers() == []


class TestOwnerLookup:
    def test_the_same_source_record_finds_its_contact_before_any_identifier(
        self, observe, run, rows
    ):
        # given: Ann's record, and Robert who holds robert@example.com
        [ann] = run(observe(external_id="p1", first_name="Ann", email="ann@example.com"))
        [robert] = run(observe(source="whatsapp", first_name="Robert", email="robert@example.com"))

        # when: the source says its record p1 now has Robert's email
        [result] = run(observe(external_id="p1", first_name="Ann", email="robert@example.com"))

        # then
        assert result.outcome == UPDATED
        assert result.contact_id == ann.contact_id != robert.contact_id

    def test_an_external_id_is_scoped_to_its_source(self, observe, run, rows):
        # when
        results = run(
            observe(source="csv:clinic-a", external_id="17", first_name="Ann"),
            observe(source="csv:clinic-b", external_id="17", first_name="Bob"),
        )

        # then
        assert outcomes_of(results) == [CREATED, CREATED]
        assert len(rows.contacts()) == 2

    def test_an_exclusive_id_beats_a_shared_email(self, observe, run, rows):
        # given: Ann in the PMS; a CSV Ann (another record, maybe a namesake) holds the email
        [pms] = run(
            observe(
                source="cliniko",
                external_id="100",
                cliniko_id="100",
                first_name="Ann",
                last_name="Lee",
            )
        )
        [csv] = run(observe(first_name="Ann", last_name="Smith", email="ann@example.com"))

        # when
        [result] = run(
            observe(source="webform", cliniko_id="100", first_name="Ann", email="ann@example.com")
        )

        # then
        assert result.outcome == LINKED
        assert result.contact_id == pms.contact_id != csv.contact_id
        holders = [(i.contact_id, i.ordinal) for i in rows.identifiers("email")]
        assert holders == [(csv.contact_id, 0), (pms.contact_id, 1)]

    def test_a_pms_id_beats_an_instagram_handle(self, observe, run, rows):
        # given
        [insta] = run(observe(source="instagram", instagram="@annlee", first_name="Ann"))
        [pms] = run(observe(source="cliniko", cliniko_id="100", first_name="Ann"))

        # when: one record claims both
        [result] = run(
            observe(source="webform", first_name="Ann", instagram="@annlee", cliniko_id="100")
        )

        # then: the PMS patient is the owner; the handle stays with its holder
        assert result.contact_id == pms.contact_id
        assert [i.code for i in result.issues] == ["IDENTIFIER_CONFLICT"]
        assert [i.contact_id for i in rows.identifiers("instagram")] == [insta.contact_id]

    def test_instagram_beats_chatwoot(self, observe, run):
        # given
        [chat] = run(observe(source="chatwoot", chatwoot_id="c-9", first_name="Ann"))
        [insta] = run(observe(source="instagram", instagram="@annlee", first_name="Ann"))

        # when
        [result] = run(
            observe(source="webform", first_name="Ann", chatwoot_id="c-9", instagram="@annlee")
        )

        # then
        assert result.contact_id == insta.contact_id != chat.contact_id

    def test_a_whatsapp_number_finds_the_contact_imported_with_that_phone(self, observe, run):
        # given
        [imported] = run(observe(first_name="Ann", phone="0412 345 678"))

        # when
        [result] = run(observe(source="whatsapp", whatsapp="+61 412 345 678"))

        # then
        assert result.outcome == LINKED
        assert result.contact_id == imported.contact_id

    def test_a_phone_held_by_a_clearly_different_person_is_not_a_match(self, observe, run):
        # given
        [ann] = run(observe(first_name="Ann", phone="0412 345 678"))

        # when
        [result] = run(observe(source="whatsapp", first_name="George", phone="0412345678"))

        # then
        assert result.outcome == CREATED
        assert result.contact_id != ann.contact_id

    def test_a_different_date_of_birth_is_not_a_match(self, observe, run):
        # given
        [ann] = run(observe(first_name="Ann", email="ann@example.com", date_of_birth="1980-03-04"))

        # when
        [other] = run(
            observe(
                source="whatsapp",
                first_name="Ann",
                email="ann@example.com",
                date_of_birth="2011-06-09",
            )
        )

        # then
        assert other.outcome == CREATED
        assert other.contact_id != ann.contact_id

    def test_a_transposed_date_of_birth_still_matches(self, observe, run):
        # given
        [ann] = run(observe(first_name="Ann", email="ann@example.com", date_of_birth="1980-03-04"))

        # when
        [same] = run(
            observe(
                source="whatsapp",
                first_name="Ann",
                email="ann@example.com",
                date_of_birth="1980-04-03",
            )
        )

        # then
        assert same.contact_id == ann.contact_id

    def test_identifiers_are_scoped_to_the_organization(
        self, session, org, other_org, observe, run, rows
    ):
        # given
        [mine] = run(observe(first_name="Ann", email="ann@example.com"))

        # when
        obs = build_observation(
            {"first_name": "Ann", "email": "ann@example.com"}, source="csv", region="NZ"
        )
        [theirs] = ingest(session, organization=other_org, observations=[obs])
        session.commit()

        # then
        assert theirs.outcome == CREATED
        assert theirs.contact_id != mine.contact_id
        assert [c.id for c in rows.contacts()] == [mine.contact_id]


class TestWithinOneBatch:
    def test_duplicates_in_a_batch_collapse_to_one_contact(self, observe, run, rows):
        # when
        results = run(
            observe(first_name="Ann", email="ann@example.com"),
            observe(
                source="whatsapp", first_name="Ann", email="ann@example.com", phone="0412 345 678"
            ),
            observe(source="cliniko", cliniko_id="100", first_name="Annie", phone="+61412345678"),
        )

        # then
        assert outcomes_of(results) == [CREATED, LINKED, LINKED]
        assert len({r.contact_id for r in results}) == 1
        [contact] = rows.contacts()
        assert {(i.namespace, i.value) for i in rows.identifiers()} == {
            ("email", "ann@example.com"),
            ("tel", "+61412345678"),
            ("cliniko", "100"),
        }
        assert contact.version == 1

    def test_an_identical_row_twice_in_a_batch_is_unchanged_the_second_time(
        self, observe, run, rows
    ):
        # when
        results = run(
            observe(first_name="Ann", email="ann@example.com"),
            observe(first_name="Ann", email="ann@example.com"),
        )

        # then
        assert outcomes_of(results) == [CREATED, UNCHANGED]
        assert len(rows.records()) == 1

    def test_the_same_external_id_twice_keeps_the_last_version(self, observe, run, rows):
        # when
        results = run(
            observe(external_id="p1", first_name="Ann", last_name="Lee"),
            observe(external_id="p1", first_name="Ann", last_name="Leigh"),
        )

        # then
        assert results[0].contact_id == results[1].contact_id
        assert rows.contact(results[0].contact_id).last_name == "Leigh"
        assert [(r.version, r.is_current) for r in rows.records()] == [(1, False), (2, True)]

    def test_a_batch_repeating_a_record_is_a_no_op_the_second_time(self, observe, run, rows):
        # given: an export with one patient twice, the later row newer
        batch = [
            observe(external_id="p1", first_name="Ann", last_name="Lee"),
            observe(external_id="p1", first_name="Ann", last_name="Leigh"),
        ]
        [first, _] = run(*batch)
        version = rows.contact(first.contact_id).version

        # when
        again = run(*batch)

        # then
        assert outcomes_of(again) == [UNCHANGED, UNCHANGED]
        assert rows.contact(first.contact_id).version == version
        assert [r.version for r in rows.records()] == [1, 2]

    def test_an_exclusive_id_held_by_another_contact_is_a_conflict_not_a_link(
        self, observe, run, rows
    ):
        # given
        [ann] = run(
            observe(source="cliniko", external_id="100", cliniko_id="100", first_name="Ann")
        )
        [bob] = run(observe(source="instagram", instagram="@bob", first_name="Bob"))

        # when: Ann's PMS record now carries Bob's handle
        [result] = run(
            observe(
                source="cliniko",
                external_id="100",
                cliniko_id="100",
                first_name="Ann",
                instagram="@bob",
            )
        )

        # then
        assert result.outcome == UPDATED
        assert result.contact_id == ann.contact_id
        assert [(i.code, i.field) for i in result.issues] == [("IDENTIFIER_CONFLICT", "instagram")]
        assert [i.contact_id for i in rows.identifiers("instagram")] == [bob.contact_id]
        [event] = rows.events("identifier_conflict")
        assert event.contact_id == ann.contact_id
        assert event.data == {
            "namespace": "instagram",
            "value": "bob",
            "holder": str(bob.contact_id),
        }


class TestOversizedValues:
    def test_an_overlong_address_is_cut_to_fit_and_the_batch_goes_through(self, observe, run, rows):
        # when
        results = run(
            observe(first_name="Ann", city="Bondi " * 30, postal_code="2026" * 10),
            observe(first_name="Bob", address_line1="1 George St " * 30),
        )

        # then
        assert [r.outcome for r in results] == [CREATED, CREATED]
        ann = rows.contact(results[0].contact_id)
        assert (len(ann.city), len(ann.postal_code)) == (100, 20)
        assert len(rows.contact(results[1].contact_id).address_line1) == 200
