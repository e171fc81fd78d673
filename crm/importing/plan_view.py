"""``crm import``'s column plan: shown before anything is written, and the stop when it needs
a decision (exit 2; exit 1 when no column identifies anyone)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from crm.cli_common import ExitStatus, stderr
from crm.importing.column_check import ColumnPlanRefused, check_column_plan, preview_columns
from crm.importing.columns import ColumnPlan
from crm.importing.reader import ImportFailed


def review_column_plan(
    path: Path,
    *,
    column_map: dict[str, str],
    encoding: str | None,
    region: str | None,
    accept: bool,
    strict: bool,
    dry_run: bool,
    as_json: bool,
) -> ColumnPlan | None:
    """Print the plan (not with ``--json``); exit unless it may import. A dry run only shows
    what a real import would stop on."""
    if not path.is_file():
        return None  # a pipe is read once, by the import itself: no plan to show first
    try:
        with path.open("rb") as stream:
            plan = preview_columns(stream, column_map=column_map, encoding=encoding, region=region)
    except ImportFailed:
        return None  # the import itself says why the file cannot be read
    if not as_json:
        print_plan(plan)
    try:
        check_column_plan(plan, accept=accept, strict=strict)
    except ColumnPlanRefused as refused:
        if dry_run:
            if not as_json:
                stderr().print(
                    f"[yellow]a real import would stop here:[/] {escape(refused.message)}"
                )
            return plan
        status = ExitStatus.FAILED if refused.nothing_to_identify else ExitStatus.USAGE
        if as_json:
            typer.echo(json.dumps(refusal_json(refused)))
        else:
            stderr().print(f"[bold red]error:[/] {escape(refused.message)} [{refused.code.value}]")
        raise typer.Exit(int(status)) from None
    return plan


def refusal_json(refused: ColumnPlanRefused) -> dict:
    return {
        "error": {
            "code": refused.code.value,
            "message": refused.message,
            "problems": [p.as_json() for p in refused.problems],
        },
        "columns": refused.plan.as_json(),
    }


def print_plan(plan: ColumnPlan) -> None:
    """The file's columns -> fields with their confidence, on stderr."""
    table = Table(title="Column plan", title_justify="left")
    for name in ("file column", "field", "confidence", "how", "note"):
        table.add_column(name)
    for match in plan.matches:
        if match.how == "skipped":
            continue
        field = match.field or "[dim]metadata[/]"
        if match.confirm:
            field = f"[yellow]{field} ?[/]"
        table.add_row(
            escape(match.header),
            field,
            f"{match.confidence:.2f}" if match.field else "",
            match.how,
            escape(match.note or ""),
        )
    stderr().print(table)
