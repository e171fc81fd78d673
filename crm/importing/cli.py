"""``crm import`` and ``crm export``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from crm.cli_common import ExitStatus, database, fail, reported_errors, stderr, stdout, unit_of_work
from crm.importing.columns import ColumnPlan, parse_column_map
from crm.importing.export import export_contacts
from crm.importing.imports_cli import app as imports_app
from crm.importing.imports_cli import print_preview, print_report
from crm.importing.jobs import ImportOptions, reported_status
from crm.importing.plan_view import review_column_plan
from crm.importing.preview import RowPreview
from crm.importing.rejects import write_rejects
from crm.importing.report import FIRST_PER_CODE, error_report, report_json
from crm.importing.submit import submit_import
from crm.models import ImportJob
from crm.tenancy.service import find_organization

_COUNTS = ("rows", "created", "updated", "unchanged", "linked", "rejected", "warnings")
__all__ = ["export", "import_contacts", "imports_app"]
OrgOption = Annotated[str, typer.Option("--org", help="Organization id or exact name.")]


def _summary(job: ImportJob, seconds: float, warnings: int, *, resumed: bool) -> dict:
    return {
        "job_id": str(job.id),
        "status": reported_status(job),
        "resumed": resumed,
        "rows": job.rows,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "linked": job.linked,
        "rejected": job.rejected,
        "warnings": warnings,
        "dry_run": job.dry_run,
        "seconds": round(seconds, 3),
        "error": job.error,
    }


def import_contacts(
    file: Annotated[Path, typer.Argument(help="The CSV file.", dir_okay=False)],
    org: OrgOption,
    source: Annotated[
        str,
        typer.Option(help="Source system name for these rows (any but manual; default csv)."),
    ] = "csv",
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="Map a header to a canonical column: SRC=DST (repeatable)."),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Region for phones and day/month order (default: org's).")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="File encoding when not UTF-8 (cp1252, latin-1...).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, write nothing.")] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Write rejected rows here (line, column, code, reason).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Accept the column plan as shown.")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse any column that is not mapped.")
    ] = False,
    show_all: Annotated[
        bool, typer.Option("--show-all", help="Print every warning and reject, not 5 per code.")
    ] = False,
    preview: Annotated[
        int,
        typer.Option(help="Show what becomes of the first N rows (with --dry-run: would).", min=0),
    ] = 0,
) -> None:
    """Import a CSV client list; safe to run again (rows already imported are unchanged)."""
    if not file.exists() or file.is_dir():
        fail(f"no such file: {file}", ExitStatus.USAGE)
    engine = database()
    with reported_errors():
        options = ImportOptions(
            source=source,
            dry_run=dry_run,
            column_map=parse_column_map(map_ or []),
            region=region,
            encoding=encoding,
            filename=file.name,
        )
    size = file.stat().st_size
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
    with reported_errors():
        plan = review_column_plan(
            file,
            column_map=options.column_map,
            encoding=encoding,
            region=region or organization.default_region,
            accept=yes,
            strict=strict,
            dry_run=dry_run,
            as_json=as_json,
        )
    started = time.monotonic()
    show_progress = not as_json and sys.stderr.isatty()
    progress = Progress(
        TextColumn("importing"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]} rows"),
        TimeRemainingColumn(),
        console=stderr(),
        disable=not show_progress,
    )
    task = progress.add_task("import", total=size, rows=0)
    previewed = RowPreview(preview) if preview else None
    with progress, reported_errors():
        submitted = submit_import(
            engine,
            organization=organization,
            options=options,
            actor="cli",
            path=file,
            progress=lambda j: progress.update(task, completed=j.processed_bytes, rows=j.rows),
            preview=previewed,
        )
        if submitted.error is not None:
            raise submitted.error
    job = submitted.job
    seconds = time.monotonic() - started
    with unit_of_work() as session:
        warnings = _warning_count(session, job)
        if rejects is not None:
            with rejects.open("w", newline="", encoding="utf-8") as out:
                write_rejects(session, job=job, out=out)
        reports = error_report(session, job=job, per_code=None if show_all else FIRST_PER_CODE)
        pets = None if job.dry_run else _pet_counts(session, job, plan)
    summary = _summary(job, seconds, warnings, resumed=submitted.resumed)
    if pets is not None:
        summary["pets"] = {"created": pets[0], "updated": pets[1]}
    if plan is not None:
        summary["columns"] = plan.as_json()
    if as_json:
        summary["codes"] = report_json(reports)
        if previewed is not None:
            summary["preview"] = [row.as_json() for row in previewed.rows]
        typer.echo(json.dumps(summary))
    else:
        _print_summary(summary, rejects)
        print_report(stdout(), reports, job_id=summary["job_id"], all_lines=show_all)
        if previewed is not None:
            print_preview(stdout(), previewed)
    if job.status != "succeeded":
        raise typer.Exit(int(ExitStatus.FAILED))


def _warning_count(session, job: ImportJob) -> int:
    from sqlalchemy import func, select

    from crm.models import ImportRowError as E

    return session.exec(
        select(func.count()).select_from(E).where(E.import_job_id == job.id, E.rejected.is_(False))
    ).one()[0]


def _pet_counts(session, job: ImportJob, plan: ColumnPlan | None) -> tuple[int, int] | None:
    """(pets created, pets changed) by the job, when its file had pet columns."""
    from crm.importing.pet_columns import PET_COLUMNS
    from crm.pets.service import import_pet_counts

    counts = import_pet_counts(session, organization_id=job.organization_id, import_job_id=job.id)
    if counts == (0, 0) and (plan is None or not set(PET_COLUMNS) & plan.fields()):
        return None
    return counts


def _print_summary(summary: dict, rejects: Path | None) -> None:
    table = Table(title="Import" + (" (dry run: nothing written)" if summary["dry_run"] else ""))
    for key in _COUNTS:
        table.add_column(key, justify="right")
    table.add_row(*(str(summary[k]) for k in _COUNTS))
    out = stdout()
    out.print(table)
    resumed = " (the interrupted import of this file, resumed)" if summary["resumed"] else ""
    out.print(f"job {summary['job_id']}: {summary['status']} in {summary['seconds']} s{resumed}")
    if (pets := summary.get("pets")) is not None:
        out.print(f"pets: {pets['created']} created, {pets['updated']} updated")
    if summary["error"]:
        out.print(f"[red]{summary['error']}[/]")
    if summary["rejected"] and rejects is not None:
        out.print(f"rejected rows written to {rejects}: fix them and import that file again")


def export(
    org: OrgOption,
    file: Annotated[
        Path | None, typer.Argument(help="Write here (default: standard output).", dir_okay=False)
    ] = None,
) -> None:
    """Write every active contact as the canonical CSV (formula cells neutralised)."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        if file is None:
            count = export_contacts(session, organization_id=organization.id, out=sys.stdout)
        else:
            with file.open("w", newline="", encoding="utf-8") as out:
                count = export_contacts(session, organization_id=organization.id, out=out)
    stderr().print(f"exported {count} contacts")
