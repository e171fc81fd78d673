"""``crm webhooks``: endpoints, the delivery inbox, and sending outbound webhooks."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from crm.cli_common import ExitStatus, database, fail, reported_errors, stdout, unit_of_work
from crm.tenancy.service import find_organization
from crm.webhooks.inbox import create_endpoint, endpoint_path
from crm.webhooks.outbound.delivery import drain
from crm.webhooks.processing import failed_deliveries, replay, retry_due

app = typer.Typer(help="Inbound webhooks: endpoints and deliveries.", no_args_is_help=True)
endpoint_app = typer.Typer(help="Webhook endpoints.", no_args_is_help=True)
app.add_typer(endpoint_app, name="endpoint")

OrgOption = Annotated[str, typer.Option("--org", help="Organization id or exact name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@endpoint_app.command("create")
def create(
    org: OrgOption,
    provider: Annotated[str, typer.Option(help="careportals, chatwoot or whatsapp.")],
    name: Annotated[str | None, typer.Option("--name", help="A name for people.")] = None,
    secret: Annotated[
        str | None,
        typer.Option(help="A secret the provider dictates (WhatsApp: the Meta app secret)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an endpoint; prints its path and secret (shown this once)."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        endpoint, plain = create_endpoint(
            session,
            organization=organization,
            provider=provider,
            display_name=name,
            secret=secret,
        )
        result = {
            "id": str(endpoint.id),
            "provider": endpoint.provider,
            "url": endpoint_path(endpoint),
            "secret": plain,
        }
    if as_json:
        typer.echo(json.dumps(result))
        return
    out = stdout()
    out.print(f"{result['provider']} endpoint {result['id']}")
    out.print(f"url:    {result['url']}  (on this service's public address)")
    out.print(f"secret: {result['secret']}  (shown once: store it in the provider's settings)")


@app.command("replay")
def replay_command(
    delivery: Annotated[str | None, typer.Argument(help="A delivery id.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every failed delivery.")] = False,
    due: Annotated[
        bool, typer.Option("--due", help="Only failed deliveries whose backoff has passed.")
    ] = False,
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organization's (id or name).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Process stored deliveries again (idempotent: processed ones change nothing)."""
    engine = database()
    organization_id = None
    if org is not None:
        with unit_of_work() as session:
            organization_id = find_organization(session, ref=org).id
    counts: dict[str, int] = {}
    with reported_errors():
        if due:
            counts = retry_due(engine)
        elif failed:
            for ident in failed_deliveries(engine, organization_id=organization_id):
                status = replay(engine, delivery_id=ident).status
                counts[status] = counts.get(status, 0) + 1
        elif delivery is not None:
            row = replay(engine, delivery_id=delivery, organization_id=organization_id)
            counts[row.status] = 1
        else:
            fail("name a delivery id, or pass --failed or --due", ExitStatus.USAGE)
    if as_json:
        typer.echo(json.dumps(counts))
        return
    stdout().print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to do")


@app.command("deliver")
def deliver_command(
    loop: Annotated[
        bool, typer.Option("--loop", help="Keep delivering every 5 seconds (without Redis).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Send the outbound webhooks that are due (arq's worker does it every 15 s with Redis)."""
    engine = database()
    while True:
        with reported_errors():
            counts = drain(engine)
        if as_json:
            typer.echo(json.dumps(counts))
        else:
            stdout().print(", ".join(f"{n} {s}" for s, n in counts.items()))
        if not loop:
            return
        time.sleep(5)
