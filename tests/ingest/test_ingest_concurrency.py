"""Races: concurrent writers of one new identity end up with one contact, never duplicates."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import Session

from crm.contacts.commands import resolve_contact
from crm.ingest import CREATED, build_observation, ingest

WORKERS = 8


def together(engine, count: int, work: Callable[[Session, int], Any]) -> list[Any]:
    """Run ``work`` in ``count`` threads, each with its own committed session, started at once."""
    barrier = threading.Barrier(count)

    def one(index: int) -> Any:
        with Session(engine, expire_on_commit=False) as session:
            barrier.wait(timeout=30)
            result = work(session, index)
            session.commit()
            return result

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count), timeout=120))


class TestConcurrentResolve:
    @pytest.mark.parametrize("number", ["0412 345 678", "0499 000 111", "0400 123 456"])
    def test_eight_lookups_of_one_new_number_create_one_contact(self, engine, org, rows, number):
        # given
        def lookup(session, _):
            contact, created = resolve_contact(
                session,
                organization=org,
                channel="WHATSAPP",
                value=number,
                data={"first_name": "Ann"},
            )
            return contact.id, created

        # when
        results = together(engine, WORKERS, lookup)

        # then
        assert len({contact_id for contact_id, _ in results}) == 1
        assert [created for _, created in results].count(True) == 1
        assert len(rows.contacts()) == 1
        assert len(rows.identifiers()) == 1
        assert len(rows.records()) == 1

    def test_one_number_on_several_channels_at_once_is_one_contact(self, engine, org, rows):
        # given: the same number arrives on WhatsApp, SMS and a call log at once
        channels = ["WHATSAPP", "SMS", "PHONE", "WHATSAPP", "SMS", "PHONE", "SMS", "WHATSAPP"]

        def lookup(session, index):
            contact, created = resolve_contact(
                session,
                organization=org,
                channel=channels[index],
                value="+61412345678",
            )
            return contact.id, created

        # when
        results = together(engine, WORKERS, lookup)

        # then
        assert len({contact_id for contact_id, _ in results}) == 1
        assert [created for _, created in results].count(True) == 1
        [contact] = rows.contacts()
        assert contact.source_systems == ["phone", "sms", "whatsapp"]
        assert len(rows.identifiers()) == 1


def person(index: int, *, source: str, region: str) -> Any:
    return build_observation(
        {
            "external_id": f"{source}-{index}",
            "first_name": f"Person{index:03d}",
            "email": f"p{index}@example.com",
            "phone": f"0412 000 {index:03d}",
        },
        source=source,
        region=region,
    )


class TestConcurrentBatches:
    @pytest.mark.parametrize("sources", [("csv", "whatsapp"), ("csv", "csv")])
    def test_overlapping_batches_create_no_duplicates(self, engine, org, rows, sources):
        # given: two imports share people 20..39, one in reverse order
        first = [person(i, source=sources[0], region="AU") for i in range(40)]
        second = [person(i, source=sources[1], region="AU") for i in reversed(range(20, 60))]
        if sources[0] == sources[1]:
            # the same export twice: the same record ids
            second = [person(i, source=sources[0], region="AU") for i in reversed(range(20, 60))]

        def run_batch(session, index):
            batch = (first, second)[index]
            return ingest(session, organization=org, observations=batch, actor=f"job{index}")

        # when
        results = together(engine, 2, run_batch)

        # then
        assert len(rows.contacts()) == 60
        emails = rows.identifiers("email")
        assert len(emails) == 60
        assert {i.ordinal for i in emails} == {0}
        created = [o for outcomes in results for o in outcomes if o.outcome == CREATED]
        assert len(created) == 60
        by_email = {i.value: i.contact_id for i in emails}
        for outcomes, batch in zip(results, (first, second), strict=True):
            for outcome, obs in zip(outcomes, batch, strict=True):
                assert outcome.contact_id == by_email[obs.fields["email"]]
