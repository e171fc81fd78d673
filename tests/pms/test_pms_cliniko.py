"""The Cliniko adapter: the shard, the documented shapes, pages, cursors and filters."""

from __future__ import annotations

import pytest

from crm.pms.adapters.base import ARCHIVED, DELETED
from crm.pms.adapters.cliniko import (
    ClinikoAdapter,
    base_url_for,
    read_appointment,
    read_patient,
    shard_of,
)
from tests.pms.conftest import API_KEY


@pytest.mark.parametrize(
    ("key", "shard"),
    [
        ("MS0xLWl4SzYYYYdtR3V2HNOTAREALKEYwvNHdeW0pd-au2", "au2"),
        ("abc-uk1", "uk1"),
        ("abcdef", "au1"),  # an old key with no shard
        ("abc-notashard", "au1"),
    ],
)
def test_shard_from_the_key_suffix(key, shard):
    assert shard_of(key) == shard
    assert base_url_for(key) == f"https://api.{shard}.cliniko.com/v1"


class TestReadPatient:
    DOCUMENTED = {
        "id": 1,
        "first_name": "Peter",
        "last_name": "Patientman",
        "email": "peter@example.com",
        "date_of_birth": "2001-05-26",
        "address_1": "1 Smith Street",
        "address_2": "",
        "address_3": "",
        "city": "Melbourne",
        "state": "Victoria",
        "post_code": "3000",
        "country": "Australia",
        "archived_at": "",
        "deleted_at": "",
        "accepted_email_marketing": True,
        "accepted_sms_marketing": False,
        "accepted_privacy_policy": True,
        "preferred_first_name": "Pete",
        "updated_at": "2013-03-26T14:00:00Z",
        "patient_phone_numbers": [
            # the documented example's digits-with-country-code form (its own numbers,
            # 61444444444 and 61399999999, are not valid Australian numbers)
            {"phone_type": "Home", "number": "61298765432"},
            {"phone_type": "Mobile", "number": "61412345678"},
        ],
    }

    def test_the_documented_example(self):
        record = read_patient(self.DOCUMENTED, status="active", region="AU")
        assert record.pms_id == "1"
        assert record.fields["first_name"] == "Peter"
        assert record.fields["region"] == "Victoria"
        # the mobile is the phone, every number is kept with its type
        assert record.fields["phone"] == "+61412345678"
        assert record.phones == [("Home", "+61298765432"), ("Mobile", "+61412345678")]
        # marketing consent is a fact of the source, not a contact field
        assert record.facts["accepted_email_marketing"] is True
        assert record.facts["accepted_sms_marketing"] is False
        assert record.facts["preferred_first_name"] == "Pete"

    def test_archived_and_merged(self):
        raw = {
            **self.DOCUMENTED,
            "archived_at": "2013-06-05T14:37:18Z",
            "merged_at": "2013-06-05T14:37:18Z",
            "merged_with_patient": {
                "links": {"self": "https://api.au1.cliniko.test/v1/patients/1001"}
            },
        }
        record = read_patient(raw, status="archived", region="AU")
        assert record.status == ARCHIVED
        assert record.merged_into == "1001"

    def test_deleted_has_only_its_id(self):
        raw = {
            "deleted_at": "2013-06-05T14:38:48Z",
            "links": {"self": "https://api.au1.cliniko.com/v1/patients/1"},
        }
        record = read_patient(raw, status="deleted", region="AU")
        assert (record.pms_id, record.status) == ("1", DELETED)

    @pytest.mark.parametrize("raw", [None, [], {"first_name": "x"}, {"id": 3, "updated_at": 5}])
    def test_malformed_records_are_refused(self, raw):
        with pytest.raises((ValueError, TypeError)):
            read_patient(raw, status="active", region="AU")

    def test_appointment_statuses(self):
        base = {
            "id": 7,
            "starts_at": "2016-07-21T03:45:00Z",
            "ends_at": "2016-07-21T04:30:00Z",
            "patient": {"links": {"self": "https://x/v1/patients/82"}},
        }
        assert read_appointment(base).status == "booked"
        assert read_appointment(base).patient_pms_id == "82"
        assert read_appointment({**base, "cancelled_at": "2016-07-20T00:00:00Z"}).status == (
            "cancelled"
        )
        assert read_appointment({**base, "did_not_arrive": True}).status == "did_not_arrive"


class TestAdapter:
    def adapter(self, fake, settings):
        return ClinikoAdapter(
            connection_id="t",
            credentials={"apiKey": API_KEY},
            base_url=fake.base_url,
            settings=settings,
        )

    def test_follows_links_next_100_a_page(self, fake, settings):
        # given
        for i in range(250):
            fake.add_patient(first_name=f"P{i}", last_name="X")
        adapter = self.adapter(fake, settings)
        # when
        pages = [p for p in adapter.patient_pages({}, full=True) if p.stream == "patients"]
        adapter.close()
        # then
        assert [len(p.records) for p in pages] == [100, 100, 50]
        assert len({r.pms_id for p in pages for r in p.records}) == 250
        listing = [r for r in fake.requests if r["path"] == "patients"]
        assert "per_page=100" in listing[0]["query"]
        # each page's cursor is the latest change it holds: a safe place to resume
        assert pages[0].cursor < pages[1].cursor < pages[2].cursor

    def test_an_incremental_read_asks_for_changes_since_the_cursor(self, fake, settings):
        old = fake.add_patient(first_name="Old", last_name="X")
        fake.tick()
        adapter = self.adapter(fake, settings)
        settings.pms_sync_overlap_seconds = 0
        cursors = {
            "patients": old["updated_at"],
            "archived_patients": old["updated_at"],
            "deleted_patients": old["updated_at"],
        }
        new = fake.add_patient(first_name="New", last_name="X")
        pages = list(adapter.patient_pages(cursors, full=False))
        adapter.close()
        assert [r.pms_id for p in pages for r in p.records] == [str(new["id"])]
        assert any("updated_at%3A%3E" in r["query"] for r in fake.requests)

    def test_practitioners_and_types(self, fake, settings):
        adapter = self.adapter(fake, settings)
        assert [p.name for p in adapter.practitioners()] == ["Dr Jane"]
        assert [t.telehealth for t in adapter.appointment_types()] == [False, True]
        adapter.close()
