"""importContacts: CSV text or a multipart upload through the bulk import."""

from __future__ import annotations

import functools
import io
import uuid
from typing import Any

import strawberry
from anyio import from_thread
from strawberry.file_uploads import Upload

from crm.errors import ErrorCode, ServiceError
from crm.importing.column_check import ColumnPlanRefused, check_column_plan, preview_columns
from crm.importing.columns import parse_column_map
from crm.importing.jobs import ImportOptions
from crm.importing.reader import ImportFailed
from crm.importing.runner import ImportRunner
from crm.importing.submit import Enqueue, Submitted, submit_import
from crm.importing.validation import csv_text_bytes
from graphql_schema.context import Info
from graphql_schema.types.common import UserError, user_errors
from graphql_schema.types.import_job import ImportJob
from jobs.queue import enqueue

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


@strawberry.input(description="Map a file column to a canonical column.")
class ColumnMapInput:
    column: str = strawberry.field(description="The header as it is in the file.")
    field: str = strawberry.field(
        description="Canonical column (external_id, email, phone, home_phone...), or `metadata` "
        "to keep the column in each contact's metadata."
    )


@strawberry.input(
    description="A client list to import: `csv` text or a `file` upload (GraphQL multipart "
    "request). Safe to re-run: rows already imported come back unchanged."
)
class ImportContactsInput:
    csv: str | None = strawberry.field(default=None, description="The CSV text.")
    file: Upload | None = strawberry.field(default=None, description="The CSV file upload.")
    source: str = strawberry.field(
        default="csv",
        description="Source system name the rows are recorded as: csv, csv:<label> or another "
        "name of the CSV class the organization does not rank above CSV, or a name the API key "
        "may write as (SOURCE_NOT_ALLOWED otherwise; never `manual`).",
    )
    dry_run: bool = strawberry.field(
        default=False, description="Report every row's outcome without writing anything."
    )
    column_map: list[ColumnMapInput] | None = strawberry.field(
        default=None, description="Extra header mappings beyond the built-in aliases."
    )
    region: str | None = strawberry.field(
        default=None, description="Region for phones and day/month order (default: the org's)."
    )
    encoding: str | None = strawberry.field(
        default=None, description="File encoding when not UTF-8 (cp1252, latin-1...)."
    )
    accept_column_plan: bool = strawberry.field(
        default=False,
        description="Import with the column plan as it is: columns that only look like a "
        "field stay in metadata, columns proposed from their values import as proposed, and a "
        "file without a name or contact-channel column imports. False: such a plan is "
        "refused with COLUMN_PLAN_REFUSED before anything is written (a dry run reports it).",
    )
    strict: bool = strawberry.field(
        default=False,
        description="Refuse the file when any column is not mapped (map one to `metadata` "
        "to keep it there).",
    )


@strawberry.type(description="How one file column is read (the column plan).")
class ColumnPlanEntry:
    column: str = strawberry.field(description="The header as it is in the file.")
    field: str | None = strawberry.field(
        description="The canonical column it imports as; null: kept in each contact's metadata."
    )
    confidence: float = strawberry.field(
        description="1.0 mapped or an exact alias, 0.9 from the header's words, lower from "
        "the column's values or a header that only looks like a field."
    )
    how: str = strawberry.field(description="map, alias, words, content or none.")
    note: str | None = strawberry.field(description="Why, when the match is not exact.")
    confirm: bool = strawberry.field(
        description="True: a real import needs a decision on this column (columnMap, or "
        "acceptColumnPlan)."
    )

    @classmethod
    def from_match(cls, match: Any) -> ColumnPlanEntry:
        return cls(
            column=match.header,
            field=match.field,
            confidence=match.confidence,
            how=match.how,
            note=match.note,
            confirm=match.confirm,
        )


@strawberry.type(description="Result of importContacts.")
class ImportContactsPayload:
    import_job: ImportJob | None = strawberry.field(
        description="The job: finished, or PENDING (with its `progress`) when it runs in the "
        "background: files above CRM_IMPORT_BACKGROUND_BYTES."
    )
    errors: list[UserError] = strawberry.field(
        description="Why the file could not be imported at all (row problems are in the job); "
        "COLUMN_PLAN_REFUSED: the column plan needs a decision (see columnPlan)."
    )
    column_plan: list[ColumnPlanEntry] | None = strawberry.field(
        default=None,
        description="How each file column is read, once the header could be read.",
    )


