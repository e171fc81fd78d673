"""Merges under concurrency: row locks and versions decide, nothing is half merged."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import Session

from crm.errors import ServiceError
from crm.ingest import build_observation, ingest
from crm.merging import merge_contacts, unmerge_contact


def at_once(engine, session: Session, *work: Callable[[Session], Any]) -> list[Any]:
    """Run each function in its own thread and session, released together; commit each."""
    # the test's own session must not sit on SQLite's write lock meanwhile
    session.rollback()
    barrier = threading.Barrier(len(work))

    def run(fn: Callable[[Session], Any]) -> Any:
        with Session(engine, expire_on_commit=False) as own:
            barrier.wait(timeout=30)
            try:
                result = fn(own)
                own.commit()
                return result
            except ServiceError as exc:
                own.rollback()
                return exc.code.value

    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        return list(pool.map(run, work, timeout=60))


class TestConcurrentMerges:
    def test_two_opposite_merges_one_wins(self, engine, session, org, add, stored):
        # given
        ann = add(external_id="a", first_name="Ann", email="ann@example.com")
        annie = add(external_id="b", first_name="Annie", email="annie@example.com")

        def into(survivor, merged):
            return lambda s: (
                merge_contacts(
                    s, organization=org, survivor_id=survivor.id, merge_ids=[merged.id], actor="t"
                ).id
            )

        # when
        results = at_once(engine, session, into(ann, annie), into(annie, ann))

        # then: one merged, the other found its contact merged already
        assert "NOT_ACTIVE" in results
        (winner,) = [r for r in results if r != "NOT_ACTIVE"]
        statuses = sorted(stored.contact(c)["status"] for c in (ann, annie))
        assert statuses == ["active", "merged"]
        assert len(stored.merges()) == 1
        assert {i["contact_id"] for i in stored.identifiers()} == {winner}

    def test_an_observation_racing_a_merge_ends_on_the_survivor(
        self, engine, session, org, add, stored
    ):
        # given
        ann = add(external_id="a", first_name="Ann", email="ann@example.com")
        annie = add(external_id="b", first_name="Annie", email="annie@example.com")

        def observe(s: Session) -> None:
            obs = build_observation(
                {"first_name": "Annie", "email": "annie@example.com", "phone": "0412 345 678"},
                source="csv",
                region="AU",
                external_id="b",
            )
            ingest(s, organization=org, observations=[obs])

        def merge(s: Session) -> None:
            merge_contacts(s, organization=org, survivor_id=ann.id, merge_ids=[annie.id], actor="t")

        # when
        at_once(engine, session, observe, merge)

        # then: whichever came first, everything of Annie's is Ann's now
        assert stored.identifiers(annie) == [] and stored.records(annie) == []
        held = {(i["namespace"], i["value"]) for i in stored.identifiers(ann)}
        assert ("tel", "+61412345678") in held
        assert stored.contact(ann)["phone"] == "+61412345678"

    def test_an_observation_whose_reads_straddle_a_merge_ends_on_the_survivor(
        self, engine, session, org, add, stored, monkeypatch
    ):
        # given: Annie's record is read before a merge of Annie into Ann commits, and her
        # contact row after it (the interleaving the test above meets now and then)
        if engine.dialect.name != "postgresql":
            pytest.skip("SQLite's one writer cannot commit a merge between two reads")
        ann = add(external_id="a", first_name="Ann", email="ann@example.com")
        annie = add(external_id="b", first_name="Annie", email="annie@example.com")
        session.commit()
        merged: list[bool] = []
        execute = Session.execute

        def merge_before_contacts_are_read(self, statement, *args, **kwargs):
            text = str(statement)
            if (
                not merged
                and text.lstrip().startswith("SELECT contacts.")
                and "FOR UPDATE" not in text
            ):
                merged.append(True)
                with Session(engine, expire_on_commit=False) as other:
                    merge_contacts(
                        other, organization=org, survivor_id=ann.id, merge_ids=[annie.id], actor="t"
                    )
                    other.commit()
            return execute(self, statement, *args, **kwargs)

        monkeypatch.setattr(Session, "execute", merge_before_contacts_are_read)
        obs = build_observation(
            {"first_name": "Annie", "email": "annie@example.com", "phone": "0412 345 678"},
            source="csv",
            region="AU",
            external_id="b",
        )
        # when
        with Session(engine, expire_on_commit=False) as own:
            ingest(own, organization=org, observations=[obs])
            own.commit()
        monkeypatch.undo()
        # then: the batch was read again and wrote onto the survivor, not the tombstone
        assert merged == [True]
        assert stored.identifiers(annie) == [] and stored.records(annie) == []
        held = {(i["namespace"], i["value"]) for i in stored.identifiers(ann)}
        assert ("tel", "+61412345678") in held
        assert stored.contact(ann)["phone"] == "+61412345678"

    def test_two_unmerges_at_once_one_restores(self, engine, session, org, add, merge, stored):
        # given
        ann = add(external_id="a", first_name="Ann", email="ann@example.com")
        annie = add(external_id="b", first_name="Annie", email="annie@example.com")
        before = stored.state(annie)
        merge(ann, annie)

        def unmerge(s: Session) -> str:
            unmerge_contact(s, organization=org, contact_id=annie.id, actor="t")
            return "restored"

        # when
        results = at_once(engine, session, unmerge, unmerge)

        # then
        assert sorted(results) == ["NOT_MERGED", "restored"]
        assert stored.state(annie) == before
