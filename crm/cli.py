"""The ``crm`` command: the typer app, its sub-apps and the commands every install needs.

Adding a command that belongs to a domain (``crm import``, ``crm export``, ``crm dedup``): write
it in that domain's own module (for example ``crm/importing/cli.py``) as a plain function with
typer-annotated parameters, using ``crm.cli_common`` for the session, errors and exit statuses,
then register it below under "Domain commands" with one ``app.command(...)`` line.
"""

from __future__ import annotations

import enum
import os
from typing import Annotated

import typer
from sqlalchemy.engine import Engine

from crm.cli_common import (
    ExitStatus,
    database,
    describe_database,
    fail,
    reported_errors,
    stderr,
    stdout,
    unit_of_work,
)
from crm.db_health import database_problem
from crm.errors import NotFound
from crm.importing import cli as import_cli
from crm.logging import configure_logging, get_logger, logging_config
from crm.matching import cli as dedup_cli
from crm.migrate import upgrade
from crm.pms import cli as pms_cli
from crm.settings import get_settings
from crm.tenancy import cli as tenancy_cli
from crm.tenancy.service import create_api_key, create_organization, find_organization
from crm.webhooks import cli as webhooks_cli

DEMO_ORGANIZATION = "Demo Practice"

log = get_logger("crm.cli")

