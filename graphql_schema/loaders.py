"""DataLoaders, created once per request; each returns results in key order.

A batch function's query is blocking database work: it runs on a worker thread with the
request's session, through the request's ``read`` (``Context.read``), never on the event loop.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session
from strawberry.dataloader import DataLoader

from crm.contacts import queries
from crm.models import (
    Contact,
    ContactEvent,
    ContactIdentifier,
    Pet,
    PmsAppointment,
    SourceRecord,
)
from crm.pets.service import pets_for
from crm.pms.activity import appointments_for

HistoryKey = tuple[uuid.UUID, queries.HistoryPage]
# runs a query with the request's session off the event loop, one at a time per request
Read = Callable[[Callable[[Session], Any]], Awaitable[Any]]


@dataclass
class Loaders:
    contact_by_id: DataLoader[uuid.UUID, Contact | None]
    identifiers_by_contact: DataLoader[uuid.UUID, list[ContactIdentifier]]
    sources_by_contact: DataLoader[uuid.UUID, list[SourceRecord]]
    history_by_contact: DataLoader[HistoryKey, tuple[list[ContactEvent], bool]]
    pets_by_contact: DataLoader[uuid.UUID, list[Pet]]
    appointments_by_contact: DataLoader[uuid.UUID, list[PmsAppointment]]

    def clear(self) -> None:
        """Forget everything loaded so far (a mutation changed the data behind it)."""
        for loader in (
            self.contact_by_id,
            self.identifiers_by_contact,
            self.sources_by_contact,
            self.history_by_contact,
            self.pets_by_contact,
            self.appointments_by_contact,
        ):
            loader.clear_all()


def build_loaders(read: Read, organization_id: uuid.UUID) -> Loaders:
    """The request's loaders, all scoped to the caller's organization; ``read(query)`` runs
    ``query(session)`` off the event loop."""

    async def contacts(ids: Sequence[uuid.UUID]) -> list[Contact | None]:
        found = await read(
            lambda session: queries.contacts_by_ids(
                session, organization_id=organization_id, ids=ids
            )
        )
        return [found.get(i) for i in ids]

    async def identifiers(ids: Sequence[uuid.UUID]) -> list[list[ContactIdentifier]]:
        found = await read(
            lambda session: queries.identifiers_for(
                session, organization_id=organization_id, contact_ids=ids
            )
        )
        return [found.get(i, []) for i in ids]

    async def sources(ids: Sequence[uuid.UUID]) -> list[list[SourceRecord]]:
        found = await read(
            lambda session: queries.sources_for(
                session, organization_id=organization_id, contact_ids=ids
            )
        )
        return [found.get(i, []) for i in ids]

    async def pets(ids: Sequence[uuid.UUID]) -> list[list[Pet]]:
        found = await read(
            lambda session: pets_for(session, organization_id=organization_id, contact_ids=ids)
        )
        return [found.get(i, []) for i in ids]

    async def history(keys: Sequence[HistoryKey]) -> list[Any]:
        return await read(lambda session: _history(session, organization_id, keys))

    async def appointments(ids: Sequence[uuid.UUID]) -> list[list[PmsAppointment]]:
        found = await read(
            lambda session: appointments_for(
                session, organization_id=organization_id, contact_ids=ids
            )
        )
        return [found.get(i, []) for i in ids]

    return Loaders(
        contact_by_id=DataLoader(contacts),
        identifiers_by_contact=DataLoader(identifiers),
        sources_by_contact=DataLoader(sources),
        history_by_contact=DataLoader(history),
        pets_by_contact=DataLoader(pets),
        appointments_by_contact=DataLoader(appointments),
    )


def _history(
    session: Session, organization_id: uuid.UUID, keys: Sequence[HistoryKey]
) -> list[tuple[list[ContactEvent], bool]]:
    # one statement per distinct page request (usually one: every contact asks the same)
    by_page: dict[queries.HistoryPage, list[uuid.UUID]] = defaultdict(list)
    for contact_id, page in keys:
        by_page[page].append(contact_id)
    results: dict[HistoryKey, tuple[list[ContactEvent], bool]] = {}
    for page, ids in by_page.items():
        found = queries.history_for(
            session, organization_id=organization_id, contact_ids=ids, page=page
        )
        for contact_id in ids:
            results[(contact_id, page)] = found[contact_id]
    return [results[k] for k in keys]
