"""createWebhookEndpoint and replayWebhookDelivery (admin)."""

from __future__ import annotations

import strawberry

from crm.errors import ServiceError
from crm.webhooks.inbox import create_endpoint
from crm.webhooks.processing import replay
from graphql_schema.context import Info
from graphql_schema.mutations.base import run_command
from graphql_schema.types.common import UserError, user_errors
from graphql_schema.types.webhooks import WebhookDelivery, WebhookEndpoint, WebhookProvider


@strawberry.input(description="A new endpoint for one provider.")
class CreateWebhookEndpointInput:
    provider: WebhookProvider = strawberry.field(description="Who will deliver to it.")
    display_name: str | None = strawberry.field(
        default=None, description="A name for people, at most 200 characters."
    )
    secret: str | None = strawberry.field(
        default=None,
        description="A secret the provider dictates (WhatsApp Cloud: the Meta app secret); "
        "unset: a random one is made.",
    )


@strawberry.type(description="Result of createWebhookEndpoint.")
class CreateWebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        description="The endpoint, with its secret (shown this once)."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing was created.")


def resolve_create(info: Info, input: CreateWebhookEndpointInput) -> CreateWebhookEndpointPayload:
    ctx = info.context
    result, errors = run_command(
        info,
        lambda s: create_endpoint(
            s,
            organization=ctx.organization,
            provider=input.provider.value,
            display_name=input.display_name,
            secret=input.secret,
        ),
    )
    if result is None:
        return CreateWebhookEndpointPayload(webhook_endpoint=None, errors=errors)
    endpoint, secret = result
    return CreateWebhookEndpointPayload(
        webhook_endpoint=WebhookEndpoint.from_model(endpoint, secret), errors=[]
    )


@strawberry.input(description="The delivery to process again.")
class ReplayWebhookDeliveryInput:
    id: strawberry.ID = strawberry.field(description="Delivery id.")


@strawberry.type(description="Result of replayWebhookDelivery.")
class ReplayWebhookDeliveryPayload:
    delivery: WebhookDelivery | None = strawberry.field(
        description="The delivery after processing it again."
    )
    errors: list[UserError] = strawberry.field(description="Why it was not replayed.")


def resolve_replay(info: Info, input: ReplayWebhookDeliveryInput) -> ReplayWebhookDeliveryPayload:
    ctx = info.context
    try:
        row = replay(ctx.engine, delivery_id=str(input.id), organization_id=ctx.organization.id)
    except ServiceError as exc:
        return ReplayWebhookDeliveryPayload(delivery=None, errors=user_errors(exc))
    finally:
        ctx.forget_reads()
    return ReplayWebhookDeliveryPayload(delivery=WebhookDelivery.from_model(row), errors=[])
