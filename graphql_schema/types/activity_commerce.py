"""``Contact.activity``'s commerce and messaging fields (CarePortals orders, subscriptions,
prescriptions; the last message on any channel), read through one DataLoader per request.

``CommerceActivity`` is a type of its own so that other activity (appointments) can be
combined with it: ``ContactActivity`` inherits from each part.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import strawberry
from strawberry.dataloader import DataLoader

from crm.models import Order as OrderModel
from crm.models import Subscription as SubscriptionModel
from crm.webhooks.activity import CommerceActivity as CommerceModel
from crm.webhooks.activity import activity_for
from graphql_schema.context import Context, Info


@strawberry.type(description="An e-commerce order (CarePortals).")
class Order:
    id: strawberry.ID = strawberry.field(description="The order's id in its source system.")
    source: str = strawberry.field(description="The system it came from (careportals).")
    status: str | None = strawberry.field(
        description="Current status: pending, processing, approved, pharmacy, shipped, "
        "delivered, cancelled or refunded (the newest status update by the source's time)."
    )
    total_amount: Decimal | None = strawberry.field(description="Order total, 2 decimals.")
    currency: str | None = strawberry.field(description="ISO currency, when sent.")
    coupon: str | None = strawberry.field(description="Coupon code used, if any.")
    created_at: datetime.datetime | None = strawberry.field(
        description="When the order was placed (the source's time)."
    )
    status_history: strawberry.scalars.JSON = strawberry.field(
        description="Every status with its time, oldest first."
    )
    line_items: strawberry.scalars.JSON = strawberry.field(
        description="Products: product, name, drug_name, price, quantity, total."
    )

    @classmethod
    def from_model(cls, o: OrderModel) -> Order:
        return cls(
            id=strawberry.ID(o.external_id),
            source=o.source,
            status=o.status,
            total_amount=o.total_amount,
            currency=o.currency,
            coupon=o.coupon,
            created_at=o.ordered_at or o.created_at,
            status_history=list(o.status_history or []),
            line_items=list(o.line_items or []),
        )


@strawberry.type(description="A subscription (recurring order).")
class Subscription:
    id: strawberry.ID = strawberry.field(description="Its id in its source system.")
    status: str = strawberry.field(description="active, paused or cancelled.")
    paused_at: datetime.datetime | None = strawberry.field(description="When last paused.")
    cancelled_at: datetime.datetime | None = strawberry.field(description="When cancelled.")

    @classmethod
    def from_model(cls, s: SubscriptionModel) -> Subscription:
        return cls(
            id=strawberry.ID(s.external_id),
            status=s.status,
            paused_at=s.paused_at,
            cancelled_at=s.cancelled_at,
        )


@strawberry.type(description="A prescription issued for the contact.")
class Prescription:
    id: strawberry.ID = strawberry.field(description="Its id in its source system.")
    drug_name: str | None = strawberry.field(description="The drug, when sent.")
    created_at: datetime.datetime | None = strawberry.field(description="When it was issued.")


def _loader(info: Info) -> DataLoader[uuid.UUID, CommerceModel]:
    ctx: Context = info.context
    loader = ctx.__dict__.get("_commerce_loader")
    if loader is None:
        organization_id = ctx.principal.organization_id

        async def load(ids: list[uuid.UUID]) -> list[CommerceModel]:
            found = await ctx.read(
                lambda s: activity_for(s, organization_id=organization_id, contact_ids=ids)
            )
            return [found[i] for i in ids]

        loader = DataLoader(load)
        ctx.__dict__["_commerce_loader"] = loader
    return loader


@strawberry.type(description="Orders, subscriptions, prescriptions and messaging.")
class CommerceActivity:
    contact_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Orders, newest first.")
    async def orders(self, info: Info) -> list[Order]:
        found = await _loader(info).load(self.contact_id)
        return [Order.from_model(o) for o in found.orders]

    @strawberry.field(description="Subscriptions, newest first.")
    async def subscriptions(self, info: Info) -> list[Subscription]:
        found = await _loader(info).load(self.contact_id)
        return [Subscription.from_model(s) for s in found.subscriptions]

    @strawberry.field(description="Prescriptions, newest first.")
    async def prescriptions(self, info: Info) -> list[Prescription]:
        found = await _loader(info).load(self.contact_id)
        return [
            Prescription(
                id=strawberry.ID(p.external_id),
                drug_name=p.drug_name,
                created_at=p.prescribed_at or p.created_at,
            )
            for p in found.prescriptions
        ]

    @strawberry.field(description="When the last message on any channel was sent or received.")
    async def last_message_at(self, info: Info) -> datetime.datetime | None:
        found = await _loader(info).load(self.contact_id)
        return found.last_message_at
