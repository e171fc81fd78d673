"""unlinkIdentifier as a recorded observation (docs/ingestion.md, "Unlinking an identifier").

A person says a contact is not behind an identifier. The identifier row goes; each current
source record version that carried the value as the contact's phone or email gets an
``identifier_retractions`` row, so that survivorship leaves the value out of it, a re-sent
identical record does not bring it back (nor a new version of it still carrying the value: the
pipeline carries the retraction forward), and the contact's fields are recomputed at once.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session

from crm.contacts.queries import get_contact, identifier_key
from crm.db import is_retryable
from crm.errors import ErrorCode, NotFound, ServiceError
from crm.identity import SHARED_NAMESPACES, Channel
from crm.ingest.observation import Rejected, build_observation
from crm.ingest.pipeline import ConcurrentUpdate
from crm.ingest.priorities import MANUAL_SOURCE
from crm.ingest.recompute import recompute
from crm.merging.rows import (
    CONTACTS,
    as_dicts,
    event,
    field_events,
    insert_events,
    write_contact,
)
from crm.models import (
    MAX_MERGE_CHAIN,
    IdentifierRetraction,
    Organization,
    SourceRecord,
    utcnow,
    uuid7,
)
from crm.models import ContactIdentifier as _Identifier

_IDENTIFIERS = _Identifier.__table__
_RECORDS = SourceRecord.__table__
_RETRACTIONS = IdentifierRetraction.__table__
# the contact field that shows a shared namespace's value
_FIELD_OF_NAMESPACE = {"tel": "phone", "email": "email"}


def unlink(
    session: Session,
    *,
    organization: Organization,
    contact_id: Any,
    channel: Channel,
    value: str,
    actor: str | None,
    retries: int = 10,
) -> uuid.UUID:
    """Unlink the identifier from the contact (a merged one's survivor); the contact's id.

    Runs in a savepoint, retried when another transaction got there first (a unique
    constraint, a deadlock, a contact version that moved): planned again on what it wrote.
    """
    namespace, normalized = identifier_key(channel, value, region=organization.default_region)
    named = get_contact(session, organization_id=organization.id, contact_id=contact_id)
    if named is None:
        raise NotFound("contact", field="id")
    named_id = named.id
    for attempt in range(retries):
        try:
            with session.begin_nested():
                return _Unlink(session, organization, actor).run(named_id, namespace, normalized)
        except Exception as exc:
            if not (is_retryable(exc) or isinstance(exc, ConcurrentUpdate)):
                raise
            if attempt == retries - 1:
                raise
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")


class _Unlink:
    def __init__(self, session: Session, organization: Organization, actor: str | None):
        self.session = session
        self.org = organization
        self.actor = actor
        self.now = utcnow()

    def run(self, named_id: uuid.UUID, namespace: str, value: str) -> uuid.UUID:
        contact = self._lock_live(named_id)
        contact_id = contact["id"]
        channel, source = self._delete_identifier(contact_id, namespace, value)
        self._retract(contact_id, namespace, value, source)
        computed = recompute(
            self.session,
            organization_id=self.org.id,
            contact_ids=[contact_id],
            overrides=(self.org.settings or {}).get("source_priorities"),
        )[contact_id]
        changes = {k: v for k, v in computed.items() if contact.get(k) != v}
        write_contact(self.session, row=contact, values=changes, now=self.now)
        # the record versions it retracts are the identifier_retractions rows
        unlinked = {"namespace": namespace, "value": value, "channel": channel}
        # the unlink last: it is what a newest-first history shows on top
        events = []
        if contact_id != named_id:
            events.append(
                self._event(
                    contact_id, "write_redirected", {"from": str(named_id), "to": str(contact_id)}
                )
            )
        events += field_events(
            before=contact,
            after={**contact, **changes},
            organization_id=self.org.id,
            contact_id=contact_id,
            actor=self.actor,
            data={"unlinked": {"namespace": namespace, "value": value}},
            now=self.now,
        )
        events.append(self._event(contact_id, "identifier_unlinked", unlinked))
        insert_events(self.session, events)
        self.session.flush()
        return contact_id

    def _event(self, contact_id: uuid.UUID, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        return event(
            organization_id=self.org.id,
            contact_id=contact_id,
            kind=kind,
            actor=self.actor,
            now=self.now,
            data=data,
            source=MANUAL_SOURCE,
        )

    def _lock_live(self, named_id: uuid.UUID) -> dict[str, Any]:
        """The named contact row-locked, or the survivor it was merged into (locked): a merge
        committing first is seen here, one starting later waits for this unlink."""
        chain = [named_id]
        while len(chain) <= MAX_MERGE_CHAIN:
            rows = as_dicts(
                self.session.execute(
                    select(CONTACTS)
                    .where(CONTACTS.c.organization_id == self.org.id, CONTACTS.c.id == chain[-1])
                    .with_for_update()
                )
            )
            if not rows:
                raise NotFound("contact", field="id")
            row = rows[0]
            if row["status"] == "active":
                return row
            following = row["merged_into_id"] if row["status"] == "merged" else None
            if following is None or following in chain:
                break
            chain.append(following)
        raise ServiceError(ErrorCode.NOT_ACTIVE, "contact is erased", field="id")

    def _delete_identifier(
        self, contact_id: uuid.UUID, namespace: str, value: str
    ) -> tuple[str, str | None]:
        """Delete the contact's identifier row; its channel and the source that linked it."""
        ci = _IDENTIFIERS.c
        where = (ci.organization_id == self.org.id, ci.namespace == namespace, ci.value == value)
        found = self.session.execute(
            select(ci.id, ci.ordinal, ci.channel, ci.source).where(
                *where, ci.contact_id == contact_id
            )
        ).one_or_none()
        if found is None:
            raise NotFound("identifier on this contact", field="value")
        identifier_id, ordinal, channel, source = found
        if self.session.execute(delete(_IDENTIFIERS).where(ci.id == identifier_id)).rowcount != 1:
            raise ConcurrentUpdate("the identifier was unlinked meanwhile")
        if ordinal == 0 and namespace in SHARED_NAMESPACES:
            # the next holder becomes the primary one; two promotions at once meet the
            # (namespace, value, ordinal) unique constraint and one is retried
            successor = self.session.execute(
                select(ci.id, ci.ordinal).where(*where).order_by(ci.ordinal).limit(1)
            ).one_or_none()
            if successor is not None:
                promoted = self.session.execute(
                    update(_IDENTIFIERS)
                    .where(ci.id == successor.id, ci.ordinal == successor.ordinal)
                    .values(ordinal=0)
                ).rowcount
                if promoted != 1:
                    raise ConcurrentUpdate("the next holder changed meanwhile")
        return channel, source

    def _retract(
        self, contact_id: uuid.UUID, namespace: str, value: str, source: str | None
    ) -> list[uuid.UUID]:
        """Record the unlink against each current record version that gave the contact the
        value: the value is among its keys (its phone or email field, or a column such as a
        WhatsApp number, a handle or a PMS id, or its own id), or its id is its content and
        it comes from the source that linked the identifier (a ``resolveContact`` lookup's
        record, whose key is not among its fields). A version retracted that did not carry
        the value loses nothing: only a field equal to the value is left out, and a lookup is
        only turned away when every key it has was unlinked."""
        sr = _RECORDS.c
        records = self.session.execute(
            select(
                sr.id, sr.normalized, sr.payload, sr.source_system, sr.source_id, sr.source_id_given
            ).where(
                sr.organization_id == self.org.id,
                sr.contact_id == contact_id,
                sr.is_current.is_(True),
            )
        ).all()
        key = (namespace, value)
        carrying = sorted(
            rid
            for rid, normalized, payload, system, source_id, given in records
            if key in self._keys_of(normalized, payload, system, source_id if given else None)
            or (not given and system == source)
        )
        if carrying:
            self.session.execute(
                _RETRACTIONS.insert(),
                [
                    {
                        "id": uuid7(),
                        "organization_id": self.org.id,
                        "contact_id": contact_id,
                        "source_record_id": rid,
                        "namespace": namespace,
                        "value": value,
                        "actor": self.actor,
                        "created_at": self.now,
                    }
                    for rid in carrying
                ],
            )
        return carrying

    def _keys_of(
        self,
        normalized: dict[str, Any] | None,
        payload: dict[str, Any] | None,
        system: str,
        external_id: str | None,
    ) -> set[tuple[str, str]]:
        """The identifiers a stored record version carries: its phone and email fields, and
        the keys its payload gives (as the pipeline built them from it)."""
        fields = (normalized or {}).get("fields") or {}
        keys = {
            (namespace, fields[name])
            for namespace, name in _FIELD_OF_NAMESPACE.items()
            if fields.get(name)
        }
        try:
            rebuilt = build_observation(
                dict(payload or {}),
                source=system,
                region=self.org.default_region,
                external_id=external_id,
            )
        except Rejected:
            return keys
        return keys | {k.identity for k in rebuilt.keys}
