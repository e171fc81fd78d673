from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.models import ApiKey
from crm.tenancy.service import Role, authenticate, hash_key


class TestKeyCreate:
    @pytest.mark.parametrize("role", ["reader", "editor", "admin"])
    def test_prints_a_key_that_authenticates_with_its_role(self, engine, session, org, cli, role):
        # when
        result = cli("key", "create", "--org", str(org.id), "--role", role)

        # then
        assert result.exit_code == 0, result.output
        principal = authenticate(session, key=result.stdout.strip())
        assert principal is not None
        assert principal.organization_id == org.id
        assert principal.role == Role[role.upper()]

    def test_finds_the_organization_by_exact_name(self, engine, session, org, cli):
        # when
        result = cli("key", "create", "--org", "Bondi Physio", "--role", "editor", "--name", "ci")

        # then
        assert result.exit_code == 0, result.output
        principal = authenticate(session, key=result.stdout.strip())
        assert principal.organization_id == org.id

    def test_stores_only_the_hash_and_never_logs_the_key(self, engine, session, org, cli):
        # when
        result = cli("key", "create", "--org", str(org.id), "--role", "admin")

        # then
        plain = result.stdout.strip()
        stored = session.execute(select(ApiKey)).scalar_one()
        assert stored.key_hash == hash_key(plain)
        assert plain not in result.stderr

    def test_an_unknown_organization_is_bad_usage(self, engine, session, org, cli):
        # when
        result = cli("key", "create", "--org", "Nobody Clinic", "--role", "admin")

        # then
        assert result.exit_code == 2
        assert result.stdout == ""
        assert "not found" in result.stderr
        assert session.execute(select(ApiKey)).first() is None

    def test_an_unknown_role_is_bad_usage(self, engine, org, cli):
        # when
        result = cli("key", "create", "--org", str(org.id), "--role", "owner")

        # then
        assert result.exit_code == 2
        assert result.stdout == ""
