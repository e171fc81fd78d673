"""CarePortals (e-commerce and EMR): orders, subscriptions and prescriptions of customers.

A delivery is ``{"event": "<trigger>", "id": "<delivery id>", "data": {...}}`` with ``data``
flattened to dotted keys (``customer.email``, ``lineItems.0.drugName``); nested objects are
read the same way. The customer goes through the ingestion pipeline as source
``careportals``: found by email, its ``customer._id`` (the exclusive ``CAREPORTALS``
identifier) or phone; the shipping address is an observation of that source. The field
names read besides the documented ones are listed in docs/webhooks.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session

from crm.models import Order, Organization, Prescription, Subscription, WebhookDelivery, utcnow
from crm.webhooks.common import flatten, indexed, resolve, text, upsert, when
from crm.webhooks.providers import Unprocessable

SOURCE = "careportals"
ORDER_STATUSES = (
    "pending",
    "processing",
    "approved",
    "pharmacy",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
)
LINE_ITEM_FIELDS = {
    "product": ("product", "productId", "product._id", "sku"),
    "name": ("name", "productName", "title"),
    "drug_name": ("drugName",),
    "price": ("price", "unitPrice"),
    "quantity": ("quantity", "qty"),
    "total": ("total", "totalPrice"),
}


def event_of(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    event = payload.get("event")
    ident = payload.get("id")
    return (
        str(event) if event is not None else None,
        str(ident) if ident not in (None, "") else None,
    )


def handle(
    session: Session, *, organization: Organization, delivery: WebhookDelivery, payload: dict
) -> str:
    event = str(payload.get("event") or "")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise Unprocessable("a CarePortals delivery carries its payload in `data`")
    data = flatten(data)
    handler = _HANDLERS.get(event)
    if handler is None:
        return "ignored"
    at = when(text(data, "updatedAt", "createdAt", "timestamp")) or delivery.received_at
    contact_id = _customer(session, organization, data, delivery=delivery, at=at)
    handler(session, organization, data, contact_id=contact_id, delivery=delivery, event=event)
    return "processed"


def _customer(
    session: Session,
    organization: Organization,
    data: dict[str, Any],
    *,
    delivery: WebhookDelivery,
    at: datetime,
) -> uuid.UUID:
    customer_id = text(data, "customer._id", "customer.id", "customerId")
    raw = {
        "email": text(data, "customer.email", "email"),
        "phone": text(data, "customer.phone", "customer.phoneNumber", "phone"),
        "first_name": text(data, "customer.firstName", "customer.first_name"),
        "last_name": text(data, "customer.lastName", "customer.last_name"),
        "date_of_birth": text(data, "customer.dateOfBirth", "customer.dob"),
        "careportals_id": customer_id,
        "address_line1": text(data, "shippingAddress.address1", "shippingAddress.line1"),
        "address_line2": text(data, "shippingAddress.address2", "shippingAddress.line2"),
        "city": text(data, "shippingAddress.city"),
        "region": text(data, "shippingAddress.state", "shippingAddress.province"),
        "postal_code": text(data, "shippingAddress.postalCode", "shippingAddress.zip"),
        "country": text(data, "shippingAddress.country"),
    }
    return resolve(
        session,
        organization=organization,
        raw=raw,
        source=SOURCE,
        # one record per customer: a changed address or email is a new version of it
        source_id=f"customer:{customer_id}" if customer_id else None,
        observed_at=at,
        actor=f"webhook:{delivery.id}",
    )


def _amount(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and abs(amount) < Decimal("1e10") else None


def _order(
    session: Session,
    organization: Organization,
    data: dict[str, Any],
    *,
    contact_id: uuid.UUID,
    delivery: WebhookDelivery,
    event: str,
) -> None:
    order_id = text(data, "_id", "orderId", "order._id", "order.id", "id")
    if order_id is None:
        raise Unprocessable("the order has no id")
    order = upsert(
        session, Order, organization_id=organization.id, source=SOURCE, external_id=order_id
    )
    order.contact_id = contact_id
    created = event == "order.created"
    if created:
        order.total_amount = _amount(text(data, "total", "totalAmount", "amount", "order.total"))
        order.currency = text(data, "currency", limit=8)
        order.coupon = text(data, "coupon", "couponCode", "coupon.code", "discountCode", limit=100)
        order.ordered_at = when(text(data, "createdAt", "order.createdAt")) or order.ordered_at
        items = [
            {
                field: value
                for field, names in LINE_ITEM_FIELDS.items()
                if (value := text(item, *names)) is not None
            }
            for item in indexed(data, "lineItems")
        ]
        if items:
            order.line_items = items
    status = (text(data, "status", "order.status", "newStatus", limit=32) or "").lower()
    if status:
        at = (
            (when(text(data, "createdAt")) if created else None)
            or when(text(data, "updatedAt", "statusUpdatedAt"))
            or delivery.received_at
        )
        _add_status(order, status=status, at=at, event_id=delivery.event_id, created=created)
    order.updated_at = utcnow()
    session.add(order)


def _add_status(order: Order, *, status: str, at: datetime, event_id: str, created: bool) -> None:
    """History by the provider's times; the current status is the newest status update, so a
    late ``order.created`` never takes an order back to its first status."""
    history = [dict(h) for h in order.status_history or []]
    if not any(h.get("event_id") == event_id for h in history):
        history.append(
            {"status": status, "at": at.isoformat(), "event_id": event_id, "created": created}
        )
    history.sort(key=lambda h: (h["at"], not h.get("created")))
    order.status_history = history
    updates = [h for h in history if not h.get("created")] or history
    current = updates[-1]
    order.status = current["status"]
    order.status_at = when(current["at"])


def _subscription(
    session: Session,
    organization: Organization,
    data: dict[str, Any],
    *,
    contact_id: uuid.UUID,
    delivery: WebhookDelivery,
    event: str,
) -> None:
    sub_id = text(data, "_id", "subscriptionId", "subscription._id", "subscription.id", "id")
    if sub_id is None:
        raise Unprocessable("the subscription has no id")
    sub = upsert(
        session, Subscription, organization_id=organization.id, source=SOURCE, external_id=sub_id
    )
    sub.contact_id = contact_id
    status = "cancelled" if event == "subscription.cancelled" else "paused"
    at = (
        when(text(data, "cancelledAt" if status == "cancelled" else "pausedAt", "updatedAt"))
        or delivery.received_at
    )
    if status == "cancelled":
        sub.cancelled_at = sub.cancelled_at or at
    else:
        sub.paused_at = at
    # an older event arriving late does not undo a newer one
    if sub.status_at is None or at >= sub.status_at:
        sub.status, sub.status_at = status, at
    sub.updated_at = utcnow()
    session.add(sub)


def _prescription(
    session: Session,
    organization: Organization,
    data: dict[str, Any],
    *,
    contact_id: uuid.UUID,
    delivery: WebhookDelivery,
    event: str,
) -> None:
    rx_id = text(data, "_id", "prescriptionId", "prescription._id", "prescription.id", "id")
    if rx_id is None:
        raise Unprocessable("the prescription has no id")
    rx = upsert(
        session, Prescription, organization_id=organization.id, source=SOURCE, external_id=rx_id
    )
    rx.contact_id = contact_id
    rx.drug_name = text(data, "drugName", "medication.name", "lineItems.0.drugName") or rx.drug_name
    rx.prescribed_at = when(text(data, "createdAt", "prescribedAt")) or rx.prescribed_at
    session.add(rx)


_HANDLERS = {
    "order.created": _order,
    "order.status_updated": _order,
    "subscription.cancelled": _subscription,
    "subscription.paused": _subscription,
    "prescription.created": _prescription,
}
