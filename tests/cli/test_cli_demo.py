from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlmodel import Session

from crm.models import ApiKey, Organization
from crm.tenancy.service import Role, authenticate

KEY = re.compile(r"crm_[A-Za-z0-9_-]{20,}")


class TestDemo:
    def test_first_run_creates_the_demo_organization_and_prints_an_admin_key(
        self, engine, session, cli
    ):
        # when
        result = cli("demo")

        # then
        assert result.exit_code == 0, result.output
        match = KEY.search(result.stdout)
        assert match, result.stdout
        principal = authenticate(session, key=match.group())
        assert principal is not None
        assert principal.organization.name == "Demo Practice"
        assert principal.role == Role.ADMIN

    def test_later_runs_create_nothing_and_say_how_to_make_a_key(self, engine, cli):
        # given
        first = cli("demo")

        # when
        second = cli("demo")

        # then
        assert first.exit_code == 0 and second.exit_code == 0, second.output
        assert KEY.search(second.stdout) is None
        assert 'crm key create --org "Demo Practice" --role admin' in second.stdout
        with Session(engine) as s:
            assert s.execute(select(func.count()).select_from(Organization)).scalar_one() == 1
            assert s.execute(select(func.count()).select_from(ApiKey)).scalar_one() == 1

    def test_migrates_a_fresh_database_first(self, tmp_path, database_url, cli):
        # given: what `make run` meets on a fresh clone
        database_url(f"sqlite:///{tmp_path / 'crm.db'}")

        # when
        result = cli("demo")

        # then
        assert result.exit_code == 0, result.output
        assert KEY.search(result.stdout)
