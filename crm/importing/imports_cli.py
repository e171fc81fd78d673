"""``crm imports list`` and ``crm imports show``, and the per-code report ``crm import``
prints after its summary."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlmodel import Session

from crm.cli_common import ExitStatus, fail, reported_errors, stdout, unit_of_work
from crm.importing.jobs import get_import_job
from crm.importing.preview import RowPreview
from crm.importing.report import (
    FIRST_PER_CODE,
    CodeReport,
    error_report,
    job_json,
    list_import_jobs,
    report_json,
)
from crm.models import ImportJob
from crm.tenancy.service import find_organization

app = typer.Typer(help="Import jobs: what ran, what it did, and every warning and reject.")

_COUNTS = ("rows", "created", "updated", "unchanged", "linked", "rejected")


def print_report(out: Console, reports: list[CodeReport], *, job_id: str, all_lines: bool) -> None:
    """Counts per code, then the first lines of each (every line with ``all_lines``)."""
    if not reports:
        return
    table = Table(title="Warnings and rejects by code")
    for name in ("code", "warnings", "rejected"):
        table.add_column(name, justify="left" if name == "code" else "right")
    for r in reports:
        table.add_row(r.code, str(r.warnings), str(r.rejected))
    out.print(table)
    hidden = False
    for r in reports:
        out.print(f"[bold]{escape(r.code)}[/] ({r.total}):")
        for e in r.first:
            what = "rejected" if e.rejected else "warning"
            column = f" column {escape(e.column)}" if e.column else ""
            out.print(f"  line {e.line}{column}: {escape(e.message)} ({what})")
        if r.total > len(r.first):
            hidden = True
            out.print(f"  ... and {r.total - len(r.first)} more")
    if hidden and not all_lines:
        out.print(f"every line: --show-all, or crm imports show {job_id} --errors")


def print_preview(out: Console, preview: RowPreview) -> None:
    """What became (or, in a dry run, would become) of the first rows."""
    verb = "would become" if preview.dry_run else "became"
    out.print(f"What {verb} of the first {len(preview.rows)} rows:")
    for row in preview.rows:
        out.print("  " + escape(row.describe()))


@app.command("list")
def list_imports(
    org: Annotated[str, typer.Option("--org", help="Organization id or exact name.")],
    first: Annotated[int, typer.Option(help="How many, newest first.", min=0, max=500)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The organization's imports, newest first: status, counts, file."""
    with reported_errors(), unit_of_work() as session:
        organization = find_organization(session, ref=org)
        page = list_import_jobs(session, organization_id=organization.id, first=first)
        jobs = [job_json(job) for job in page.items]
    if as_json:
        for job in jobs:
            typer.echo(json.dumps(job))
        return
    # two lines a job, so the job id (what `crm imports show` takes) is never cut short
    out = stdout()
    out.print(f"Imports ({len(jobs)} of {page.total}, newest first)", soft_wrap=True)
    for job in jobs:
        status = job["status"] + (" (dry run)" if job["dry_run"] else "")
        when = (job["created_at"] or "")[:16].replace("T", " ")
        file = escape(job["filename"] or "-")
        out.print(f"{job['job_id']}  {when}  {status}  {file}", soft_wrap=True)
        counts = ", ".join(f"{job[k]} {k}" for k in _COUNTS if k != "rows")
        out.print(f"    {job['rows']} rows: {counts}", soft_wrap=True)


@app.command("show")
def show_import(
    job_id: Annotated[str, typer.Argument(help="The import job id.")],
    org: Annotated[str | None, typer.Option("--org", help="Organization id or exact name.")] = None,
    errors: Annotated[
        bool, typer.Option("--errors", help="Every warning and reject, not the first few.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """One import: status, counts, options, and its warnings and rejects per code."""
    with reported_errors(), unit_of_work() as session:
        if org is not None:
            organization = find_organization(session, ref=org)
            job = get_import_job(session, organization_id=organization.id, job_id=job_id)
        else:
            job = _any_job(session, job_id)
        reports = error_report(session, job=job, per_code=None if errors else FIRST_PER_CODE)
        summary = job_json(job)
    if as_json:
        typer.echo(json.dumps({**summary, "codes": report_json(reports)}))
        return
    out = stdout()
    dry = " (dry run)" if summary["dry_run"] else ""
    table = Table(title=f"Import {summary['job_id']}{dry}")
    for name in _COUNTS:
        table.add_column(name, justify="right")
    table.add_row(*(str(summary[k]) for k in _COUNTS))
    out.print(table)
    out.print(f"status: {summary['status']}")
    out.print(f"file: {escape(summary['filename'] or '-')}  source: {escape(summary['source'])}")
    out.print(f"options: {escape(json.dumps(summary['options'], sort_keys=True))}")
    out.print(f"submitted {summary['created_at']} by {escape(summary['actor'] or '-')}")
    if summary["error"]:
        out.print(f"[red]{escape(summary['error'])}[/]")
    print_report(out, reports, job_id=summary["job_id"], all_lines=errors)


def _any_job(session: Session, job_id: str) -> ImportJob:
    """The job by id alone: the operator's command line reaches every organization."""
    try:
        job = session.get(ImportJob, uuid.UUID(job_id))
    except ValueError:
        job = None
    if job is None:
        fail(f"no such import job: {job_id}", ExitStatus.USAGE)
    return job
