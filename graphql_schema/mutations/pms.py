"""PMS connection mutations (admin): create, update, delete, test, trigger a sync.

Every resolver runs off the event loop (``base.mutation``): testing credentials and an inline
sync call the PMS over HTTP, which takes seconds.
"""

from __future__ import annotations

import functools
from typing import Any

import strawberry
from anyio import from_thread
from strawberry.scalars import JSON

from crm.errors import ServiceError
from crm.pms.catalog import suggest_clinicians, update_appointment_type, update_practitioner
from crm.pms.connections import (
    create_connection,
    delete_connection,
    pair_connection,
    test_connection,
    update_connection,
)
from crm.pms.sync import start_run, sync_connection
from graphql_schema.context import Info
from graphql_schema.mutations.base import mutation, run_command
from graphql_schema.permissions import IsAdmin
from graphql_schema.types.common import UserError, user_errors
from graphql_schema.types.pms import (
    PmsAppointmentType,
    PmsConnection,
    PmsPractitioner,
    PmsSyncRun,
    PmsType,
    practitioner_from_model,
)

CREDENTIALS_HELP = (
    'Write-only. Cliniko {"apiKey"}; Halaxy {"clientId", "clientSecret"}; MediRecords '
    '{"token", "practiceId"}; Gentu {"pairingCode"}. Stored encrypted, never returned.'
)


@strawberry.input(description="A new PMS connection.")
class CreatePmsConnectionInput:
    type: PmsType = strawberry.field(description="Which PMS.")
    credentials: JSON = strawberry.field(description=CREDENTIALS_HELP)
    display_name: str | None = strawberry.field(
        default=None, description="A name to recognise it by (default: the PMS's name)."
    )
    base_url: str | None = strawberry.field(
        default=None,
        description="The PMS's address when not its own (gateways, test servers). Cliniko's "
        "own shard comes from the API key's suffix.",
    )
    sync_frequency_minutes: int = strawberry.field(
        default=15, description="Minutes between syncs (1 to 10080)."
    )
    sync_enabled: bool = strawberry.field(default=True, description="Sync on the schedule.")
    test: bool = strawberry.field(
        default=True, description="Check the credentials against the PMS first."
    )


@strawberry.input(description="Changes to a PMS connection; omitted fields stay as they are.")
class UpdatePmsConnectionInput:
    id: strawberry.ID = strawberry.field(description="The connection.")
    display_name: str | None = strawberry.field(default=None, description="New name.")
    credentials: JSON | None = strawberry.field(default=None, description=CREDENTIALS_HELP)
    base_url: str | None = strawberry.field(
        default=None, description='New address; "" goes back to the PMS\'s own.'
    )
    sync_enabled: bool | None = strawberry.field(default=None, description="Sync on schedule.")
    sync_frequency_minutes: int | None = strawberry.field(
        default=None, description="Minutes between syncs."
    )


@strawberry.input(description="A PMS connection, by id.")
class PmsConnectionIdInput:
    id: strawberry.ID = strawberry.field(description="The connection.")


@strawberry.input(description="Sync one connection now.")
class TriggerPmsSyncInput:
    connection_id: strawberry.ID = strawberry.field(description="The connection.")
    full: bool = strawberry.field(
        default=False, description="Read everything rather than the changes since the last."
    )


@strawberry.input(description="Pair Gentu with a one-time pairing code generated in Gentu.")
class PairGentuConnectionInput:
    pairing_code: str = strawberry.field(
        description="The code Gentu shows when the practice pairs an app (used once)."
    )
    connection_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A Gentu connection to pair again; omitted: a new connection is made.",
    )
    display_name: str | None = strawberry.field(
        default=None, description="A name for a new connection (default: Gentu)."
    )
    base_url: str | None = strawberry.field(
        default=None, description="Gentu's address when not its own (test servers)."
    )
    sync_frequency_minutes: int = strawberry.field(
        default=15, description="Minutes between syncs of a new connection (1 to 10080)."
    )


@strawberry.type(description="Result of createPmsConnection / updatePmsConnection.")
class PmsConnectionPayload:
    pms_connection: PmsConnection | None = strawberry.field(
        description="The connection; null on errors."
    )
    errors: list[UserError] = strawberry.field(description="What was wrong with the input.")


@strawberry.type(description="Result of deletePmsConnection.")
class DeletePmsConnectionPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The removed connection.")
    errors: list[UserError] = strawberry.field(description="Why nothing was removed.")


@strawberry.type(description="Result of testPmsConnection.")
class TestPmsConnectionPayload:
    ok: bool = strawberry.field(description="True: the PMS accepts the stored credentials.")
    pms_connection: PmsConnection | None = strawberry.field(description="The connection.")
    errors: list[UserError] = strawberry.field(
        description="Why not: PMS_AUTH_FAILED, PMS_UNAVAILABLE, NOT_FOUND..."
    )


