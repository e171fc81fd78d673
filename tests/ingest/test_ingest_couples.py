"""Couples share an email or a phone: at ingest only a sure first name links to its holder.

Equal names, nicknames (Bob/Robert) and initials (J./John) link; prefixes (Paul/Paula) and
typos (Jonh/John) make a second contact, which the reversible dedup sweep may propose.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.contacts.commands import resolve_contact
from crm.ingest import CREATED, LINKED
from crm.matching.sweep import run_sweep
from crm.models import Contact, DuplicateCandidate, Merge
from tests.importing.conftest import csv_text, import_text

COUPLES = [
    ("Paul", "Paula"),
    ("Daniel", "Danielle"),
    ("Eric", "Erica"),
    ("Louis", "Louise"),
    ("Robert", "Roberta"),
    ("Joseph", "Josephine"),
    ("Michael", "Michelle"),
    ("Ann", "Anna"),
]
BOTH_WAYS = COUPLES + [(b, a) for a, b in COUPLES]


def merges(session) -> int:
    return session.execute(select(func.count()).select_from(Merge)).scalar_one()


class TestCouplesSharingAnEmail:
    @pytest.mark.parametrize(("first", "second"), BOTH_WAYS, ids=[f"{a}-{b}" for a, b in BOTH_WAYS])
    def test_the_second_partner_gets_their_own_contact(
        self, session, observe, run, rows, first, second
    ):
        # given
        [one] = run(observe(first_name=first, last_name="Nguyen", email="nguyens@example.com"))

        # when
        [other] = run(
            observe(
                source="whatsapp",
                first_name=second,
                last_name="Nguyen",
                email="nguyens@example.com",
            )
        )

        # then
        assert other.outcome == CREATED
        assert other.contact_id != one.contact_id
        assert rows.contact(one.contact_id).first_name == first
        assert rows.contact(other.contact_id).first_name == second
        assert [i.contact_id for i in rows.identifiers("email")] == [
            one.contact_id,
            other.contact_id,
        ]
        assert merges(session) == 0

    def test_a_couple_sharing_a_phone_resolves_to_two_contacts(self, session, org):
        # given
        paul, _ = resolve_contact(
            session,
            organization=org,
            channel="PHONE",
            value="0412 345 678",
            data={"first_name": "Paul"},
        )
        session.commit()

        # when
        paula, created = resolve_contact(
            session,
            organization=org,
            channel="PHONE",
            value="+61 412 345 678",
            data={"first_name": "Paula"},
        )
        session.commit()

        # then
        assert created
        assert paula.id != paul.id
        assert (paul.first_name, paula.first_name) == ("Paul", "Paula")

    def test_couples_in_one_file_are_each_their_own_contact(self, engine, org):
        # given: each couple shares one email, one partner on each row
        header = ["first_name", "last_name", "email"]
        lines = [
            [name, "Nguyen", f"{a.lower()}.and.{b.lower()}@example.com"]
            for a, b in COUPLES
            for name in (a, b)
        ]

        # when
        job = import_text(engine, org, csv_text(header, lines))

        # then
        assert (job.created, job.linked) == (16, 0)
        with engine.connect() as connection:
            names = connection.execute(
                select(Contact.first_name).where(Contact.organization_id == org.id)
            ).scalars()
            assert sorted(names) == sorted(name for couple in COUPLES for name in couple)


class TestTheSamePersonStillLinks:
    @pytest.mark.parametrize(
        ("held", "later"),
        [
            ("Robert", "Bob"),
            ("Bob", "Robert"),
            ("Elizabeth", "Liz"),
            ("Liz", "Elizabeth"),
            ("Thomas", "Tom"),
            ("William", "Bill"),
            ("John", "J."),
            ("J", "John"),
            ("Sarah", "Sara"),
            ("José", "jose"),
            ("Mary Anne", "Mary"),
        ],
    )
    def test_an_equal_name_a_nickname_or_an_initial_links(self, observe, run, rows, held, later):
        # given
        [holder] = run(observe(first_name=held, last_name="Lee", email="lee@example.com"))

        # when
        [result] = run(observe(source="whatsapp", first_name=later, email="lee@example.com"))

        # then
        assert (result.outcome, result.contact_id) == (LINKED, holder.contact_id)
        assert len(rows.contacts()) == 1

    def test_a_record_without_a_first_name_links_to_the_holder(self, observe, run, rows):
        # given: missing names keep linking (a message from a number carries no name)
        [paul] = run(observe(first_name="Paul", email="nguyens@example.com"))

        # when
        [result] = run(observe(source="whatsapp", email="nguyens@example.com"))

        # then
        assert (result.outcome, result.contact_id) == (LINKED, paul.contact_id)

    def test_a_different_date_of_birth_is_still_another_person(self, observe, run):
        # given
        [senior] = run(
            observe(first_name="Robert", email="lee@example.com", date_of_birth="1950-03-04")
        )

        # when
        [junior] = run(
            observe(first_name="Bob", email="lee@example.com", date_of_birth="1980-05-06")
        )

        # then
        assert junior.outcome == CREATED
        assert junior.contact_id != senior.contact_id

    def test_the_member_with_this_very_name_is_preferred_to_a_nickname(self, observe, run):
        # given: father Bill holds the family email first, his son William second
        run(observe(first_name="Bill", email="family@example.com", date_of_birth="1950-03-04"))
        [william] = run(
            observe(first_name="Oliver", email="family@example.com"),
            observe(first_name="William", email="family@example.com", date_of_birth="1980-05-06"),
        )[1:]

        # when
        [result] = run(observe(source="whatsapp", first_name="William", email="family@example.com"))

        # then
        assert result.contact_id == william.contact_id


class TestLooserNamesAreLeftToTheSweep:
    @pytest.mark.parametrize(
        ("held", "later"), [("John", "Jonh"), ("William", "Wiliam"), ("Alex", "Alexa")]
    )
    def test_a_typo_or_a_prefix_makes_a_second_contact(self, observe, run, held, later):
        # given
        [holder] = run(observe(first_name=held, last_name="Lee", email="lee@example.com"))

        # when
        [result] = run(observe(first_name=later, last_name="Lee", email="lee@example.com"))

        # then
        assert result.outcome == CREATED
        assert result.contact_id != holder.contact_id

    def test_the_sweep_proposes_a_typo_it_finds_likely(self, engine, session, org, observe, run):
        # given
        [john] = run(
            observe(
                first_name="John",
                last_name="Papadopoulos",
                email="jp@example.com",
                address_line1="12 Wattle Street",
                city="Bondi",
            )
        )
        [jonh] = run(
            observe(
                first_name="Jonh",
                last_name="Papadopoulos",
                email="jp@example.com",
                address_line1="12 Wattle Street",
                city="Bondi",
            )
        )

        # when
        run_sweep(engine, organization_id=org.id)

        # then: either queued for a person or merged, reversibly (a merges row to undo)
        session.expire_all()
        pair = {john.contact_id, jonh.contact_id}
        candidates = session.execute(select(DuplicateCandidate)).scalars().all()
        assert any({c.contact_a_id, c.contact_b_id} == pair for c in candidates)
        session.commit()
