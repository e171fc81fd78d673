"""A killed import, run again, ends exactly like an uninterrupted one; concurrent imports."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from crm.importing.export import export_contacts
from crm.models import Contact, ImportJob
from crm.tenancy.service import create_organization
from tests.importing.conftest import csv_text, import_text, write

CRM = str(Path(sys.executable).with_name("crm"))


def people(start: int, stop: int) -> list[list[str]]:
    rows = []
    for n in range(start, stop):
        rows.append(
            [
                f"P{n}" if n % 3 else "",  # a third without external id
                f"Given{n % 97}",
                f"Family{n}",
                f"person{n}@example.com" if n % 4 else "",
                f"04{n:08d}" if n % 5 else "",
            ]
        )
    return rows


HEADER = ["Client ID", "First Name", "Surname", "Email", "Mobile"]


def exported(engine, org) -> list[str]:
    out = io.StringIO()
    with Session(engine) as s:
        export_contacts(s, organization_id=org.id, out=out)
    # contact ids differ between organizations; everything else must match
    return sorted(line.split(",", 1)[1] for line in out.getvalue().splitlines()[1:])


def active_count(engine, org) -> int:
    with Session(engine) as s:
        return s.exec(
            select(func.count())
            .select_from(Contact)
            .where(Contact.organization_id == org.id, Contact.status == "active")
        ).one()[0]


@pytest.mark.slow
class TestKilledImport:
    def test_sigkill_mid_import_then_rerun_matches_an_uninterrupted_run(self, engine, tmp_path):
        # given: two organizations, one file of 3,000 rows imported in batches of 200
        with Session(engine, expire_on_commit=False) as s:
            killed_org = create_organization(s, name="Killed", region="AU")
            clean_org = create_organization(s, name="Clean", region="AU")
            s.commit()
        text = csv_text(HEADER, people(0, 3000))
        path = write(tmp_path, "people.csv", text)
        env = {
            **os.environ,
            "CRM_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "CRM_IMPORT_BATCH_SIZE": "200",
        }
        # the first run reads the file through a pipe that stops after 1,000 rows, so that it
        # is killed at a known point: blocked reading the sixth batch. One batch at a time
        # (SQLite), four batches are committed (the fifth is read, normalised ahead, waiting
        # for the sixth); on PostgreSQL the writer thread commits the fifth meanwhile.
        committed = 1000 if engine.dialect.name == "postgresql" else 800
        pipe = tmp_path / "people.pipe"
        os.mkfifo(pipe)
        lines = text.splitlines(keepends=True)
        process = subprocess.Popen(
            [CRM, "import", str(pipe), "--org", "Killed", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            with pipe.open("w") as writer:
                writer.writelines(lines[:1001])
                writer.flush()
                # when: killed once those rows are committed
                deadline = time.monotonic() + 120
                done = 0
                while done < committed and time.monotonic() < deadline:
                    time.sleep(0.05)
                    with Session(engine) as s:
                        done = (
                            s.exec(
                                select(func.max(ImportJob.rows)).where(
                                    ImportJob.organization_id == killed_org.id
                                )
                            ).one()[0]
                            or 0
                        )
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        with Session(engine) as s:
            job = s.exec(
                select(ImportJob).where(ImportJob.organization_id == killed_org.id)
            ).scalar_one()
        assert (job.status, job.rows) == ("running", committed)
        command = [CRM, "import", str(path), "--org", "Killed", "--json"]
        # ...and run again to the end
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        # then: the same contacts as an uninterrupted import of the same file, no duplicates
        clean = subprocess.run(
            [CRM, "import", str(path), "--org", "Clean", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert clean.returncode == 0, clean.stderr
        assert active_count(engine, killed_org) == active_count(engine, clean_org) == 3000
        assert exported(engine, killed_org) == exported(engine, clean_org)


class TestConcurrentImports:
    def test_two_overlapping_imports_at_once_create_no_duplicates(self, engine, org):
        if engine.dialect.name != "postgresql":
            pytest.skip("concurrent writers need PostgreSQL (SQLite serialises them)")
        # given: two files sharing 300 people
        first = csv_text(HEADER, people(0, 600))
        second = csv_text(HEADER, people(300, 900))
        barrier = threading.Barrier(2)
        failures: list[BaseException] = []

        def run(text: str) -> None:
            try:
                barrier.wait()
                import_text(engine, org, text)
            except BaseException as exc:
                failures.append(exc)

        # when
        threads = [threading.Thread(target=run, args=(t,)) for t in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        # then
        assert failures == []
        assert active_count(engine, org) == 900
