"""Every change the pipeline makes is written to the contact's append-only history."""

from __future__ import annotations

from crm.ingest import LINKED, ingest


class TestEvents:
    def test_a_new_contact_has_a_created_event(self, observe, run, rows):
        # when
        [result] = run(observe(source="cliniko", first_name="Ann", email="ann@example.com"))

        # then
        [event] = rows.events()
        assert (event.kind, event.contact_id, event.source, event.actor) == (
            "created",
            result.contact_id,
            "cliniko",
            "test",
        )
        assert event.data["fields"] == {"first_name": "Ann", "email": "ann@example.com"}

    def test_a_changed_field_records_old_and_new_values_and_the_source(self, observe, run, rows):
        # given
        [first] = run(
            observe(
                source="cliniko",
                external_id="1",
                first_name="Ann",
                last_name="Lee",
                date_of_birth="1980-03-04",
            )
        )

        # when
        run(
            observe(
                source="cliniko",
                external_id="1",
                first_name="Ann",
                last_name="Leigh",
                date_of_birth="1980-03-05",
            )
        )

        # then
        changes = {
            (e.field, e.old_value, e.new_value, e.source)
            for e in rows.events("field_changed", first.contact_id)
        }
        assert changes == {
            ("last_name", "Lee", "Leigh", "cliniko"),
            ("date_of_birth", "1980-03-04", "1980-03-05", "cliniko"),
        }

    def test_a_field_that_appears_is_a_change_from_nothing(self, observe, run, rows):
        # given
        [first] = run(observe(first_name="Ann", email="ann@example.com"))

        # when
        run(
            observe(
                source="whatsapp", first_name="Ann", email="ann@example.com", phone="0412 345 678"
            )
        )

        # then
        [change] = rows.events("field_changed", first.contact_id)
        assert (change.field, change.old_value, change.new_value, change.source) == (
            "phone",
            None,
            "+61412345678",
            "whatsapp",
        )

    def test_a_new_identifier_on_an_existing_contact_is_linked(self, observe, run, rows):
        # given
        [first] = run(observe(first_name="Ann", email="ann@example.com"))

        # when
        [result] = run(
            observe(
                source="whatsapp",
                first_name="Ann",
                email="ann@example.com",
                whatsapp="0412 345 678",
            )
        )

        # then
        assert result.outcome == LINKED
        [event] = rows.events("identifier_linked")
        assert (event.contact_id, event.source) == (first.contact_id, "whatsapp")
        assert event.data == {"namespace": "tel", "value": "+61412345678", "ordinal": 0}

    def test_a_shared_identifier_links_with_its_ordinal(self, observe, run, rows):
        # given: Oliver shares his mother's email; later his own record adds it again
        run(observe(first_name="Margaret", email="family@example.com"))
        [oliver] = run(observe(source="cliniko", cliniko_id="7", first_name="Oliver"))

        # when
        run(
            observe(
                source="whatsapp", cliniko_id="7", first_name="Oliver", email="family@example.com"
            )
        )

        # then
        [event] = rows.events("identifier_linked")
        assert event.contact_id == oliver.contact_id
        assert event.data == {"namespace": "email", "value": "family@example.com", "ordinal": 1}

    def test_an_unchanged_record_writes_no_event(self, observe, run, rows):
        # given
        run(observe(first_name="Ann", email="ann@example.com"))
        count = len(rows.events())

        # when
        run(observe(first_name="Ann", email="ann@example.com"))

        # then
        assert len(rows.events()) == count

    def test_events_carry_the_actor(self, session, org, observe, rows):
        # when
        ingest(
            session, organization=org, actor="api_key:42", observations=[observe(first_name="Ann")]
        )
        session.commit()

        # then
        assert [e.actor for e in rows.events()] == ["api_key:42"]
