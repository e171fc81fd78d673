"""Several phone columns: every one is a ``tel`` identifier of the contact, the mobile first."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from crm.models import Contact, ContactIdentifier, ImportRowError
from tests.importing.conftest import csv_text, import_text

HEADER = ["Client First Name", "Surname", "Mobile Ph", "Home Ph", "Work Phone"]


def tels(session, contact_id) -> list[str]:
    return sorted(
        session.execute(
            select(ContactIdentifier.value).where(
                ContactIdentifier.contact_id == contact_id, ContactIdentifier.namespace == "tel"
            )
        ).scalars()
    )


class TestPhoneKinds:
    def test_every_phone_is_linked_and_the_mobile_is_the_primary(self, engine, org):
        # given
        text = csv_text(HEADER, [["Jo", "Brown", "0412 345 678", "02 9387 0000", "03 9999 0000"]])

        # when
        job = import_text(engine, org, text)

        # then
        assert (job.status, job.created) == ("succeeded", 1)
        with Session(engine) as session:
            jo = session.execute(select(Contact)).scalar_one()
            assert jo.phone == "+61412345678"
            assert tels(session, jo.id) == ["+61293870000", "+61399990000", "+61412345678"]
            assert "Home Ph" not in (jo.attributes or {})

    def test_without_a_mobile_on_the_row_the_home_phone_is_the_primary(self, engine, org):
        # given: the mobile is a placeholder
        text = csv_text(HEADER, [["Sam", "Lee", "n/a", "02 9387 0000", ""]])

        # when
        import_text(engine, org, text)

        # then: no warning for "n/a", and the home phone is the contact's phone
        with Session(engine) as session:
            sam = session.execute(select(Contact)).scalar_one()
            assert sam.phone == "+61293870000"
            warnings = session.execute(
                select(ImportRowError.code).where(ImportRowError.line > 1)
            ).all()
            assert warnings == []

    def test_a_bad_second_phone_is_a_warning_on_its_column(self, engine, org):
        text = csv_text(HEADER, [["Ann", "Ng", "0412 345 679", "12", ""]])
        import_text(engine, org, text)
        with Session(engine) as session:
            [(column, code)] = session.execute(
                select(ImportRowError.column, ImportRowError.code).where(ImportRowError.line > 1)
            ).all()
            assert (column, code) == ("home_phone", "INVALID_PHONE")
