"""CarePortals deliveries for the webhooks benchmark, and the effects they must have.

Shapes follow docs/webhooks.md and tests/webhooks/test_careportals.py: ``{"event", "id",
"data"}`` with ``data`` flattened to dotted keys (``customer.email``,
``lineItems.0.drugName``) or, for some, nested the same way. Events: ``order.created`` (a
simple and a full payload), ``order.status_updated`` along pending -> processing -> approved
-> pharmacy -> shipped -> delivered (some cancelled or refunded; some updates sent before
their ``order.created``), ``subscription.paused`` / ``subscription.cancelled`` and
``prescription.created``. Customers are distinct people (own email, phone, CarePortals id);
some order many times. A share of the events is sent three times (the provider retrying).

``expected(events)`` says what processing them must leave: one contact per customer, one
order per order id with its final status and the number of status events in its history,
one subscription per id with its final status, one prescription per id.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field
from typing import Any

LIFECYCLE = ("pending", "processing", "approved", "pharmacy", "shipped", "delivered")
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")
DRUGS = ("Finasteride 1mg", "Minoxidil 5%", "Sildenafil 50mg", "Tretinoin 0.05%", "Metformin")
BASE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@dataclass
class Customer:
    index: int

    @property
    def cp_id(self) -> str:
        return f"cus-{self.index:06d}"

    @property
    def email(self) -> str:
        return f"bench.customer{self.index}@example.com"

    @property
    def phone(self) -> str:
        # distinct Australian mobiles, written as people type them
        n = f"{self.index:08d}"
        return f"04{n[:2]} {n[2:5]} {n[5:]}"

    def fields(self, *, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"customer._id": self.cp_id, "customer.email": self.email}
        if full:
            out |= {
                "customer.phone": self.phone,
                "customer.firstName": FIRST[self.index % len(FIRST)],
                "customer.lastName": f"{LAST[self.index % len(LAST)]}{self.index}",
            }
        return out


@dataclass
class Event:
    """One unique delivery: its body (as sent) and what it is about."""

    event_id: str
    kind: str
    payload: dict[str, Any]
    customer: int
    subject: str  # order / subscription / prescription id
    status: str | None = None
    at: dt.datetime | None = None
    sends: int = 1

    def body(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":")).encode()


@dataclass
class Expected:
    customers: set[int] = field(default_factory=set)
    orders: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (status, history)
    subscriptions: dict[str, str] = field(default_factory=dict)
    prescriptions: set[str] = field(default_factory=set)


def _iso(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys as nested objects (``lineItems.0.name`` -> lists), as some senders do."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: Any = value if last else ([] if parts[i + 1].isdigit() else {})
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if node[index] is None:
                    node[index] = nxt
                node = node[index]
            else:
                node = node.setdefault(part, nxt)
    return out


class Generator:
    def __init__(self, seed: int, *, customers: int, prefix: str = "evt"):
        self.rng = random.Random(seed)
        self.customers = customers
        self.prefix = prefix
        self.n = 0
        self.orders = 0

    def _customer(self) -> Customer:
        # a quarter of the traffic comes from a small set of regulars
        if self.rng.random() < 0.25:
            return Customer(self.rng.randrange(max(self.customers // 20, 1)))
        return Customer(self.rng.randrange(self.customers))

    def _event(self, kind: str, customer: Customer, data: dict[str, Any], **kw: Any) -> Event:
        self.n += 1
        event_id = f"{self.prefix}-{self.n:07d}"
        body_data = _nest(data) if self.rng.random() < 0.2 else data
        payload = {"event": kind, "id": event_id, "data": body_data}
        return Event(event_id, kind, payload, customer.index, **kw)

    def order(self) -> list[Event]:
        """An order's events in the order they are sent: created, then its status updates
        (the first update now and then sent before the ``order.created``)."""
        self.orders += 1
        customer = self._customer()
        order_id = f"{self.prefix}-ord-{self.orders:06d}"
        created = BASE + dt.timedelta(minutes=self.rng.randrange(40_000))
        full = self.rng.random() < 0.6
        data: dict[str, Any] = {
            "_id": order_id,
            "status": "pending",
            "total": f"{self.rng.randrange(2000, 30000) / 100:.2f}",
            "createdAt": _iso(created),
            **customer.fields(full=full),
        }
        if full:
            data |= {
                "currency": "AUD",
                "coupon": self.rng.choice(["", "WELCOME10", "SPRING"]) or None,
                "shippingAddress.address1": f"{customer.index % 200 + 1} Beach Rd",
                "shippingAddress.city": "Bondi",
                "shippingAddress.state": "NSW",
                "shippingAddress.postalCode": "2026",
                "shippingAddress.country": "AU",
            }
            for i in range(self.rng.randint(1, 3)):
                data |= {
                    f"lineItems.{i}.product": f"prod-{self.rng.randrange(40)}",
                    f"lineItems.{i}.name": f"Kit {i}",
                    f"lineItems.{i}.drugName": self.rng.choice(DRUGS),
                    f"lineItems.{i}.price": f"{self.rng.randrange(1000, 9000) / 100:.2f}",
                    f"lineItems.{i}.quantity": self.rng.randint(1, 3),
                }
            data = {k: v for k, v in data.items() if v is not None}
        events = [
            self._event(
                "order.created", customer, data, subject=order_id, status="pending", at=created
            )
        ]
        steps = self.rng.randint(0, len(LIFECYCLE) - 1)
        statuses = list(LIFECYCLE[1 : 1 + steps])
        if self.rng.random() < 0.05:
            statuses.append(self.rng.choice(["cancelled", "refunded"]))
        at = created
        for status in statuses:
            at += dt.timedelta(hours=self.rng.randint(1, 30))
            update = {"_id": order_id, "status": status, "updatedAt": _iso(at)}
            update |= customer.fields(full=False)
            events.append(
                self._event(
                    "order.status_updated", customer, update, subject=order_id, status=status, at=at
                )
            )
        if len(events) > 1 and self.rng.random() < 0.15:
            events[0], events[1] = events[1], events[0]
        return events

    def subscription(self) -> list[Event]:
        customer = self._customer()
        self.orders += 1
        sub_id = f"{self.prefix}-sub-{self.orders:06d}"
        at = BASE + dt.timedelta(minutes=self.rng.randrange(40_000))
        paused = {"_id": sub_id, "pausedAt": _iso(at), **customer.fields(full=False)}
        events = [
            self._event(
                "subscription.paused", customer, paused, subject=sub_id, status="paused", at=at
            )
        ]
        if self.rng.random() < 0.5:
            later = at + dt.timedelta(days=self.rng.randint(1, 20))
            cancelled = {"_id": sub_id, "cancelledAt": _iso(later), **customer.fields(full=False)}
            events.append(
                self._event(
                    "subscription.cancelled",
                    customer,
                    cancelled,
                    subject=sub_id,
                    status="cancelled",
                    at=later,
                )
            )
            if self.rng.random() < 0.2:  # the late, older pause arrives last
                events.reverse()
        return events

    def prescription(self) -> list[Event]:
        customer = self._customer()
        self.orders += 1
        rx_id = f"{self.prefix}-rx-{self.orders:06d}"
        at = BASE + dt.timedelta(minutes=self.rng.randrange(40_000))
        data = {
            "_id": rx_id,
            "drugName": self.rng.choice(DRUGS),
            "createdAt": _iso(at),
            **customer.fields(full=self.rng.random() < 0.5),
        }
        return [
            self._event("prescription.created", customer, data, subject=rx_id, status=None, at=at)
        ]

    def unique_events(self, count: int) -> list[Event]:
        """About ``count`` unique events, grouped by subject in sending order."""
        out: list[Event] = []
        while len(out) < count:
            r = self.rng.random()
            if r < 0.7:
                out.extend(self.order())
            elif r < 0.85:
                out.extend(self.subscription())
            else:
                out.extend(self.prescription())
        return out


def plan(
    seed: int, *, sends: int, customers: int, tripled: float = 0.15, prefix: str = "evt"
) -> tuple[list[Event], list[Event]]:
    """(unique events, exactly ``sends`` deliveries in sending order): every event once in
    its group's order, a share ``tripled`` of them twice more at later random places (a
    provider retrying)."""
    rng = random.Random(seed + 1)
    gen = Generator(seed, customers=customers, prefix=prefix)
    kept: list[Event] = []
    total = 0
    while total < sends:
        for event in gen.unique_events(1):
            want = min(3 if rng.random() < tripled else 1, sends - total)
            if want == 0:
                break
            event.sends = want
            total += want
            kept.append(event)
    slots: list[list[Event]] = [[] for _ in range(len(kept) + 1)]
    for first, event in enumerate(kept):
        for _ in range(event.sends - 1):
            slots[rng.randrange(first + 1, len(kept) + 1)].append(event)
    out: list[Event] = []
    for i, event in enumerate(kept):
        out.extend(slots[i])
        out.append(event)
    out.extend(slots[-1])
    assert len(out) == sends
    return kept, out


def expected(events: list[Event]) -> Expected:
    exp = Expected()
    orders: dict[str, list[Event]] = {}
    subs: dict[str, list[Event]] = {}
    for e in events:
        exp.customers.add(e.customer)
        if e.kind.startswith("order."):
            orders.setdefault(e.subject, []).append(e)
        elif e.kind.startswith("subscription."):
            subs.setdefault(e.subject, []).append(e)
        else:
            exp.prescriptions.add(e.subject)
    for order_id, evs in orders.items():
        updates = [e for e in evs if e.kind == "order.status_updated"]
        current = max(updates, key=lambda e: e.at) if updates else evs[0]
        exp.orders[order_id] = (current.status or "", len(evs))
    for sub_id, evs in subs.items():
        exp.subscriptions[sub_id] = max(evs, key=lambda e: e.at).status or ""
    return exp