@strawberry.type(description="Result of triggerPmsSync.")
class TriggerPmsSyncPayload:
    pms_sync_run: PmsSyncRun | None = strawberry.field(
        description="The run: RUNNING when it runs in the background (with Redis), ended "
        "when it ran inline (without)."
    )
    errors: list[UserError] = strawberry.field(
        description="Why no run started (SYNC_RUNNING: one is running already)."
    )


def resolve_create(info: Info, input: CreatePmsConnectionInput) -> PmsConnectionPayload:
    ctx = info.context
    found, errors = run_command(
        info,
        lambda session: create_connection(
            session,
            organization=ctx.organization,
            type=input.type.value,
            credentials=input.credentials,
            display_name=input.display_name,
            base_url=input.base_url,
            sync_frequency_minutes=input.sync_frequency_minutes,
            sync_enabled=input.sync_enabled,
            test=input.test,
        ),
    )
    return PmsConnectionPayload(
        pms_connection=PmsConnection.from_model(found) if found else None, errors=errors
    )


@strawberry.input(description="Changes to a PMS practitioner; omitted fields stay as they are.")
class UpdatePmsPractitionerInput:
    id: strawberry.ID = strawberry.field(description="The practitioner (PmsPractitioner.id).")
    clinician_ref: str | None = strawberry.field(
        default=None, description='The clinician it is; "" clears the mapping.'
    )
    telehealth: bool | None = strawberry.field(default=None, description="Telehealth flag.")
    sync_enabled: bool | None = strawberry.field(
        default=None, description="False: skip its appointments."
    )


@strawberry.input(description="Changes to a PMS appointment type.")
class UpdatePmsAppointmentTypeInput:
    id: strawberry.ID = strawberry.field(description="The type (PmsAppointmentType.id).")
    telehealth: bool | None = strawberry.field(default=None, description="Telehealth flag.")
    sync_enabled: bool | None = strawberry.field(
        default=None, description="False: skip appointments of this type."
    )


@strawberry.type(description="Result of updatePmsPractitioner.")
class PmsPractitionerPayload:
    pms_practitioner: PmsPractitioner | None = strawberry.field(description="It; null on errors.")
    errors: list[UserError] = strawberry.field(description="What was wrong.")


@strawberry.type(description="Result of updatePmsAppointmentType.")
class PmsAppointmentTypePayload:
    pms_appointment_type: PmsAppointmentType | None = strawberry.field(
        description="It; null on errors."
    )
    errors: list[UserError] = strawberry.field(description="What was wrong.")


def resolve_update_practitioner(
    info: Info, input: UpdatePmsPractitionerInput
) -> PmsPractitionerPayload:
    ctx = info.context

    def command(session):
        found = update_practitioner(
            session,
            organization_id=ctx.organization.id,
            id=input.id,
            clinician_ref=input.clinician_ref,
            telehealth=input.telehealth,
            sync_enabled=input.sync_enabled,
        )
        hint = suggest_clinicians(
            session, organization_id=ctx.organization.id, practitioners=[found]
        )
        return practitioner_from_model(found, hint.get(found.id))

    found, errors = run_command(info, command)
    return PmsPractitionerPayload(pms_practitioner=found, errors=errors)


def resolve_update_type(
    info: Info, input: UpdatePmsAppointmentTypeInput
) -> PmsAppointmentTypePayload:
    ctx = info.context
    found, errors = run_command(
        info,
        lambda session: PmsAppointmentType.from_model(
            update_appointment_type(
                session,
                organization_id=ctx.organization.id,
                id=input.id,
                telehealth=input.telehealth,
                sync_enabled=input.sync_enabled,
            )
        ),
    )
    return PmsAppointmentTypePayload(pms_appointment_type=found, errors=errors)


def resolve_pair(info: Info, input: PairGentuConnectionInput) -> PmsConnectionPayload:
    ctx = info.context

    def command(session):
        if input.connection_id is not None:
            return pair_connection(
                session,
                organization=ctx.organization,
                connection_id=input.connection_id,
                pairing_code=input.pairing_code,
                settings=ctx.settings,
            )
        return create_connection(
            session,
            organization=ctx.organization,
            type="GENTU",
            credentials={"pairingCode": input.pairing_code},
            display_name=input.display_name,
            base_url=input.base_url,
            sync_frequency_minutes=input.sync_frequency_minutes,
            settings=ctx.settings,
        )

    found, errors = run_command(info, command)
    return PmsConnectionPayload(
        pms_connection=PmsConnection.from_model(found) if found else None, errors=errors
    )


def resolve_update(info: Info, input: UpdatePmsConnectionInput) -> PmsConnectionPayload:
    ctx = info.context
    changes: dict[str, Any] = {
        "display_name": input.display_name,
        "credentials": input.credentials,
        "sync_enabled": input.sync_enabled,
        "sync_frequency_minutes": input.sync_frequency_minutes,
    }
    if input.base_url is not None:
        changes["base_url"] = input.base_url
    found, errors = run_command(
        info,
        lambda session: update_connection(
            session, organization_id=ctx.organization.id, connection_id=input.id, **changes
        ),
    )
    return PmsConnectionPayload(
        pms_connection=PmsConnection.from_model(found) if found else None, errors=errors
    )


