"""importContacts: CSV text or a multipart upload through the bulk import."""

from __future__ import annotations

import io

import strawberry
from sqlmodel import Session
from strawberry.file_uploads import Upload

from crm.errors import ErrorCode, ServiceError
from crm.importing.columns import parse_column_map
from crm.importing.jobs import ImportOptions, create_import_job, get_import_job, store_import_file
from crm.importing.service import run_import
from crm.importing.validation import csv_text_bytes
from graphql_schema.context import Info
from graphql_schema.types.common import UserError, user_errors
from graphql_schema.types.import_job import ImportJob
from jobs.queue import enqueue

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


@strawberry.input(description="Map a file column to a canonical column.")
class ColumnMapInput:
    column: str = strawberry.field(description="The header as it is in the file.")
    field: str = strawberry.field(description="Canonical column (external_id, email, phone...).")


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


@strawberry.type(description="Result of importContacts.")
class ImportContactsPayload:
    import_job: ImportJob | None = strawberry.field(
        description="The job: finished, or PENDING when it runs in the background."
    )
    errors: list[UserError] = strawberry.field(
        description="Why the file could not be imported at all (row problems are in the job)."
    )


async def _content(input: ImportContactsInput) -> tuple[bytes, str | None]:
    if (input.csv is None) == (input.file is None):
        raise ServiceError(ErrorCode.INVALID_INPUT, "give exactly one of csv or file", field="csv")
    if input.csv is not None:
        return csv_text_bytes(input.csv), None
    data = await input.file.read()  # type: ignore[union-attr]
    return data, getattr(input.file, "filename", None)


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
    background = (
        bool(ctx.settings.redis_url) and len(content) > ctx.settings.import_background_bytes
    )
    with Session(ctx.engine, expire_on_commit=False) as session:
        try:
            job = create_import_job(
                session,
                organization=ctx.organization,
                options=options,
                total_bytes=len(content),
                actor=ctx.principal.actor,
                allowed_sources=ctx.principal.sources,
            )
            if background:
                store_import_file(session, job=job, content=content)
            session.commit()
        except ServiceError as exc:
            session.rollback()
            return ImportContactsPayload(import_job=None, errors=user_errors(exc))
    errors: list[UserError] = []
    if background:
        await enqueue("contacts.import", str(job.id), _job_id=f"contacts.import:{job.id}")
    else:
        try:
            run_import(engine=ctx.engine, job_id=job.id, stream=io.BytesIO(content))
        except ServiceError as exc:
            errors = user_errors(exc)
        with Session(ctx.engine, expire_on_commit=False) as session:
            job = get_import_job(session, organization_id=ctx.organization.id, job_id=job.id)
    # a fresh read snapshot, so the payload's nested fields see what the import wrote
    ctx.session.rollback()
    return ImportContactsPayload(import_job=ImportJob.from_model(job), errors=errors)
