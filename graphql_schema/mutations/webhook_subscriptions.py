"""Outbound webhook subscriptions (admin): createWebhookSubscription,
deleteWebhookSubscription, disable/enableWebhookSubscription,
rotateWebhookSubscriptionSecret and the webhookSubscriptions query."""

from __future__ import annotations

import datetime

import strawberry

from crm.models import WebhookSubscription as SubscriptionModel
from crm.webhooks.outbound.subscriptions import (
    create_subscription,
    delete_subscription,
    list_subscriptions,
    rotate_secret,
    set_enabled,
)
from graphql_schema.context import Info
from graphql_schema.mutations.base import run_command
from graphql_schema.off_the_loop import database_field
from graphql_schema.permissions import IsAdmin
from graphql_schema.types.common import UserError

EVENTS_HELP = (
    "contact.created, contact.updated, contact.merged, contact.unmerged, contact.erased, "
    "import.completed, "
    "pms.sync.failed."
)


@strawberry.type(description="Where the organization's events are sent (Standard Webhooks).")
class WebhookSubscription:
    id: strawberry.ID = strawberry.field(description="Subscription id.")
    url: str = strawberry.field(description="Where events are POSTed.")
    events: list[str] = strawberry.field(description="The events sent: " + EVENTS_HELP)
    description: str | None = strawberry.field(description="A note for people.")
    created_at: datetime.datetime = strawberry.field(description="When it was made.")
    secret: str | None = strawberry.field(
        description="The signing secret (`whsec_` + base64): only in the answer of "
        "createWebhookSubscription or rotateWebhookSubscriptionSecret, null everywhere else."
    )
    enabled: bool = strawberry.field(
        default=True,
        description="False once disabled: no event is queued for it until it is enabled again.",
    )

    @classmethod
    def from_model(cls, row: SubscriptionModel, secret: str | None = None) -> WebhookSubscription:
        return cls(
            id=strawberry.ID(str(row.id)),
            url=row.url,
            events=list(row.events or []),
            description=row.description,
            created_at=row.created_at,
            secret=secret,
            enabled=row.disabled_at is None,
        )


@strawberry.input(description="A new outbound webhook subscription.")
class CreateWebhookSubscriptionInput:
    url: str = strawberry.field(
        description="http(s) URL; never a loopback, private or link-local address."
    )
    events: list[str] = strawberry.field(description="Some of: " + EVENTS_HELP)
    description: str | None = strawberry.field(default=None, description="At most 200 chars.")


@strawberry.type(description="Result of createWebhookSubscription.")
class CreateWebhookSubscriptionPayload:
    webhook_subscription: WebhookSubscription | None = strawberry.field(
        description="The subscription with its secret (shown this once)."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing was created.")


def resolve_create(
    info: Info, input: CreateWebhookSubscriptionInput
) -> CreateWebhookSubscriptionPayload:
    ctx = info.context
    result, errors = run_command(
        info,
        lambda s: create_subscription(
            s,
            organization_id=ctx.organization.id,
            url=input.url,
            events=input.events,
            description=input.description,
            settings=ctx.settings,
        ),
    )
    if result is None:
        return CreateWebhookSubscriptionPayload(webhook_subscription=None, errors=errors)
    row, secret = result
    return CreateWebhookSubscriptionPayload(
        webhook_subscription=WebhookSubscription.from_model(row, secret), errors=[]
    )


@strawberry.input(description="The subscription to delete.")
class DeleteWebhookSubscriptionInput:
    id: strawberry.ID = strawberry.field(description="Subscription id.")


@strawberry.type(description="Result of deleteWebhookSubscription.")
class DeleteWebhookSubscriptionPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The deleted subscription.")
    errors: list[UserError] = strawberry.field(description="Why nothing was deleted.")


def resolve_delete(
    info: Info, input: DeleteWebhookSubscriptionInput
) -> DeleteWebhookSubscriptionPayload:
    ctx = info.context
    result, errors = run_command(
        info,
        lambda s: delete_subscription(
            s, organization_id=ctx.organization.id, subscription_id=str(input.id)
        ),
    )
    if result is None:
        return DeleteWebhookSubscriptionPayload(deleted_id=None, errors=errors)
    return DeleteWebhookSubscriptionPayload(deleted_id=strawberry.ID(str(result.id)), errors=[])


@strawberry.input(description="The subscription to change.")
class WebhookSubscriptionInput:
    id: strawberry.ID = strawberry.field(description="Subscription id.")


@strawberry.type(
    description="Result of disableWebhookSubscription, enableWebhookSubscription and "
    "rotateWebhookSubscriptionSecret."
)
class WebhookSubscriptionPayload:
    webhook_subscription: WebhookSubscription | None = strawberry.field(
        description="The subscription after the change (its secret only after a rotation)."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing changed (NOT_FOUND).")


def _changed(info: Info, command) -> WebhookSubscriptionPayload:  # type: ignore[no-untyped-def]
    result, errors = run_command(info, command)
    if result is None:
        return WebhookSubscriptionPayload(webhook_subscription=None, errors=errors)
    row, secret = result if isinstance(result, tuple) else (result, None)
    return WebhookSubscriptionPayload(
        webhook_subscription=WebhookSubscription.from_model(row, secret), errors=[]
    )


def resolve_disable(info: Info, input: WebhookSubscriptionInput) -> WebhookSubscriptionPayload:
    org = info.context.organization.id
    return _changed(
        info,
        lambda s: set_enabled(s, organization_id=org, subscription_id=str(input.id), enabled=False),
    )


def resolve_enable(info: Info, input: WebhookSubscriptionInput) -> WebhookSubscriptionPayload:
    org = info.context.organization.id
    return _changed(
        info,
        lambda s: set_enabled(s, organization_id=org, subscription_id=str(input.id), enabled=True),
    )


def resolve_rotate(info: Info, input: WebhookSubscriptionInput) -> WebhookSubscriptionPayload:
    ctx = info.context
    return _changed(
        info,
        lambda s: rotate_secret(
            s,
            organization_id=ctx.organization.id,
            subscription_id=str(input.id),
            settings=ctx.settings,
        ),
    )


@strawberry.type
class WebhookSubscriptionsQuery:
    @database_field(
        description="The organization's outbound webhook subscriptions, enabled and disabled, "
        "oldest first (admin; at most 50); never their secrets.",
        permission_classes=[IsAdmin],
    )
    def webhook_subscriptions(self, info: Info) -> list[WebhookSubscription]:
        ctx = info.context
        rows = list_subscriptions(ctx.session, organization_id=ctx.organization.id)
        return [WebhookSubscription.from_model(r) for r in rows]
