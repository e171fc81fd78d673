"""``crm webhooks``: endpoints (``endpoints list|add|disable|enable|rotate-secret|delete``),
the delivery inbox (``replay``), outbound subscriptions (``subscriptions
list|disable|enable|rotate-secret|delete``) and sending them (``deliver``)."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from crm.cli_common import ExitStatus, database, fail, reported_errors, stdout, unit_of_work
from crm.models import WebhookEndpoint, WebhookSubscription
from crm.tenancy.service import find_organization
from crm.webhooks import endpoints
from crm.webhooks.inbox import create_endpoint, endpoint_path
from crm.webhooks.outbound import subscriptions
from crm.webhooks.outbound.delivery import drain
from crm.webhooks.processing import failed_deliveries, replay, retry_due

app = typer.Typer(help="Inbound webhooks: endpoints and deliveries.", no_args_is_help=True)
endpoint_app = typer.Typer(help="Inbound webhook endpoints.", no_args_is_help=True)
app.add_typer(endpoint_app, name="endpoints")
# the first name it had, kept working
app.add_typer(endpoint_app, name="endpoint", hidden=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organization id or exact name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
EndpointArgument = Annotated[str, typer.Argument(help="The endpoint id.")]
SecretOption = Annotated[
    str | None,
    typer.Option(help="A secret the provider dictates (WhatsApp: the Meta app secret)."),
]


def _described(endpoint: WebhookEndpoint, secret: str | None = None) -> dict[str, object]:
    out: dict[str, object] = {
        "id": str(endpoint.id),
        "provider": endpoint.provider,
        "name": endpoint.display_name,
        "url": endpoint_path(endpoint),
        "enabled": endpoint.disabled_at is None,
        "created_at": endpoint.created_at.isoformat(),
        "rejected_signatures": endpoint.rejected_signatures,
    }
    if secret is not None:
        out["secret"] = secret
    return out


def _print_one(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result))
        return
    out = stdout()
    state = "enabled" if result["enabled"] else "disabled"
    out.print(f"{result['provider']} endpoint {result['id']} ({state})")
    out.print(f"url:    {result['url']}  (on this service's public address)")
    if "secret" in result:
        out.print(f"secret: {result['secret']}  (shown once: store it in the provider's settings)")


@endpoint_app.command("list")
def list_command(org: OrgOption, as_json: JsonOption = False) -> None:
    """The organization's endpoints, enabled and disabled (never their secrets)."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        rows = [
            _described(e)
            for e in endpoints.list_endpoints(session, organization_id=organization.id)
        ]
    if as_json:
        typer.echo(json.dumps({"endpoints": rows}))
        return
    out = stdout()
    if not rows:
        out.print("no endpoints")
    for row in rows:
        state = "enabled" if row["enabled"] else "disabled"
        name = f"  {row['name']}" if row["name"] else ""
        out.print(f"{row['id']}  {row['provider']:<11} {state:<8} {row['url']}{name}")


def _change(org: str, command) -> dict[str, object]:  # type: ignore[no-untyped-def]
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        result = command(session, organization.id)
        row, secret = result if isinstance(result, tuple) else (result, None)
        return _described(row, secret)


@endpoint_app.command("disable")
def disable_command(
    endpoint: EndpointArgument, org: OrgOption, as_json: JsonOption = False
) -> None:
    """Stop accepting deliveries (they answer 404; nothing is stored)."""
    result = _change(
        org,
        lambda s, oid: endpoints.set_enabled(
            s, organization_id=oid, endpoint_id=endpoint, enabled=False
        ),
    )
    _print_one(result, as_json)


@endpoint_app.command("enable")
def enable_command(endpoint: EndpointArgument, org: OrgOption, as_json: JsonOption = False) -> None:
    """Accept deliveries at a disabled endpoint again."""
    result = _change(
        org,
        lambda s, oid: endpoints.set_enabled(
            s, organization_id=oid, endpoint_id=endpoint, enabled=True
        ),
    )
    _print_one(result, as_json)


@endpoint_app.command("rotate-secret")
def rotate_command(
    endpoint: EndpointArgument,
    org: OrgOption,
    secret: SecretOption = None,
    as_json: JsonOption = False,
) -> None:
    """A new secret (printed this once); the old one is refused from now on."""
    result = _change(
        org,
        lambda s, oid: endpoints.rotate_secret(
            s, organization_id=oid, endpoint_id=endpoint, secret=secret
        ),
    )
    _print_one(result, as_json)


