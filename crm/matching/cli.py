"""``crm dedup``: run the dedup sweep of one organization now."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from crm.cli_common import database, reported_errors, stdout, unit_of_work
from crm.matching.settings import set_dedup_settings
from crm.matching.sweep import FULL, INCREMENTAL, run_sweep
from crm.tenancy.service import find_organization

OrgOption = Annotated[
    str, typer.Option("--org", help="Organization id or name (case-insensitive).")
]
_ROWS = ("contacts", "changed", "pairs_scored", "auto_merged", "candidates", "errors", "seconds")


def dedup(
    org: OrgOption,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental", help="Only contacts changed since the last sweep, against everyone."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    auto_merge_at: Annotated[
        float | None,
        typer.Option(
            "--auto-merge-at",
            help="Set the organization's auto-merge threshold (a probability, kept for later "
            "sweeps) before sweeping.",
        ),
    ] = None,
    review_at: Annotated[
        float | None,
        typer.Option(
            "--review-at",
            help="Set the organization's review threshold (a probability, kept for later "
            "sweeps) before sweeping.",
        ),
    ] = None,
) -> None:
    """Find duplicates now: merge the sure ones, queue the rest for review."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
    if auto_merge_at is not None or review_at is not None:
        with unit_of_work() as session:
            set_dedup_settings(
                session,
                organization_id=organization.id,
                auto_merge_at=auto_merge_at,
                review_at=review_at,
            )
    with reported_errors():
        summary = run_sweep(
            database(),
            organization_id=organization.id,
            mode=INCREMENTAL if incremental else FULL,
            actor="cli",
        )
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
        return
    out = stdout()
    if summary.skipped:
        out.print(f"A sweep of {organization.name!r} is running already: nothing done.")
        return
    table = Table(title=f"dedup sweep of {organization.name} ({summary.mode})")
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for name in _ROWS:
        table.add_row(name.replace("_", " "), str(getattr(summary, name)))
    out.print(table)
