from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlmodel import Session

from crm.models import Organization


def _count_organizations(engine) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(Organization)).scalar_one()


class TestOrgCreate:
    def test_prints_the_new_organization_id(self, engine, cli):
        # when
        result = cli("org", "create", "Bondi Physio", "--region", "nz")

        # then
        assert result.exit_code == 0, result.output
        org_id = uuid.UUID(result.stdout.strip())
        with Session(engine) as session:
            org = session.get(Organization, org_id)
        assert org is not None
        assert (org.name, org.default_region) == ("Bondi Physio", "NZ")

    def test_region_defaults_to_australia(self, engine, cli):
        # when
        result = cli("org", "create", "Bondi Physio")

        # then
        assert result.exit_code == 0, result.output
        with Session(engine) as session:
            org = session.get(Organization, uuid.UUID(result.stdout.strip()))
        assert org.default_region == "AU"

    def test_a_taken_name_is_bad_usage(self, engine, cli):
        # given
        assert cli("org", "create", "Bondi Physio").exit_code == 0

        # when
        result = cli("org", "create", "Bondi Physio")

        # then
        assert result.exit_code == 2
        assert result.stdout == ""
        assert "NAME_TAKEN" in result.stderr
        assert _count_organizations(engine) == 1

    def test_an_unknown_region_is_bad_usage(self, engine, cli):
        # when
        result = cli("org", "create", "Bondi Physio", "--region", "ZZ")

        # then
        assert result.exit_code == 2
        assert "INVALID_REGION" in result.stderr
        assert _count_organizations(engine) == 0

    def test_a_blank_name_is_bad_usage(self, engine, cli):
        # when
        result = cli("org", "create", "   ")

        # then
        assert result.exit_code == 2
        assert _count_organizations(engine) == 0
