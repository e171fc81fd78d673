"""Managing inbound webhook endpoints (admin): the webhookEndpoints query,
disableWebhookEndpoint, enableWebhookEndpoint, rotateWebhookEndpointSecret,
deleteWebhookEndpoint. (createWebhookEndpoint lives in ``webhooks``.)"""

from __future__ import annotations

import strawberry

from crm.webhooks import endpoints
from graphql_schema.context import Info
from graphql_schema.mutations.base import run_command
from graphql_schema.off_the_loop import database_field
from graphql_schema.permissions import IsAdmin
from graphql_schema.types.common import UserError
from graphql_schema.types.webhooks import WebhookEndpoint


@strawberry.input(description="The endpoint to change.")
class WebhookEndpointInput:
    id: strawberry.ID = strawberry.field(description="Endpoint id.")


@strawberry.input(description="The endpoint whose secret to replace.")
class RotateWebhookEndpointSecretInput:
    id: strawberry.ID = strawberry.field(description="Endpoint id.")
    secret: str | None = strawberry.field(
        default=None,
        description="A secret the provider dictates (WhatsApp Cloud: the Meta app secret); "
        "unset: a random one is made.",
    )


@strawberry.type(
    description="Result of disableWebhookEndpoint, enableWebhookEndpoint and "
    "rotateWebhookEndpointSecret."
)
class WebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        description="The endpoint after the change (its secret only after a rotation)."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing changed (NOT_FOUND).")


@strawberry.type(description="Result of deleteWebhookEndpoint.")
class DeleteWebhookEndpointPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The deleted endpoint.")
    errors: list[UserError] = strawberry.field(description="Why nothing was deleted.")


def _changed(info: Info, command) -> WebhookEndpointPayload:  # type: ignore[no-untyped-def]
    result, errors = run_command(info, command)
    if result is None:
        return WebhookEndpointPayload(webhook_endpoint=None, errors=errors)
    row, secret = result if isinstance(result, tuple) else (result, None)
    return WebhookEndpointPayload(
        webhook_endpoint=WebhookEndpoint.from_model(row, secret), errors=[]
    )


def resolve_disable(info: Info, input: WebhookEndpointInput) -> WebhookEndpointPayload:
    org = info.context.organization.id
    return _changed(
        info,
        lambda s: endpoints.set_enabled(
            s, organization_id=org, endpoint_id=str(input.id), enabled=False
        ),
    )


def resolve_enable(info: Info, input: WebhookEndpointInput) -> WebhookEndpointPayload:
    org = info.context.organization.id
    return _changed(
        info,
        lambda s: endpoints.set_enabled(
            s, organization_id=org, endpoint_id=str(input.id), enabled=True
        ),
    )


def resolve_rotate(info: Info, input: RotateWebhookEndpointSecretInput) -> WebhookEndpointPayload:
    org = info.context.organization.id
    return _changed(
        info,
        lambda s: endpoints.rotate_secret(
            s, organization_id=org, endpoint_id=str(input.id), secret=input.secret
        ),
    )


def resolve_delete(info: Info, input: WebhookEndpointInput) -> DeleteWebhookEndpointPayload:
    org = info.context.organization.id
    result, errors = run_command(
        info, lambda s: endpoints.delete_endpoint(s, organization_id=org, endpoint_id=str(input.id))
    )
    if result is None:
        return DeleteWebhookEndpointPayload(deleted_id=None, errors=errors)
    return DeleteWebhookEndpointPayload(deleted_id=strawberry.ID(str(result)), errors=[])


@strawberry.type
class WebhookEndpointsQuery:
    @database_field(
        description="The organization's inbound webhook endpoints, enabled and disabled, oldest "
        "first (admin); never their secrets.",
        permission_classes=[IsAdmin],
    )
    def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        ctx = info.context
        rows = endpoints.list_endpoints(ctx.session, organization_id=ctx.organization.id)
        return [WebhookEndpoint.from_model(r) for r in rows]
