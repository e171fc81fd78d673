"""``crm org list``, ``crm key list`` and ``crm key revoke`` (registered in ``crm/cli.py``).

A key's secret is never shown again after ``crm key create``: listings show its id, prefix,
role, sources and when it was created, last used and revoked.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from crm.cli_common import database, describe_database, stderr, stdout, unit_of_work
from crm.logging import get_logger
from crm.models import ApiKey
from crm.pagination import MAX_PAGE
from crm.tenancy.service import (
    find_api_key,
    find_organization,
    list_api_keys,
    list_organizations,
    revoke_api_key,
)

log = get_logger("crm.cli")

OrgOption = Annotated[
    str, typer.Option("--org", help="Organization id or name (case-insensitive).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object per line.")]


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _short(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


class _Listing:
    """A rich table on a terminal; tab-separated lines (a header first) when piped, so that
    ids are never wrapped or cut."""

    def __init__(self, *names: str, title: str | None = None):
        self.console = stdout()
        self.names = names
        self.rows: list[tuple[str, ...]] = []
        self.title = title

    def add_row(self, *values: str) -> None:
        self.rows.append(values)

    def print(self) -> None:
        if not self.console.is_terminal:
            for row in (self.names, *self.rows):
                typer.echo("\t".join(value.replace("\t", " ") for value in row))
            return
        table = Table(title=self.title)
        for name in self.names:
            table.add_column(name, no_wrap=name in ("id", "prefix"))
        for row in self.rows:
            table.add_row(*row)
        self.console.print(table)


def org_list(as_json: JsonOption = False) -> None:
    """List every organization with its id, region and number of active keys."""
    with unit_of_work() as session:
        summaries = list_organizations(session)
    if as_json:
        for summary in summaries:
            org = summary.organization
            typer.echo(
                json.dumps(
                    {
                        "id": str(org.id),
                        "name": org.name,
                        "region": org.default_region,
                        "created_at": _when(org.created_at),
                        "active_keys": summary.active_keys,
                    }
                )
            )
        return
    if not summaries:
        stderr().print("No organizations yet: `crm org create NAME` makes one.")
        return
    table = _Listing(
        "id",
        "name",
        "region",
        "created (UTC)",
        "active keys",
        title=f"Organizations in {describe_database(database())}",
    )
    for summary in summaries:
        org = summary.organization
        table.add_row(
            str(org.id),
            org.name,
            org.default_region,
            _short(org.created_at),
            str(summary.active_keys),
        )
    table.print()


def key_dict(key: ApiKey) -> dict[str, Any]:
    """What a listing shows of a key: never its secret (only its hash is stored)."""
    return {
        "id": str(key.id),
        "prefix": key.prefix,
        "name": key.name,
        "role": key.role,
        "sources": list(key.sources),
        "created_at": _when(key.created_at),
        "last_used_at": _when(key.last_used_at),
        "revoked_at": _when(key.revoked_at),
    }


def key_list(
    org: OrgOption,
    include_revoked: Annotated[
        bool, typer.Option("--all/--active", help="Also list revoked keys (default: all).")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """List an organization's API keys: id, prefix, role, sources, created, last used, revoked."""
    keys: list[ApiKey] = []
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        after = None
        while True:
            page = list_api_keys(
                session,
                organization_id=organization.id,
                first=MAX_PAGE,
                after=after,
                include_revoked=include_revoked,
            )
            keys.extend(page.items)
            if not page.has_next:
                break
            after = page.cursors[-1]
    if as_json:
        for key in keys:
            typer.echo(json.dumps(key_dict(key)))
        return
    table = _Listing(
        "id",
        "prefix",
        "name",
        "role",
        "sources",
        "created (UTC)",
        "last used",
        "revoked",
        title=f"API keys of {organization.name}",
    )
    for key in keys:
        table.add_row(
            str(key.id),
            key.prefix,
            key.name or "",
            key.role,
            ", ".join(key.sources),
            _short(key.created_at),
            _short(key.last_used_at) or "never",
            _short(key.revoked_at),
        )
    table.print()


def key_revoke(
    key: Annotated[str, typer.Argument(help="The key's id or its prefix (see `crm key list`).")],
    org: Annotated[
        str | None,
        typer.Option("--org", help="Only a key of this organization (id or name)."),
    ] = None,
) -> None:
    """Revoke an API key: every API process refuses it from its next request."""
    with unit_of_work() as session:
        organization_id = find_organization(session, ref=org).id if org is not None else None
        found = find_api_key(session, ref=key, organization_id=organization_id)
        already = found.revoked_at is not None
        revoked = revoke_api_key(session, organization_id=found.organization_id, key_id=found.id)
    if already:
        stderr().print(f"Key {revoked.prefix}… ({revoked.id}) was already revoked.")
        return
    log.info(
        "crm.api_key.revoked",
        organization_id=str(revoked.organization_id),
        key_id=str(revoked.id),
    )
    stderr().print(f"Revoked key {revoked.prefix}… ({revoked.id}).")