app = typer.Typer(
    name="crm",
    help="Unified contacts service: one contact per person, every channel linked.",
    no_args_is_help=True,
    add_completion=False,
    # locals can hold keys and personal data: never print them in a traceback
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations (tenants).", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(key_app, name="key")


class RoleChoice(str, enum.Enum):
    reader = "reader"
    editor = "editor"
    admin = "admin"


OrgOption = tenancy_cli.OrgOption


# the long-running commands log their progress; the others print their answer, and log
# from WARNING on unless CRM_LOG_LEVEL asks for more
LOGGING_COMMANDS = frozenset({"serve", "worker"})


@app.callback()
def main(ctx: typer.Context) -> None:
    """Unified contacts service: one contact per person, every channel linked."""
    quiet = ctx.invoked_subcommand not in LOGGING_COMMANDS and "CRM_LOG_LEVEL" not in os.environ
    configure_logging(stderr_level="WARNING" if quiet else None)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to CRM_DATABASE_URL (creating a SQLite file)."""
    engine = database(create=True)
    with reported_errors():
        upgrade(engine=engine)
    log.info("crm.db.upgraded", dialect=engine.dialect.name)
    stderr().print(f"Database schema is up to date ({describe_database(engine)}).")


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="Unique organization name.")],
    region: Annotated[
        str, typer.Option(help="ISO 3166 alpha-2 region used to read local phone numbers.")
    ] = "AU",
) -> None:
    """Create an organization and print its id."""
    with unit_of_work() as session:
        organization = create_organization(session, name=name, region=region)
    log.info("crm.org.created", organization_id=str(organization.id))
    typer.echo(str(organization.id))


@key_app.command("create")
def key_create(
    org: OrgOption,
    role: Annotated[RoleChoice, typer.Option(help="What the key may do.")],
    name: Annotated[str | None, typer.Option(help="A label to recognise the key by.")] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="A source name the key may write observations as (repeatable; default api). "
            "Give a PMS's name (cliniko...) only to the key of that connection; never manual.",
        ),
    ] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        key, plain = create_api_key(
            session, organization_id=organization.id, role=role.value, name=name, sources=source
        )
    log.info(
        "crm.api_key.created",
        organization_id=str(organization.id),
        key_id=str(key.id),
        role=key.role,
        sources=key.sources,
    )
    typer.echo(plain)
    stderr().print(
        f"{key.role} key for {organization.name!r}, writing as {', '.join(key.sources)}: "
        "store it now, it is not shown again."
    )


_PROBLEMS = {
    "unreachable": "unreachable",
    "timeout": "not answering (timeout)",
    "not migrated": "not migrated (run `crm db upgrade`)",
}


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
) -> None:
    """Serve the GraphQL API at http://HOST:PORT/graphql."""
    import uvicorn

    # a malformed URL is bad usage, said in one line; a database that is down is reported and
    # served anyway (/healthz answers 503 with the reason until it is back)
    engine = database()
    with reported_errors():
        problem = database_problem(engine)
    if problem is not None:
        stderr().print(
            f"[yellow]warning:[/] the database is {_PROBLEMS.get(problem, problem)}: serving "
            "anyway, /healthz answers 503 until it is fixed"
        )
    stderr().print(serve_banner(host=host, port=port, engine=engine), markup=False)
    uvicorn.run(
        "graphql_schema.app:serve_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=logging_config(),
        server_header=False,
    )


def serve_banner(*, host: str, port: int, engine: Engine) -> str:
    """Where ``crm serve`` answers, as a URL to open (``0.0.0.0``: on this machine, too)."""
    local = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    shown = f"[{local}]" if ":" in local else local
    url = f"http://{shown}:{port}/graphql"
    ide = "" if get_settings().production else " (GraphiQL in a browser)"
    lines = [f"Serving the GraphQL API at {url}{ide}"]
    if local != host:
        lines.append(f"  listening on every interface ({host or 'all'}), port {port}")
    lines.append(f"  database: {describe_database(engine)}")
    return "\n".join(lines)


@app.command()
def worker() -> None:
    """Run the background worker (arq) and its cron jobs; needs CRM_REDIS_URL."""
    url = get_settings().redis_url
    if not url:
        fail(
            "CRM_REDIS_URL is not set: the worker takes its jobs from Redis. Without Redis, "
            "jobs run inline in the process that enqueues them and no worker is needed.",
            ExitStatus.USAGE,
        )
    # the entry point is the one place in crm/ that reaches jobs/ (and arq), and only when run
    from arq.worker import run_worker

    from jobs.worker import WorkerSettings, redis_settings_for

    try:
        settings = redis_settings_for(url)
    except RuntimeError as exc:  # arq's "invalid DSN scheme"
        fail(f"CRM_REDIS_URL is not a usable Redis URL: {exc}", ExitStatus.USAGE)
    try:
        run_worker(WorkerSettings, redis_settings=settings)
    except (ConnectionError, OSError) as exc:
        fail(f"Redis did not answer: {exc}")


@app.command()
def demo() -> None:
    """Migrate the database; on first run create the "Demo Practice" organization and a key."""
    engine = database(create=True)
    with reported_errors():
        upgrade(engine=engine)
    plain: str | None = None
    with unit_of_work() as session:
        try:
            organization = find_organization(session, ref=DEMO_ORGANIZATION)
        except NotFound:
            organization = create_organization(session, name=DEMO_ORGANIZATION, region="AU")
            _, plain = create_api_key(
                session, organization_id=organization.id, role="admin", name="demo"
            )
    out = stdout()
    if plain is None:
        out.print(
            f'The demo organization "{DEMO_ORGANIZATION}" exists (id {organization.id}); its '
            "admin key was printed when it was created. To make another key:\n"
            f'  crm key create --org "{DEMO_ORGANIZATION}" --role admin'
        )
        return
    log.info("crm.demo.created", organization_id=str(organization.id))
    out.print(
        f'\nCreated the demo organization "{DEMO_ORGANIZATION}" (id {organization.id}).\n'
        "Its admin API key, shown only this once:\n"
    )
    out.print(f"    {plain}\n", style="bold green")
    out.print(
        "Send it as the header  Authorization: Bearer <key>\n"
        "GraphiQL (its files come from `make assets`): the URL `crm serve` prints, with the key\n"
        f"  e.g. http://127.0.0.1:8000/graphql#key={plain}\n",
        markup=False,
    )


# --- organizations and keys (crm/tenancy/cli.py) ---
org_app.command("list")(tenancy_cli.org_list)
key_app.command("list")(tenancy_cli.key_list)
key_app.command("revoke")(tenancy_cli.key_revoke)
# --- end organizations and keys ---

# Domain commands (each defined in its domain's module)
app.command("import")(import_cli.import_contacts)
app.command("export")(import_cli.export)
app.command("dedup")(dedup_cli.dedup)
app.add_typer(pms_cli.pms_app, name="pms")
app.add_typer(pms_cli.secret_app, name="secret")
app.add_typer(webhooks_cli.app, name="webhooks")
app.add_typer(import_cli.imports_app, name="imports")