@endpoint_app.command("delete")
def delete_command(endpoint: EndpointArgument, org: OrgOption, as_json: JsonOption = False) -> None:
    """Delete the endpoint and the raw deliveries it stored (their activity stays)."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        ident = endpoints.delete_endpoint(
            session, organization_id=organization.id, endpoint_id=endpoint
        )
    if as_json:
        typer.echo(json.dumps({"deleted": str(ident)}))
        return
    stdout().print(f"deleted endpoint {ident}")


@endpoint_app.command("create", hidden=True)
@endpoint_app.command("add")
def create(
    org: OrgOption,
    provider: Annotated[str, typer.Option(help="careportals, chatwoot or whatsapp.")],
    name: Annotated[str | None, typer.Option("--name", help="A name for people.")] = None,
    secret: SecretOption = None,
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
        result = _described(endpoint, plain)
    _print_one(result, as_json)


subscription_app = typer.Typer(
    help="Outbound webhook subscriptions (created over GraphQL).", no_args_is_help=True
)
app.add_typer(subscription_app, name="subscriptions")
SubscriptionArgument = Annotated[str, typer.Argument(help="The subscription id.")]


def _subscription(row: WebhookSubscription, secret: str | None = None) -> dict[str, object]:
    out: dict[str, object] = {
        "id": str(row.id),
        "url": row.url,
        "events": list(row.events or []),
        "enabled": row.disabled_at is None,
        "created_at": row.created_at.isoformat(),
    }
    if secret is not None:
        out["secret"] = secret
    return out


@subscription_app.command("list")
def subscriptions_list(org: OrgOption, as_json: JsonOption = False) -> None:
    """The organization's subscriptions, enabled and disabled (never their secrets)."""
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        rows = [
            _subscription(r)
            for r in subscriptions.list_subscriptions(session, organization_id=organization.id)
        ]
    if as_json:
        typer.echo(json.dumps({"subscriptions": rows}))
        return
    out = stdout()
    if not rows:
        out.print("no subscriptions")
    for row in rows:
        state = "enabled" if row["enabled"] else "disabled"
        events = ",".join(row["events"])  # type: ignore[arg-type]
        out.print(f"{row['id']}  {state:<8} {row['url']}  {events}")


def _subscription_change(org: str, as_json: bool, command) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work() as session:
        organization = find_organization(session, ref=org)
        result = command(session, organization.id)
        row, secret = result if isinstance(result, tuple) else (result, None)
        described = _subscription(row, secret)
    if as_json:
        typer.echo(json.dumps(described))
        return
    state = "enabled" if described["enabled"] else "disabled"
    stdout().print(f"subscription {described['id']} ({state}) {described['url']}")
    if secret is not None:
        stdout().print(f"secret: {secret}  (shown once)")


@subscription_app.command("disable")
def subscriptions_disable(
    subscription: SubscriptionArgument, org: OrgOption, as_json: JsonOption = False
) -> None:
    """Queue no event for it (undelivered ones are dropped) until enabled."""
    _subscription_change(
        org,
        as_json,
        lambda s, oid: subscriptions.set_enabled(
            s, organization_id=oid, subscription_id=subscription, enabled=False
        ),
    )


@subscription_app.command("enable")
def subscriptions_enable(
    subscription: SubscriptionArgument, org: OrgOption, as_json: JsonOption = False
) -> None:
    """Send events to it again, from now on."""
    _subscription_change(
        org,
        as_json,
        lambda s, oid: subscriptions.set_enabled(
            s, organization_id=oid, subscription_id=subscription, enabled=True
        ),
    )


@subscription_app.command("rotate-secret")
def subscriptions_rotate(
    subscription: SubscriptionArgument, org: OrgOption, as_json: JsonOption = False
) -> None:
    """A new signing secret (printed this once), used from the next attempt on."""
    _subscription_change(
        org,
        as_json,
        lambda s, oid: subscriptions.rotate_secret(
            s, organization_id=oid, subscription_id=subscription
        ),
    )


@subscription_app.command("delete")
def subscriptions_delete(
    subscription: SubscriptionArgument, org: OrgOption, as_json: JsonOption = False
) -> None:
    """Stop sending to it for good (undelivered events are dropped)."""
    _subscription_change(
        org,
        as_json,
        lambda s, oid: subscriptions.delete_subscription(
            s, organization_id=oid, subscription_id=subscription
        ),
    )


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
