"""Outbound webhook subscriptions (admin): createWebhookSubscription,
deleteWebhookSubscription and the webhookSubscriptions query."""

from __future__ import annotations

import datetime

import strawberry

from crm.models import WebhookSubscription as SubscriptionModel
from crm.webhooks.outbound.subscriptions import (
    create_subscription,
    delete_subscription,
    list_subscriptions,
)
from graphql_schema.context import Info
from graphql_schema.mutations.base import run_command
from graphql_schema.off_the_loop import database_field
from graphql_schema.permissions import IsAdmin
from graphql_schema.types.common import UserError

EVENTS_HELP = (
    "contact.created, contact.updated, contact.merged, contact.unmerged, import.completed, "
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
        description="The signing secret (`whsec_` + base64): only in createWebhookSubscription's "
        "answer, null afterwards."
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


@strawberry.type
class WebhookSubscriptionsQuery:
    @database_field(
        description="The organization's outbound webhook subscriptions, oldest first (admin; "
        "at most 50).",
        permission_classes=[IsAdmin],
    )
    def webhook_subscriptions(self, info: Info) -> list[WebhookSubscription]:
        ctx = info.context
        rows = list_subscriptions(ctx.session, organization_id=ctx.organization.id)
        return [WebhookSubscription.from_model(r) for r in rows]
