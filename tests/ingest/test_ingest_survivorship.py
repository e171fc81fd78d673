"""Survivorship: PMS > direct > CSV > social, newest within a class, manual edits hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crm.contacts.commands import update_contact
from crm.ingest.priorities import CSV, DIRECT, PMS, SOCIAL, source_priority
from crm.ingest.survivorship import Observed, survive

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def seen(source: str, minutes: int, **fields) -> Observed:
    return Observed(source=source, observed_at=at(minutes), fields=fields)


class TestPriorities:
    @pytest.mark.parametrize(
        ("source", "level"),
        [
            ("cliniko", PMS),
            ("Gentu", PMS),
            ("whatsapp", DIRECT),
            ("careportals", DIRECT),
            ("csv", CSV),
            ("csv:clinic-a", CSV),
            ("instagram", SOCIAL),
            ("something-new", CSV),
        ],
    )
    def test_source_classes(self, source, level):
        assert source_priority(source) == level

    def test_an_organization_can_reorder_sources(self):
        assert source_priority("csv:clinic-a", {"csv": 50}) == 50
        assert source_priority("csv:clinic-a", {"csv:clinic-a": 5, "csv": 50}) == 5


class TestSurvive:
    def test_the_highest_priority_source_wins_even_when_older(self):
        result = survive(
            [
                seen("instagram", 4, last_name="D"),
                seen("csv", 3, last_name="C"),
                seen("whatsapp", 2, last_name="B"),
                seen("cliniko", 1, last_name="A"),
            ]
        )

        assert result.fields["last_name"] == "A"
        assert result.provenance["last_name"] == {
            "source": "cliniko",
            "observed_at": at(1).isoformat(),
        }
        assert result.primary_source == "cliniko"

    def test_a_field_comes_from_the_best_source_that_has_it(self):
        result = survive([seen("cliniko", 1, last_name="A"), seen("csv", 2, city="Bondi")])

        assert result.fields == {"last_name": "A", "city": "Bondi"}
        assert result.provenance["city"]["source"] == "csv"

    def test_recency_breaks_a_tie_within_a_class(self):
        result = survive([seen("sms", 2, last_name="New"), seen("whatsapp", 1, last_name="Old")])

        assert result.fields["last_name"] == "New"

    def test_every_loser_is_a_conflict(self):
        result = survive(
            [
                seen("cliniko", 1, last_name="A"),
                seen("csv", 2, last_name="C"),
                seen("csv:b", 3, last_name="A"),
            ]
        )

        assert result.conflicts == [("last_name", "csv", "C", "A")]

    def test_a_manual_edit_beats_older_observations_and_newer_lower_ones(self):
        result = survive(
            [
                seen("cliniko", 1, last_name="Pms"),
                seen("manual", 2, last_name="Edit"),
                seen("whatsapp", 3, last_name="Chat"),
                seen("csv", 4, last_name="Csv"),
            ]
        )

        assert result.fields["last_name"] == "Edit"

    def test_a_newer_pms_observation_replaces_a_manual_edit(self):
        result = survive([seen("manual", 2, last_name="Edit"), seen("cliniko", 3, last_name="P")])

        assert result.fields["last_name"] == "P"

    def test_the_newest_manual_edit_wins(self):
        result = survive(
            [
                seen("manual", 1, last_name="First"),
                seen("cliniko", 2, last_name="P"),
                seen("manual", 3, last_name="Second"),
            ]
        )

        assert result.fields["last_name"] == "Second"

    def test_empty_values_never_win(self):
        result = survive([seen("cliniko", 1, last_name=""), seen("csv", 2, last_name="C")])

        assert result.fields["last_name"] == "C"


ORDERS = {
    "lowest-first": ["instagram", "csv", "whatsapp", "cliniko"],
    "highest-first": ["cliniko", "whatsapp", "csv", "instagram"],
    "mixed": ["csv", "cliniko", "instagram", "whatsapp"],
}
CITY = {"cliniko": "Bondi", "whatsapp": "Coogee", "csv": "Manly", "instagram": "Sydney"}


class TestSurvivorshipInThePipeline:
    @pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
    def test_priority_decides_regardless_of_arrival_order(self, observe, run, rows, order):
        # when: each source arrives in its own batch, the later ones observed later
        for minutes, source in enumerate(order):
            [result] = run(
                observe(
                    source=source,
                    observed_at=at(minutes),
                    first_name="Kate",
                    email="kate@example.com",
                    city=CITY[source],
                )
            )

        # then
        contact = rows.contact(result.contact_id)
        assert len(rows.contacts()) == 1
        assert contact.city == "Bondi"
        assert contact.field_sources["city"]["source"] == "cliniko"
        assert contact.primary_source == "cliniko"
        assert contact.source_systems == sorted(CITY)

    def test_without_pms_direct_beats_csv_beats_social(self, observe, run, rows):
        # when
        run(
            observe(
                source="whatsapp",
                observed_at=at(0),
                first_name="Kate",
                email="kate@example.com",
                city="Coogee",
            )
        )
        run(
            observe(
                source="csv",
                observed_at=at(1),
                first_name="Kate",
                email="kate@example.com",
                city="Manly",
                postal_code="2095",
            )
        )
        [result] = run(
            observe(
                source="instagram",
                observed_at=at(2),
                first_name="Kate",
                email="kate@example.com",
                city="Sydney",
                postal_code="2000",
                address_line1="1 George St",
            )
        )

        # then: each field from the best source that has it
        contact = rows.contact(result.contact_id)
        assert (contact.city, contact.postal_code, contact.address_line1) == (
            "Coogee",
            "2095",
            "1 George St",
        )
        assert {k: v["source"] for k, v in contact.field_sources.items()} == {
            "first_name": "whatsapp",
            "email": "whatsapp",
            "city": "whatsapp",
            "postal_code": "csv",
            "address_line1": "instagram",
        }

    def test_the_newer_observation_wins_within_a_class(self, observe, run, rows):
        # given: the SMS gateway's record was observed after WhatsApp's but arrives first
        run(
            observe(
                source="sms",
                observed_at=at(5),
                first_name="Kate",
                email="kate@example.com",
                city="Newer",
            )
        )

        # when
        [result] = run(
            observe(
                source="whatsapp",
                observed_at=at(1),
                first_name="Kate",
                email="kate@example.com",
                city="Older",
            )
        )

        # then
        contact = rows.contact(result.contact_id)
        assert contact.city == "Newer"
        assert contact.field_sources["city"]["source"] == "sms"

    def test_organization_priorities_override_the_defaults(self, session, org, observe, run, rows):
        # given
        org.settings = {"source_priorities": {"csv": 99}}
        session.add(org)
        session.commit()

        # when
        run(observe(source="cliniko", first_name="Kate", email="kate@example.com", city="A"))
        [result] = run(observe(source="csv", first_name="Kate", email="kate@example.com", city="B"))

        # then
        assert rows.contact(result.contact_id).city == "B"


class TestManualEdits:
    @pytest.fixture
    def kate(self, session, org, observe, run):
        """Kate from the PMS an hour ago, then edited by hand now."""
        [result] = run(
            observe(
                source="cliniko",
                external_id="100",
                observed_at=at(0),
                first_name="Kate",
                last_name="Pms",
                email="kate@example.com",
            )
        )
        contact = update_contact(
            session,
            organization=org,
            contact_id=result.contact_id,
            version=None,
            data={"last_name": "Manual"},
            actor="staff",
        )
        session.commit()
        assert contact.last_name == "Manual"
        return contact

    def test_the_edit_is_provenanced_as_manual(self, kate, rows):
        assert rows.contact(kate.id).field_sources["last_name"]["source"] == "manual"

    def test_a_later_csv_import_does_not_undo_the_edit(self, kate, observe, run, rows):
        # when
        [result] = run(
            observe(source="csv", first_name="Kate", last_name="Csv", email="kate@example.com")
        )

        # then
        assert result.contact_id == kate.id
        assert rows.contact(kate.id).last_name == "Manual"

    def test_a_direct_message_does_not_undo_the_edit(self, kate, observe, run, rows):
        # when
        run(
            observe(
                source="whatsapp", first_name="Kate", last_name="Chat", email="kate@example.com"
            )
        )

        # then
        assert rows.contact(kate.id).last_name == "Manual"

    def test_an_older_pms_observation_does_not_undo_the_edit(self, kate, observe, run, rows):
        # when: a delayed sync brings a change the PMS made before the edit
        [result] = run(
            observe(
                source="cliniko",
                external_id="100",
                observed_at=at(30),
                first_name="Kate",
                last_name="Older",
                email="kate@example.com",
            )
        )

        # then
        assert result.contact_id == kate.id
        contact = rows.contact(kate.id)
        assert contact.last_name == "Manual"
        assert contact.field_sources["last_name"]["source"] == "manual"

    def test_a_newer_pms_observation_replaces_the_edit(self, kate, observe, run, rows):
        # when
        run(
            observe(
                source="cliniko",
                external_id="100",
                observed_at=datetime.now(UTC) + timedelta(minutes=1),
                first_name="Kate",
                last_name="Newer",
                email="kate@example.com",
            )
        )

        # then
        contact = rows.contact(kate.id)
        assert contact.last_name == "Newer"
        assert contact.field_sources["last_name"]["source"] == "cliniko"

    def test_the_edit_only_holds_the_fields_it_set(self, kate, observe, run, rows):
        # when
        run(
            observe(
                source="cliniko",
                external_id="100",
                observed_at=at(30),
                first_name="Kate",
                last_name="Older",
                email="kate@example.com",
                city="Bondi",
            )
        )

        # then
        assert rows.contact(kate.id).city == "Bondi"


class TestConflicts:
    def test_a_lower_priority_value_is_recorded_as_a_conflict(self, observe, run, rows):
        # given
        [pms] = run(
            observe(
                source="cliniko", first_name="Kate", last_name="Smith", email="kate@example.com"
            )
        )

        # when
        [csv] = run(
            observe(source="csv", first_name="Kate", last_name="Smyth", email="kate@example.com")
        )

        # then
        assert csv.contact_id == pms.contact_id
        assert rows.contact(pms.contact_id).last_name == "Smith"
        [event] = rows.events("conflict")
        assert (event.contact_id, event.field, event.source) == (pms.contact_id, "last_name", "csv")
        assert (event.old_value, event.new_value) == ("Smyth", "Smith")

    def test_conflicts_within_one_batch_are_recorded_too(self, observe, run, rows):
        # when
        results = run(
            observe(
                source="csv",
                first_name="Kate",
                last_name="Smyth",
                email="k@example.com",
                date_of_birth="1990-01-02",
            ),
            observe(
                source="cliniko",
                first_name="Kate",
                last_name="Smith",
                email="k@example.com",
                date_of_birth="1990-02-01",
            ),
        )

        # then
        contact = rows.contact(results[0].contact_id)
        assert (contact.last_name, contact.date_of_birth.isoformat()) == ("Smith", "1990-02-01")
        assert {(e.field, e.old_value, e.new_value) for e in rows.events("conflict")} == {
            ("last_name", "Smyth", "Smith"),
            ("date_of_birth", "1990-01-02", "1990-02-01"),
        }

    def test_a_winning_value_is_not_a_conflict(self, observe, run, rows):
        # given
        run(observe(source="csv", first_name="Kate", last_name="Smyth", email="k@example.com"))

        # when
        run(observe(source="cliniko", first_name="Kate", last_name="Smith", email="k@example.com"))

        # then
        assert rows.events("conflict") == []
        [changed] = rows.events("field_changed")
        assert (changed.field, changed.old_value, changed.new_value, changed.source) == (
            "last_name",
            "Smyth",
            "Smith",
            "cliniko",
        )


class TestObservationTimes:
    def test_a_naive_observation_time_is_taken_as_utc(self, observe, run, rows):
        # given
        run(observe(source="csv:a", first_name="Kate", email="kate@example.com", city="Stored"))

        # when: a source hands over a timestamp without a zone, in the same priority class
        [result] = run(
            observe(
                source="csv:b",
                observed_at=datetime(2999, 1, 1),
                first_name="Kate",
                email="kate@example.com",
                city="Naive",
            )
        )

        # then
        contact = rows.contact(result.contact_id)
        assert contact.city == "Naive"
        assert contact.field_sources["city"]["observed_at"] == "2999-01-01T00:00:00+00:00"

    def test_an_observation_time_in_another_zone_is_stored_in_utc(self, observe, run, rows):
        # given
        sydney = timezone(timedelta(hours=11))

        # when
        [result] = run(
            observe(
                source="cliniko",
                observed_at=datetime(2025, 1, 1, 11, tzinfo=sydney),
                first_name="Kate",
            )
        )

        # then
        contact = rows.contact(result.contact_id)
        assert contact.field_sources["first_name"]["observed_at"] == "2025-01-01T00:00:00+00:00"
        [record] = rows.records()
        assert record.observed_at == datetime(2025, 1, 1, tzinfo=UTC)
