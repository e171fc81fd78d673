"""ImportJob: an import's state, counts and rejected lines."""

from __future__ import annotations

import datetime
import enum

import strawberry
from strawberry.scalars import JSON

from crm.errors import ServiceError
from crm.importing.jobs import get_import_job, list_import_errors, reported_status
from crm.importing.report import error_report, list_import_jobs
from crm.models import ImportJob as ImportJobModel
from crm.models import ImportRowError as RowErrorModel
from crm.pets.service import import_pet_counts
from graphql_schema.context import Info
from graphql_schema.off_the_loop import database_field
from graphql_schema.permissions import IsReader
from graphql_schema.queries import bad_input
from graphql_schema.types.common import PageInfo


@strawberry.enum(description="Where an import is.")
class ImportStatus(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@strawberry.type(description="A problem with one line (line 1 is the header) of an import.")
class ImportRowError:
    line: int = strawberry.field(description="Physical line in the file where the row starts.")
    column: str | None = strawberry.field(description="The field at fault, or null for the row.")
    code: str = strawberry.field(
        description="INVALID_EMAIL, INVALID_PHONE, NOTHING_TO_IDENTIFY, UNKNOWN_COLUMN..."
    )
    message: str = strawberry.field(description="What is wrong and how to fix it.")
    rejected: bool = strawberry.field(
        description="True: the row was not imported. False: it imported without this value."
    )
    row: JSON = strawberry.field(description="The row as it was in the file (header -> value).")

    @classmethod
    def from_model(cls, e: RowErrorModel) -> ImportRowError:
        return cls(
            line=e.line,
            column=e.column,
            code=e.code,
            message=e.message,
            rejected=e.rejected,
            row=e.row,
        )


@strawberry.type(description="An edge of the row errors connection.")
class ImportRowErrorEdge:
    cursor: str = strawberry.field(description="Opaque cursor.")
    node: ImportRowError = strawberry.field(description="The row error.")


@strawberry.type(description="Row errors in file order.")
class ImportRowErrorConnection:
    edges: list[ImportRowErrorEdge] = strawberry.field(description="The page.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    total_count: int = strawberry.field(description="Every row error of the job.")


@strawberry.type(description="What an import did to pets (docs/pets.md).")
class ImportPetCounts:
    created: int = strawberry.field(description="Pets the rows created.")
    updated: int = strawberry.field(
        description="Pet versions the rows added (a changed pet; a pet changed by two rows "
        "counts twice). Unchanged pets add none; conflicts are row errors."
    )


@strawberry.type(description="One run of an import, with its counts.")
class ImportJob:
    _model: strawberry.Private[ImportJobModel]

    id: strawberry.ID = strawberry.field(description="Import job id.")
    status: ImportStatus = strawberry.field(
        description="PENDING (queued), RUNNING, SUCCEEDED, FAILED, or INTERRUPTED: it was "
        "running when its process died (no heartbeat for CRM_IMPORT_HEARTBEAT_LIMIT_SECONDS); "
        "importing the same file again resumes it."
    )
    source: str = strawberry.field(description="Source system name the rows were recorded as.")
    filename: str | None = strawberry.field(description="Uploaded file name, if any.")
    dry_run: bool = strawberry.field(description="True: nothing was written.")
    rows: int = strawberry.field(description="Data rows read so far.")
    processed_bytes: int = strawberry.field(description="Bytes of the file read so far.")
    total_bytes: int | None = strawberry.field(description="Size of the file, in bytes.")
    created: int = strawberry.field(description="Rows that created a contact.")
    updated: int = strawberry.field(description="Rows that changed what their source said.")
    unchanged: int = strawberry.field(description="Rows identical to what was already known.")
    linked: int = strawberry.field(description="Rows attached to an existing contact.")
    rejected: int = strawberry.field(description="Rows not imported (see errors).")
    error: str | None = strawberry.field(description="Why the job failed as a whole.")
    options: JSON = strawberry.field(
        description="What it was asked to do: source, dry_run, column_map, region, encoding."
    )
    created_at: datetime.datetime = strawberry.field(description="When it was submitted.")
    started_at: datetime.datetime | None = strawberry.field(description="When it started.")
    finished_at: datetime.datetime | None = strawberry.field(description="When it finished.")

    @classmethod
    def from_model(cls, job: ImportJobModel) -> ImportJob:
        return cls(
            _model=job,
            id=strawberry.ID(str(job.id)),
            status=ImportStatus(reported_status(job)),
            source=job.source,
            filename=job.filename,
            dry_run=job.dry_run,
            rows=job.rows,
            processed_bytes=job.processed_bytes,
            total_bytes=job.total_bytes,
            created=job.created,
            updated=job.updated,
            unchanged=job.unchanged,
            linked=job.linked,
            rejected=job.rejected,
            error=job.error,
            options=job.options or {},
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )

    @strawberry.field(description="Share of the file processed, 0 to 1 (1 once finished).")
    def progress(self) -> float:
        job = self._model
        if job.status in ("succeeded", "failed"):
            return 1.0
        if not job.total_bytes:
            return 0.0
        return min(1.0, job.processed_bytes / job.total_bytes)

    @database_field(description="Pets created and changed by the rows (pet columns).")
    def pets(self, info: Info) -> ImportPetCounts:
        ctx = info.context
        created, updated = import_pet_counts(
            ctx.session, organization_id=self._model.organization_id, import_job_id=self._model.id
        )
        return ImportPetCounts(created=created, updated=updated)

    @database_field(
        description="How many rows each error code warned about or rejected, most frequent "
        "first (the lines themselves are in `errors`)."
    )
    def error_counts(self, info: Info) -> list[ImportErrorCount]:
        reports = error_report(info.context.session, job=self._model, per_code=0)
        return [
            ImportErrorCount(code=r.code, warnings=r.warnings, rejected=r.rejected) for r in reports
        ]

    @database_field(description="Rejected rows and dropped values, in file order; `first` ≤ 1000.")
    def errors(
        self, info: Info, first: int = 100, after: str | None = None
    ) -> ImportRowErrorConnection:
        try:
            page = list_import_errors(
                info.context.session, job=self._model, first=first, after=after
            )
        except ServiceError as exc:
            raise bad_input(exc) from None
        edges = [
            ImportRowErrorEdge(cursor=c, node=ImportRowError.from_model(e))
            for c, e in zip(page.cursors, page.items, strict=True)
        ]
        return ImportRowErrorConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total,
        )


@strawberry.type(description="How many rows of an import one error code concerns.")
class ImportErrorCount:
    code: str = strawberry.field(description="The error code (INVALID_EMAIL, UNBALANCED_QUOTE...).")
    warnings: int = strawberry.field(description="Rows that imported without the value.")
    rejected: int = strawberry.field(description="Rows not imported for it.")


@strawberry.type(description="An edge of the import jobs connection.")
class ImportJobEdge:
    cursor: str = strawberry.field(description="Opaque cursor.")
    node: ImportJob = strawberry.field(description="The import job.")


@strawberry.type(description="Import jobs, newest first.")
class ImportJobConnection:
    edges: list[ImportJobEdge] = strawberry.field(description="The page.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    total_count: int = strawberry.field(description="Every import job of the organization.")


@strawberry.type
class ImportQuery:
    @database_field(
        description="An import job of the caller's organization, or null.",
        permission_classes=[IsReader],
    )
    def import_job(self, info: Info, id: strawberry.ID) -> ImportJob | None:
        ctx = info.context
        try:
            job = get_import_job(ctx.session, organization_id=ctx.organization.id, job_id=id)
        except ServiceError:
            return None
        return ImportJob.from_model(job)

    @database_field(
        description="The organization's import jobs (dry runs too), newest first; `first` ≤ "
        "500. Each job's `errors` and `errorCounts` say what it warned about and rejected.",
        permission_classes=[IsReader],
    )
    def import_jobs(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> ImportJobConnection:
        ctx = info.context
        try:
            page = list_import_jobs(
                ctx.session, organization_id=ctx.organization.id, first=first, after=after
            )
        except ServiceError as exc:
            raise bad_input(exc) from None
        edges = [
            ImportJobEdge(cursor=c, node=ImportJob.from_model(j))
            for c, j in zip(page.cursors, page.items, strict=True)
        ]
        return ImportJobConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total,
        )