def resolve_delete(info: Info, input: PmsConnectionIdInput) -> DeletePmsConnectionPayload:
    ctx = info.context
    _, errors = run_command(
        info,
        lambda session: delete_connection(
            session, organization_id=ctx.organization.id, connection_id=input.id
        ),
    )
    return DeletePmsConnectionPayload(deleted_id=None if errors else input.id, errors=errors)


def resolve_test(info: Info, input: PmsConnectionIdInput) -> TestPmsConnectionPayload:
    ctx = info.context
    found, errors = run_command(
        info,
        lambda session: test_connection(
            session, organization=ctx.organization, connection_id=input.id
        ),
    )
    return TestPmsConnectionPayload(
        ok=not errors,
        pms_connection=PmsConnection.from_model(found) if found else None,
        errors=errors,
    )


def resolve_trigger(info: Info, input: TriggerPmsSyncInput) -> TriggerPmsSyncPayload:
    ctx = info.context
    run, errors = run_command(
        info,
        lambda session: start_run(
            session,
            organization_id=ctx.organization.id,
            connection_id=input.connection_id,
            full=input.full,
            settings=ctx.settings,
        ),
    )
    if run is None:
        return TriggerPmsSyncPayload(pms_sync_run=None, errors=errors)
    try:
        if ctx.settings.redis_url:
            from jobs.queue import enqueue

            # its own job id: a scheduled sync queued for the connection finds this run
            # running and steps aside
            from_thread.run(
                functools.partial(
                    enqueue,
                    "pms.sync",
                    str(ctx.organization.id),
                    str(run.connection_id),
                    input.full,
                    str(run.id),
                    _job_id=f"pms.sync:{run.connection_id}:{run.id}",
                )
            )
        else:
            run = sync_connection(
                ctx.engine,
                organization_id=ctx.organization.id,
                connection_id=run.connection_id,
                run_id=run.id,
                settings=ctx.settings,
            )
    except ServiceError as exc:
        return TriggerPmsSyncPayload(pms_sync_run=None, errors=user_errors(exc))
    finally:
        ctx.forget_reads()
    return TriggerPmsSyncPayload(pms_sync_run=PmsSyncRun.from_model(run), errors=[])


@strawberry.type
class PmsMutation:
    create_pms_connection: PmsConnectionPayload = mutation(
        resolver=resolve_create,
        description="Connect a PMS (admin). With `test` (the default) the PMS must accept the "
        "credentials first; they are stored encrypted and never returned.",
        permission_classes=[IsAdmin],
    )
    pair_gentu_connection: PmsConnectionPayload = mutation(
        resolver=resolve_pair,
        description="Pair Gentu (admin): the one-time pairing code is exchanged for the "
        "practice's tenant and its secret (stored encrypted), then checked. With "
        "`connectionId` an existing Gentu connection is paired again. PMS_AUTH_FAILED when "
        "Gentu refuses the code (used, expired or mistyped).",
        permission_classes=[IsAdmin],
    )
    update_pms_practitioner: PmsPractitionerPayload = mutation(
        resolver=resolve_update_practitioner,
        description="Map a PMS practitioner to a clinician, set its telehealth flag, or turn "
        "the sync of its appointments off (admin).",
        permission_classes=[IsAdmin],
    )
    update_pms_appointment_type: PmsAppointmentTypePayload = mutation(
        resolver=resolve_update_type,
        description="Set an appointment type's telehealth flag or turn the sync of its "
        "appointments off (admin).",
        permission_classes=[IsAdmin],
    )
    update_pms_connection: PmsConnectionPayload = mutation(
        resolver=resolve_update,
        description="Change a PMS connection (admin); new credentials reset its failure count.",
        permission_classes=[IsAdmin],
    )
    delete_pms_connection: DeletePmsConnectionPayload = mutation(
        resolver=resolve_delete,
        description="Remove a PMS connection with its runs and synced appointments (admin). "
        "The contacts and source records it brought stay. SYNC_RUNNING while a run is live.",
        permission_classes=[IsAdmin],
    )
    test_pms_connection: TestPmsConnectionPayload = mutation(
        resolver=resolve_test,
        description="Check a connection's stored credentials against its PMS (admin).",
        permission_classes=[IsAdmin],
    )
    trigger_pms_sync: TriggerPmsSyncPayload = mutation(
        resolver=resolve_trigger,
        description="Sync a connection now (admin): in the background with Redis (the run "
        "comes back RUNNING), inline without (the run comes back ended).",
        permission_classes=[IsAdmin],
    )


__all__ = ["PmsMutation"]
