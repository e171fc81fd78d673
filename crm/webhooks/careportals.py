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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session

from crm.ingest.observation import Observation
from crm.models import Order, Organization, Prescription, Subscription, WebhookDelivery, utcnow
from crm.webhooks.common import flatten, indexed, observe, resolve_many, text, upsert_many, when
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


@dataclass(slots=True)
class _Item:
    """A delivery read: its event, data, subject (model and id) and its customer."""

    delivery: WebhookDelivery
    event: str
    data: dict[str, Any]
    model: type[Order] | type[Subscription] | type[Prescription]
    external_id: str
    customer: Observation
    contact_id: uuid.UUID | None = None


def handle(
    session: Session, *, organization: Organization, delivery: WebhookDelivery, payload: dict
) -> str:
    [result] = handle_many(session, organization=organization, deliveries=[(delivery, payload)])
    if isinstance(result, Exception):
        raise result
    return result


def handle_many(
    session: Session,
    *,
    organization: Organization,
    deliveries: Sequence[tuple[WebhookDelivery, dict]],
) -> list[str | Unprocessable]:
    """Process deliveries of one organization together, in their order: ``processed``,
    ``ignored`` or the Unprocessable reason of each. The customers go through the pipeline
    together (one load and one store for the lot; a customer seen twice ends as its last
    observation), the orders, subscriptions and prescriptions are fetched and locked in one
    statement each; any other error is raised for the whole lot."""
    results: list[str | Unprocessable | None] = [None] * len(deliveries)
    items: list[tuple[int, _Item]] = []
    for index, (delivery, payload) in enumerate(deliveries):
        try:
            item = _read(organization, delivery, payload)
        except Unprocessable as exc:
            results[index] = exc
            continue
        if item is None:
            results[index] = "ignored"
        else:
            items.append((index, item))
    if items:
        # one pass of the pipeline for every customer of the lot: a customer seen twice
        # ends as its last observation, as if they had come one after the other
        first = f"webhook:{items[0][1].delivery.id}"
        found = resolve_many(
            session,
            organization=organization,
            observations=[item.customer for _, item in items],
            actor=first if len(items) == 1 else f"{first}+{len(items) - 1}",
        )
        for (index, item), contact in zip(items, found, strict=True):
            if isinstance(contact, Unprocessable):
                results[index] = contact
            else:
                item.contact_id = contact
    live = [(i, item) for i, item in items if results[i] is None]
    rows: dict[tuple[type, str], Any] = {}
    for model in (Order, Subscription, Prescription):
        wanted = [item.external_id for _, item in live if item.model is model]
        for external_id, row in upsert_many(
            session, model, organization_id=organization.id, source=SOURCE, external_ids=wanted
        ).items():
            rows[(model, external_id)] = row
    for index, item in live:
        row = rows[(item.model, item.external_id)]
        assert item.contact_id is not None
        row.contact_id = item.contact_id
        _HANDLERS[item.event](row, item.data, delivery=item.delivery, event=item.event)
        session.add(row)
        results[index] = "processed"
    return [r if r is not None else "ignored" for r in results]


def _read(organization: Organization, delivery: WebhookDelivery, payload: dict) -> _Item | None:
    event = str(payload.get("event") or "")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise Unprocessable("a CarePortals delivery carries its payload in `data`")
    data = flatten(data)
    subject = _SUBJECTS.get(event)
    if subject is None:
        return None
    model, kind, names = subject
    external_id = text(data, *names)
    if external_id is None:
        raise Unprocessable(f"the {kind} has no id")
    at = when(text(data, "updatedAt", "createdAt", "timestamp")) or delivery.received_at
    customer = _customer(organization, data, at=at)
    return _Item(delivery, event, data, model, external_id, customer)


def _customer(organization: Organization, data: dict[str, Any], *, at: datetime) -> Observation:
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
    return observe(
        organization,
        raw=raw,
        source=SOURCE,
        # one record per customer: a changed address or email is a new version of it
        source_id=f"customer:{customer_id}" if customer_id else None,
        observed_at=at,
    )


def _amount(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and abs(amount) < Decimal("1e10") else None


def _order(order: Order, data: dict[str, Any], *, delivery: WebhookDelivery, event: str) -> None:
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
    sub: Subscription, data: dict[str, Any], *, delivery: WebhookDelivery, event: str
) -> None:
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


def _prescription(
    rx: Prescription, data: dict[str, Any], *, delivery: WebhookDelivery, event: str
) -> None:
    rx.drug_name = text(data, "drugName", "medication.name", "lineItems.0.drugName") or rx.drug_name
    rx.prescribed_at = when(text(data, "createdAt", "prescribedAt")) or rx.prescribed_at


_ORDER = (Order, "order", ("_id", "orderId", "order._id", "order.id", "id"))
_SUBSCRIPTION = (
    Subscription,
    "subscription",
    ("_id", "subscriptionId", "subscription._id", "subscription.id", "id"),
)
_PRESCRIPTION = (
    Prescription,
    "prescription",
    ("_id", "prescriptionId", "prescription._id", "prescription.id", "id"),
)
_SUBJECTS: dict[str, tuple[Any, str, tuple[str, ...]]] = {
    "order.created": _ORDER,
    "order.status_updated": _ORDER,
    "subscription.cancelled": _SUBSCRIPTION,
    "subscription.paused": _SUBSCRIPTION,
    "prescription.created": _PRESCRIPTION,
}
_HANDLERS: dict[str, Any] = {
    "order.created": _order,
    "order.status_updated": _order,
    "subscription.cancelled": _subscription,
    "subscription.paused": _subscription,
    "prescription.created": _prescription,
}
