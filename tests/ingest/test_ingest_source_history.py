"""Source records are versioned by content: identical is a no-op, changed is a new version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm.ingest import UNCHANGED, UPDATED


class TestSourceHistory:
    def test_identical_content_writes_nothing(self, observe, run, rows):
        # given
        [first] = run(
            observe(source="cliniko", external_id="100", first_name="Ann", email="ann@example.com")
        )
        before = rows.contact(first.contact_id)
        counts = (len(rows.records()), len(rows.events()), len(rows.identifiers()))

        # when: the same content seen again, later
        [again] = run(
            observe(
                source="cliniko",
                external_id="100",
                first_name="Ann",
                email="ann@example.com",
                observed_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )

        # then
        assert again.outcome == UNCHANGED
        after = rows.contact(first.contact_id)
        assert (after.version, after.updated_at) == (before.version, before.updated_at)
        assert (len(rows.records()), len(rows.events()), len(rows.identifiers())) == counts

    def test_changed_content_is_a_new_current_version(self, observe, run, rows):
        # given
        [first] = run(
            observe(source="cliniko", external_id="100", first_name="Ann", last_name="Lee")
        )

        # when
        [second] = run(
            observe(source="cliniko", external_id="100", first_name="Ann", last_name="Leigh")
        )

        # then
        assert second.outcome == UPDATED
        records = rows.records()
        assert [(r.source_id, r.version, r.is_current) for r in records] == [
            ("100", 1, False),
            ("100", 2, True),
        ]
        assert records[0].normalized["fields"]["last_name"] == "Lee"
        assert records[1].normalized["fields"]["last_name"] == "Leigh"
        assert rows.contact(first.contact_id).version == 2

    def test_history_is_kept_across_many_versions(self, observe, run, rows):
        # given
        names = ["Lee", "Leigh", "Li", "Lee"]

        # when
        for name in names:
            run(observe(source="cliniko", external_id="100", first_name="Ann", last_name=name))

        # then: returning to an earlier content is still a new version
        records = rows.records()
        assert [r.version for r in records] == [1, 2, 3, 4]
        assert [r.is_current for r in records] == [False, False, False, True]
        assert [r.payload["last_name"] for r in records] == names

    def test_the_payload_is_kept_as_received(self, observe, run, rows):
        # when
        run(observe(source="csv", first_name="  Ann ", phone="0412 345 678", notes="prefers SMS"))

        # then
        [record] = rows.records()
        assert record.payload == {
            "first_name": "  Ann ",
            "phone": "0412 345 678",
            "notes": "prefers SMS",
        }
        assert record.normalized["fields"]["phone"] == "+61412345678"
        assert record.normalized["metadata"] == {"notes": "prefers SMS"}

    def test_a_record_without_an_external_id_is_keyed_by_its_content(self, observe, run, rows):
        # given
        run(observe(first_name="Ann", email="ann@example.com"))

        # when
        [again] = run(observe(first_name="Ann", email="ann@example.com"))
        [other] = run(observe(first_name="Ann", email="ann@example.com", city="Bondi"))

        # then
        assert again.outcome == UNCHANGED
        assert other.outcome != UNCHANGED
        assert [(r.version, r.is_current) for r in rows.records()] == [(1, True), (1, True)]

    def test_only_current_versions_feed_the_contact(self, observe, run, rows):
        # given
        [first] = run(observe(source="cliniko", external_id="100", first_name="Ann", city="Bondi"))

        # when: the PMS no longer has a city for Ann
        run(observe(source="cliniko", external_id="100", first_name="Ann"))

        # then
        assert rows.contact(first.contact_id).city is None
