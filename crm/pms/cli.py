"""``crm pms ...`` (connections and their sync) and ``crm secret rotate``."""

from __future__ import annotations

import enum
import json
import os
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from crm.cli_common import ExitStatus, database, fail, reported_errors, stderr, stdout, unit_of_work
from crm.models import PmsAppointmentType, PmsPractitioner, PmsSyncRun
from crm.pms import secrets
from crm.pms.catalog import (
    accept_suggested_clinician,
    list_appointment_types,
    list_practitioners,
    suggest_clinicians,
    update_appointment_type,
    update_practitioner,
)
from crm.pms.connections import (
    create_connection,
    get_connection,
    list_connections,
    pair_connection,
    test_connection,
)
from crm.pms.schedule import due_connections, list_runs, run_summary
from crm.pms.sync import sync_connection
from crm.settings import get_settings
from crm.tenancy.service import find_organization

pms_app = typer.Typer(help="PMS connections (Cliniko...) and their sync.", no_args_is_help=True)
secret_app = typer.Typer(help="The key that encrypts PMS credentials.", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organization id or exact name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class PmsTypeChoice(str, enum.Enum):
    cliniko = "cliniko"
    halaxy = "halaxy"
    medirecords = "medirecords"
    gentu = "gentu"


def _credentials(text: str) -> Any:
    if text == "-":
        text = sys.stdin.read()
    try:
        return json.loads(text)
    except ValueError:
        # the message must not repeat the text: it is a secret
        fail("--credentials is not valid JSON", ExitStatus.USAGE)


@pms_app.command("add")
def add(
    org: OrgOption,
    type: Annotated[PmsTypeChoice, typer.Option("--type", help="Which PMS.")],
    credentials: Annotated[
        str,
        typer.Option(
            "--credentials",
            help='JSON, e.g. \'{"apiKey": "..."}\' for Cliniko; "-" reads it from stdin '
            "(kept out of the shell history).",
        ),
    ],
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="The PMS's address, if not its own.")
    ] = None,
    frequency: Annotated[
        int, typer.Option("--frequency", help="Minutes between syncs.", min=1)
    ] = 15,
    no_test: Annotated[
        bool, typer.Option("--no-test", help="Store without checking the credentials.")
    ] = False,
) -> None:
    """Connect a PMS; prints the connection's id. The credentials are checked, then stored
    encrypted."""
    creds = _credentials(credentials)
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        connection = create_connection(
            session,
            organization=organization,
            type=type.value,
            credentials=creds,
            display_name=name,
            base_url=base_url,
            sync_frequency_minutes=frequency,
            test=not no_test,
        )
    typer.echo(str(connection.id))
    stderr().print(
        f"{connection.display_name} connected to {organization.name!r}; "
        f"it syncs every {connection.sync_frequency_minutes} min "
        "(`crm pms sync` to sync now)."
    )


@pms_app.command("list")
def list_(org: OrgOption, as_json: JsonOption = False) -> None:
    """The organization's connections (never their credentials)."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        connections = list_connections(session, organization_id=organization.id)
    rows = [
        {
            "id": str(c.id),
            "type": c.type,
            "display_name": c.display_name,
            "base_url": c.base_url,
            "sync_enabled": c.sync_enabled,
            "sync_frequency_minutes": c.sync_frequency_minutes,
            "last_sync_at": c.last_sync_at.isoformat() if c.last_sync_at else None,
            "last_sync_status": c.last_sync_status,
            "last_sync_error": c.last_sync_error,
            "failure_count": c.failure_count,
        }
        for c in connections
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(title=f"PMS connections of {organization.name}")
    for column in ("id", "type", "name", "enabled", "every", "last sync", "status"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["id"],
            r["type"],
            r["display_name"],
            "yes" if r["sync_enabled"] else "no",
            f"{r['sync_frequency_minutes']} min",
            r["last_sync_at"] or "never",
            r["last_sync_status"] or "",
        )
    stdout().print(table)


ConnectionOption = Annotated[str, typer.Option("--connection", help="Connection id.")]


def _practitioner_row(p: PmsPractitioner, suggestion: str | None) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "pms_id": p.pms_id,
        "name": p.name,
        "clinician_ref": p.clinician_ref,
        "suggested_clinician_ref": suggestion,
        "telehealth": p.telehealth,
        "sync_enabled": p.sync_enabled,
    }


def _type_row(t: PmsAppointmentType) -> dict[str, Any]:
    return {
        "id": str(t.id),
        "pms_id": t.pms_id,
        "name": t.name,
        "telehealth": t.telehealth,
        "sync_enabled": t.sync_enabled,
    }


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _print_practitioners(title: str, rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(title=title)
    for column in ("id", "pms id", "name", "clinician", "suggested", "telehealth", "sync"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["id"],
            r["pms_id"],
            r["name"],
            r["clinician_ref"] or "",
            r["suggested_clinician_ref"] or "",
            _yes(r["telehealth"]),
            _yes(r["sync_enabled"]),
        )
    stdout().print(table)


def _print_types(title: str, rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(title=title)
    for column in ("id", "pms id", "name", "telehealth", "sync"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["id"], r["pms_id"], r["name"], _yes(r["telehealth"]), _yes(r["sync_enabled"])
        )
    stdout().print(table)


@pms_app.command("practitioners")
def practitioners_(
    org: OrgOption, connection: ConnectionOption, as_json: JsonOption = False
) -> None:
    """A connection's practitioners (as of its last sync) with their clinician mapping."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        found = get_connection(session, organization_id=organization.id, connection_id=connection)
        listed = list_practitioners(
            session, organization_id=organization.id, connection_id=found.id
        )
        hints = suggest_clinicians(session, organization_id=organization.id, practitioners=listed)
    rows = [_practitioner_row(p, hints.get(p.id)) for p in listed]
    _print_practitioners(f"Practitioners of {found.display_name}", rows, as_json)


