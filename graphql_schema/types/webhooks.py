"""Inbound webhooks: endpoints and the delivery inbox (admin keys)."""

from __future__ import annotations

import datetime
import enum
from typing import Annotated

import strawberry

from crm.errors import ServiceError
from crm.models import WebhookDelivery as DeliveryModel
from crm.models import WebhookEndpoint as EndpointModel
from crm.webhooks.inbox import endpoint_path
from crm.webhooks.queries import list_deliveries
from graphql_schema.context import Info
from graphql_schema.off_the_loop import database_field
from graphql_schema.permissions import IsAdmin
from graphql_schema.types.common import PageInfo, bad_input


@strawberry.enum(description="A system that sends webhooks (`provider` in URLs, lower case).")
class WebhookProvider(enum.Enum):
    CAREPORTALS = "CAREPORTALS"
    CHATWOOT = "CHATWOOT"
    WHATSAPP = "WHATSAPP"


@strawberry.enum(description="Where a delivery is in the inbox.")
class WebhookDeliveryStatus(enum.Enum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"
    REJECTED = "rejected"
    IGNORED = "ignored"


@strawberry.type(description="Where one provider delivers webhooks for the organization.")
class WebhookEndpoint:
    id: strawberry.ID = strawberry.field(description="Endpoint id (part of its URL).")
    provider: WebhookProvider = strawberry.field(description="Who sends to it.")
    display_name: str | None = strawberry.field(description="A name for people.")
    url: str = strawberry.field(
        description="The path to give the provider: `/webhooks/<provider>/<id>` on this "
        "service's public address."
    )
    secret: str | None = strawberry.field(
        description="The shared secret (signing key, Chatwoot's `?token=`, WhatsApp's verify "
        "token): returned once, by createWebhookEndpoint or rotateWebhookEndpointSecret; null "
        "everywhere else."
    )
    enabled: bool = strawberry.field(
        default=True,
        description="False once disabled: deliveries then answer 404 and nothing is stored.",
    )
    created_at: datetime.datetime | None = strawberry.field(
        default=None, description="When it was made."
    )
    rejected_signatures: int = strawberry.field(
        default=0, description="Deliveries refused for a bad or missing signature (401)."
    )
    last_rejected_at: datetime.datetime | None = strawberry.field(
        default=None, description="When the last of those came."
    )

    @classmethod
    def from_model(cls, row: EndpointModel, secret: str | None = None) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(str(row.id)),
            provider=WebhookProvider(row.provider),
            display_name=row.display_name,
            url=endpoint_path(row),
            secret=secret,
            enabled=row.disabled_at is None,
            created_at=row.created_at,
            rejected_signatures=row.rejected_signatures,
            last_rejected_at=row.last_rejected_at,
        )


@strawberry.type(description="One delivery as received; the raw body is kept, not shown here.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="Delivery id.")
    provider: WebhookProvider = strawberry.field(description="Who sent it.")
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint it came to.")
    event_type: str | None = strawberry.field(description="The provider's event name.")
    event_id: str = strawberry.field(
        description="The provider's event id, else `h:` and the body's SHA-256: a repeat of "
        "it is a duplicate with no second effect."
    )
    status: WebhookDeliveryStatus = strawberry.field(
        description="RECEIVED (stored, not processed yet), PROCESSED, FAILED (retried with "
        "backoff; replayWebhookDelivery), REJECTED (not JSON, or nobody to identify), IGNORED "
        "(an event this service does not use)."
    )
    attempts: int = strawberry.field(description="Times processing ran.")
    last_error: str | None = strawberry.field(description="Why it last failed or was rejected.")
    received_at: datetime.datetime = strawberry.field(description="When it was stored.")
    processed_at: datetime.datetime | None = strawberry.field(description="When it succeeded.")
    next_attempt_at: datetime.datetime | None = strawberry.field(
        description="When a failed delivery is retried next (null: no more automatic tries)."
    )

    @classmethod
    def from_model(cls, row: DeliveryModel) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(str(row.id)),
            provider=WebhookProvider(row.provider),
            endpoint_id=strawberry.ID(str(row.endpoint_id)),
            event_type=row.event_type,
            event_id=row.event_id,
            status=WebhookDeliveryStatus(row.status),
            attempts=row.attempts,
            last_error=row.last_error,
            received_at=row.received_at,
            processed_at=row.processed_at,
            next_attempt_at=row.next_attempt_at,
        )


@strawberry.type(description="An edge of the deliveries connection.")
class WebhookDeliveryEdge:
    cursor: str = strawberry.field(description="Opaque cursor.")
    node: WebhookDelivery = strawberry.field(description="The delivery.")


@strawberry.type(description="Deliveries, newest first.")
class WebhookDeliveryConnection:
    edges: list[WebhookDeliveryEdge] = strawberry.field(description="The page.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    total_count: int = strawberry.field(description="Every delivery matching the filter.")


@strawberry.type
class WebhooksQuery:
    @database_field(
        description="The organization's webhook deliveries, newest first (admin); `first` "
        "0 to 500, default 50.",
        permission_classes=[IsAdmin],
    )
    def webhook_deliveries(
        self,
        info: Info,
        status: Annotated[
            WebhookDeliveryStatus | None,
            strawberry.argument(description="Only deliveries in this status."),
        ] = None,
        first: int = 50,
        after: str | None = None,
    ) -> WebhookDeliveryConnection:
        ctx = info.context
        try:
            page = list_deliveries(
                ctx.session,
                organization_id=ctx.organization.id,
                status=status.value if status is not None else None,
                first=first,
                after=after,
            )
        except ServiceError as exc:
            raise bad_input(exc) from None
        edges = [
            WebhookDeliveryEdge(cursor=c, node=WebhookDelivery.from_model(r))
            for c, r in zip(page.cursors, page.items, strict=True)
        ]
        return WebhookDeliveryConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=after is not None,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            total_count=page.total,
        )