async def _content(input: ImportContactsInput) -> tuple[bytes, str | None]:
    if (input.csv is None) == (input.file is None):
        raise ServiceError(ErrorCode.INVALID_INPUT, "give exactly one of csv or file", field="csv")
    if input.csv is not None:
        return csv_text_bytes(input.csv), None
    if not callable(getattr(input.file, "read", None)):
        # a literal or a variable value in place of a multipart file part
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            "file must be a multipart upload (GraphQL multipart request); send text as csv",
            field="file",
        )
    data = await input.file.read()  # type: ignore[union-attr]
    return data, getattr(input.file, "filename", None)


def _enqueuer(ctx: Any) -> Enqueue | None:
    """How this server runs an import in the background: arq's ``contacts.import`` with Redis,
    else the app's own runner (None when the app runs without its lifespan: then inline)."""
    if ctx.settings.redis_url:

        def to_arq(job_id: uuid.UUID, run_key: str) -> None:
            # called on the worker thread ``submit_import`` runs on
            from_thread.run(
                functools.partial(
                    enqueue, "contacts.import", str(job_id), _job_id=f"contacts.import:{run_key}"
                )
            )

        return to_arq
    runner: ImportRunner | None = getattr(ctx.request.app.state, "import_runner", None)
    return runner.submit if runner is not None and runner.running else None


async def resolve(info: Info, input: ImportContactsInput) -> ImportContactsPayload:
    ctx = info.context
    try:
        content, filename = await _content(input)
        if len(content) > MAX_UPLOAD_BYTES:
            raise ServiceError(
                ErrorCode.INVALID_INPUT, "file too large: use `crm import` for it", field="file"
            )
        options = ImportOptions(
            source=input.source,
            dry_run=input.dry_run,
            column_map=parse_column_map({m.column: m.field for m in input.column_map or []}),
            region=input.region,
            encoding=input.encoding,
            filename=filename,
        )
    except ServiceError as exc:
        return ImportContactsPayload(import_job=None, errors=user_errors(exc))

    def review() -> Any:
        try:
            plan = preview_columns(
                io.BytesIO(content),
                column_map=options.column_map,
                encoding=options.encoding,
                region=options.region or ctx.organization.default_region,
            )
        except ImportFailed:
            return None, None  # the import itself says why the file cannot be read
        try:
            check_column_plan(plan, accept=input.accept_column_plan, strict=input.strict)
        except ColumnPlanRefused as refused:
            if not options.dry_run:
                return plan, refused
        return plan, None

    try:
        plan, refused = await ctx.run_sync(review)
    except ServiceError as exc:
        return ImportContactsPayload(import_job=None, errors=user_errors(exc))
    entries = (
        None
        if plan is None
        else [ColumnPlanEntry.from_match(m) for m in plan.matches if m.how != "skipped"]
    )
    if refused is not None:
        return ImportContactsPayload(
            import_job=None, errors=user_errors(refused), column_plan=entries
        )

    def submit() -> Submitted:
        try:
            return submit_import(
                ctx.engine,
                organization=ctx.organization,
                options=options,
                actor=ctx.principal.actor,
                allowed_sources=ctx.principal.sources,
                content=content,
                enqueue=_enqueuer(ctx),
                inline_max_bytes=ctx.settings.import_background_bytes,
            )
        finally:
            # a fresh read snapshot, so the payload's nested fields see what the import wrote
            ctx.forget_reads()

    try:
        # reading, planning and storing the file is blocking work: on a worker thread, so
        # that the server answers other requests meanwhile
        submitted = await ctx.run_sync(submit)
    except ServiceError as exc:
        return ImportContactsPayload(import_job=None, errors=user_errors(exc))
    errors = user_errors(submitted.error) if submitted.error is not None else []
    return ImportContactsPayload(
        import_job=ImportJob.from_model(submitted.job), errors=errors, column_plan=entries
    )