TelehealthOption = Annotated[
    bool | None,
    typer.Option(
        "--telehealth/--no-telehealth",
        help="Its appointments are telehealth (or not). Unchanged when not given.",
    ),
]
SyncOption = Annotated[
    bool | None,
    typer.Option(
        "--sync/--no-sync",
        help="Sync its appointments (--no-sync: skipped and counted). Unchanged when not given.",
    ),
]


@pms_app.command("practitioner")
def practitioner_(
    org: OrgOption,
    practitioner: Annotated[
        str, typer.Argument(help="The practitioner's id (crm pms practitioners).")
    ],
    clinician: Annotated[
        str | None,
        typer.Option("--clinician", help='The clinician reference it maps to ("" clears it).'),
    ] = None,
    accept_suggestion: Annotated[
        bool,
        typer.Option("--accept-suggestion", help="Map it to its suggested clinician reference."),
    ] = False,
    telehealth: TelehealthOption = None,
    sync_enabled: SyncOption = None,
    as_json: JsonOption = False,
) -> None:
    """Map one practitioner to a clinician (or accept the suggestion) and set its telehealth
    and sync flags, as updatePmsPractitioner does; prints it as it is then."""
    if accept_suggestion and clinician is not None:
        fail("--clinician and --accept-suggestion exclude each other", ExitStatus.USAGE)
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        if accept_suggestion:
            accept_suggested_clinician(session, organization_id=organization.id, id=practitioner)
        found = update_practitioner(
            session,
            organization_id=organization.id,
            id=practitioner,
            clinician_ref=clinician,
            telehealth=telehealth,
            sync_enabled=sync_enabled,
        )
        hint = suggest_clinicians(
            session, organization_id=organization.id, practitioners=[found]
        ).get(found.id)
        row = _practitioner_row(found, hint)
    _print_practitioners(f"Practitioner {found.name}", [row], as_json)


@pms_app.command("types")
def types_(org: OrgOption, connection: ConnectionOption, as_json: JsonOption = False) -> None:
    """A connection's appointment types (as of its last sync) with their flags."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        found = get_connection(session, organization_id=organization.id, connection_id=connection)
        listed = list_appointment_types(
            session, organization_id=organization.id, connection_id=found.id
        )
    _print_types(
        f"Appointment types of {found.display_name}", [_type_row(t) for t in listed], as_json
    )


@pms_app.command("type")
def type_(
    org: OrgOption,
    appointment_type: Annotated[str, typer.Argument(help="The type's id (crm pms types).")],
    telehealth: TelehealthOption = None,
    sync_enabled: SyncOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set one appointment type's telehealth and sync flags, as updatePmsAppointmentType
    does; prints it as it is then."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        found = update_appointment_type(
            session,
            organization_id=organization.id,
            id=appointment_type,
            telehealth=telehealth,
            sync_enabled=sync_enabled,
        )
        row = _type_row(found)
    _print_types(f"Appointment type {found.name}", [row], as_json)


@pms_app.command("pair")
def pair(
    org: OrgOption,
    code: Annotated[str, typer.Option("--code", help="The one-time pairing code Gentu shows.")],
    connection: Annotated[
        str | None,
        typer.Option("--connection", help="A Gentu connection to pair again (default: a new one)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Gentu's address, if not its own.")
    ] = None,
) -> None:
    """Pair Gentu with a pairing code: it becomes the practice's tenant and secret (stored
    encrypted); prints the connection's id."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        if connection is not None:
            found = pair_connection(
                session, organization=organization, connection_id=connection, pairing_code=code
            )
        else:
            found = create_connection(
                session,
                organization=organization,
                type="gentu",
                credentials={"pairingCode": code},
                display_name=name,
                base_url=base_url,
            )
    typer.echo(str(found.id))
    stderr().print(f"{found.display_name} paired (tenant {found.tenant_id}).")


