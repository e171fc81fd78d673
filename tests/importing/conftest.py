"""Factories for import tests: CSV files and running an import the way the CLI does."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from crm.importing.jobs import ImportOptions, create_import_job
from crm.importing.service import run_import
from crm.models import Contact, ContactEvent, ContactIdentifier, ImportJob, SourceRecord


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]], *, delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def import_bytes(engine, organization, data: bytes, **options) -> ImportJob:
    with Session(engine, expire_on_commit=False) as session:
        job = create_import_job(
            session,
            organization=organization,
            options=ImportOptions(**options),
            total_bytes=len(data),
            actor="test",
        )
        session.commit()
    return run_import(engine=engine, job_id=job.id, stream=io.BytesIO(data))


def import_text(engine, organization, text: str, **options) -> ImportJob:
    return import_bytes(engine, organization, text.encode("utf-8"), **options)


def counts(engine) -> dict[str, int]:
    """Rows in the tables an import writes to."""
    with Session(engine) as session:
        return {
            model.__tablename__: session.exec(select(func.count()).select_from(model)).one()[0]
            for model in (Contact, ContactIdentifier, SourceRecord, ContactEvent)
        }


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def people_csv() -> str:
    return csv_text(
        ["Client ID", "First Name", "Surname", "E-mail", "Mobile", "DOB", "Address", "Notes"],
        [
            [
                "A1",
                "John",
                "Smith",
                "John@Example.com",
                "0412 345 678",
                "31/01/1980",
                "12 Smith St, Bondi NSW 2026",
                "likes mornings",
            ],
            ["A2", "Mary", "Smith", "john@example.com", "", "", "12 Smith St, Bondi NSW 2026", ""],
            ["A3", "Bad", "Email", "not-an-email", "+61 400 000 003", "", "", ""],
            ["A4", "", "", "bad", "12", "", "", ""],
            ["A5", "Jo", "Brown", "jo@example.com", "+61 400 000 001", "1990-02-03", "", ""],
        ],
    )
