"""Optimistic locking holds under concurrency: two edits of one version, one wins."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import Session

from crm.contacts.commands import create_contact, update_contact
from crm.errors import ErrorCode, ServiceError


class TestConcurrentEdits:
    def test_two_edits_of_the_same_version_one_is_refused(self, engine, session, org):
        # given
        ann = create_contact(session, organization=org, data={"first_name": "Ann"}, actor="a")
        session.commit()
        barrier = threading.Barrier(2)

        def edit(last_name: str) -> str:
            with Session(engine, expire_on_commit=False) as own:
                barrier.wait(timeout=30)
                try:
                    update_contact(
                        own,
                        organization=org,
                        contact_id=ann.id,
                        version=1,
                        data={"last_name": last_name},
                        actor=last_name,
                    )
                    own.commit()
                    return "saved"
                except ServiceError as exc:
                    own.rollback()
                    return exc.code.value

        # when
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(edit, ["Lee", "Ng"], timeout=60))

        # then
        assert sorted(results) == sorted(["saved", ErrorCode.VERSION_CONFLICT.value])