@pms_app.command("test")
def test(
    org: OrgOption,
    connection: Annotated[str, typer.Option("--connection", help="Connection id.")],
) -> None:
    """Check the stored credentials against the PMS."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        found = test_connection(session, organization=organization, connection_id=connection)
    stdout().print(f"{found.display_name}: the PMS accepts the credentials.")


@pms_app.command("sync")
def sync(
    org: Annotated[str | None, typer.Option("--org", help="Organization id or exact name.")] = None,
    connection: Annotated[
        str | None, typer.Option("--connection", help="Only this connection.")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Read everything, not changes.")] = False,
    all_due: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Every connection that is due (frequency, backoff), of --org or of every "
            "organization: what the worker's cron does, for installs without Redis.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Sync now and wait; prints each run's summary. Exit 1 if a run failed."""
    if org is None and not all_due:
        fail("give --org (or --all)", ExitStatus.USAGE)
    engine = database()
    with unit_of_work() as session:
        organization = find_organization(session, ref=org) if org else None
        if connection is not None:
            if organization is None:
                fail("--connection needs --org", ExitStatus.USAGE)
            targets = [
                get_connection(session, organization_id=organization.id, connection_id=connection)
            ]
        elif all_due:
            targets = due_connections(
                session, organization_id=organization.id if organization else None
            )
        else:
            assert organization is not None
            targets = [
                c
                for c in list_connections(session, organization_id=organization.id)
                if c.sync_enabled
            ]
    summaries = []
    for target in targets:
        with reported_errors():
            run = sync_connection(
                engine,
                organization_id=target.organization_id,
                connection_id=target.id,
                full=full,
            )
        summaries.append(run_summary(run))
        if not as_json:
            _print_run(run, target.display_name)
    if as_json:
        typer.echo(json.dumps(summaries[0] if connection is not None else summaries))
    elif not targets:
        stdout().print("No connection to sync.")
    if any(s["status"] == "failed" for s in summaries):
        raise typer.Exit(int(ExitStatus.FAILED))


def _print_run(run: PmsSyncRun, name: str) -> None:
    out = stdout()
    colour = {"success": "green", "partial": "yellow", "failed": "red"}.get(run.status, "")
    out.print(f"[bold]{name}[/]: {run.kind} sync [{colour}]{run.status}[/]")
    out.print(
        f"  patients: {run.patients_fetched} fetched, {run.patients_created} created, "
        f"{run.patients_updated} updated, {run.patients_unchanged} unchanged, "
        f"{run.patients_linked} linked, {run.patients_merged} merged, "
        f"{run.patients_skipped} skipped, {run.patients_failed} failed"
    )
    out.print(
        f"  appointments: {run.appointments_fetched} fetched, {run.appointments_created} "
        f"created, {run.appointments_updated} updated, {run.appointments_failed} failed"
    )
    if run.error:
        out.print(f"  error: {run.error}", markup=False)


@pms_app.command("runs")
def runs(
    org: Annotated[
        str | None,
        typer.Option("--org", help="Organization id or exact name (default: every one)."),
    ] = None,
    connection: Annotated[
        str | None, typer.Option("--connection", help="Only this connection (needs --org).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The latest sync runs, newest first."""
    if connection is not None and org is None:
        fail("--connection needs --org", ExitStatus.USAGE)
    with unit_of_work() as session:
        organization = find_organization(session, ref=org) if org else None
        cid = None
        if connection is not None and organization is not None:
            cid = get_connection(
                session, organization_id=organization.id, connection_id=connection
            ).id
        found = list_runs(
            session,
            organization_id=organization.id if organization else None,
            connection_id=cid,
            limit=limit,
        )
    summaries = [run_summary(r) for r in found]
    if as_json:
        typer.echo(json.dumps(summaries))
        return
    title = organization.name if organization else "every organization"
    table = Table(title=f"PMS sync runs of {title}")
    for column in (
        "started",
        "kind",
        "status",
        "patients",
        "created",
        "updated",
        "failed",
        "appointments",
        "error",
    ):
        table.add_column(column)
    for s in summaries:
        table.add_row(
            s["started_at"],
            s["kind"],
            s["status"],
            str(s["patients_fetched"]),
            str(s["patients_created"]),
            str(s["patients_updated"]),
            str(s["patients_failed"]),
            str(s["appointments_fetched"]),
            s["error"] or "",
        )
    stdout().print(table)


@secret_app.command("rotate")
def rotate() -> None:
    """Re-encrypt every PMS credential under a new key.

    With the key in ./.crm-secret, the new key replaces it there (the old one is kept in
    ./.crm-secret.previous). With CRM_SECRET_KEY set, the new key is printed once: set it as
    CRM_SECRET_KEY (the old one as CRM_PREVIOUS_SECRET_KEYS until every process restarted).
    """
    settings = get_settings()
    old = settings.resolved_secret_key()
    new = secrets.new_secret_key()
    from_env = bool(os.environ.get("CRM_SECRET_KEY"))
    with unit_of_work() as session:
        count = secrets.rotate(session, new_secret=new, settings=settings)
        if not from_env:
            # written before the commit: if the commit fails, the old key is still listed
            # as a previous one and the new one opens nothing it has not written
            secrets.install_secret_file(new, old_secret=old)
    get_settings.cache_clear()
    if from_env:
        typer.echo(new)
        stderr().print(
            f"Re-encrypted {count} value(s). Set CRM_SECRET_KEY to the key above (shown once) "
            "and CRM_PREVIOUS_SECRET_KEYS to the old one until every process has restarted."
        )
    else:
        stderr().print(f"Re-encrypted {count} value(s); the new key is in ./.crm-secret.")
