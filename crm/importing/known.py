"""Rows an import already knows: stored before as they are (``_seen_before``), or rows of
this service's own export that still say what the contact says (``_exported_unchanged``)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from crm.contacts.queries import identifiers_for
from crm.db import in_values
from crm.identity import IdentityError, normalize_external_id
from crm.importing.export import export_values
from crm.importing.reader import Row, canonical_record
from crm.importing.rows import _same_export
from crm.ingest import Observation
from crm.ingest.observation import content_hash_of, source_id_for
from crm.models import (
    Contact,
    SourceRecord,
)


class KnownRows:
    """The checks of ``Importer`` against what is stored (a mixin: the importer's state)."""

    def _exported_unchanged(
        self, session: Session, observations: list[Observation], targets: dict[int, str], rows: dict
    ) -> set[int]:
        """Rows of this service's own export that still say what the contact says: no-ops."""
        ids: dict[int, uuid.UUID] = {}
        for index, value in targets.items():
            try:
                ids[index] = uuid.UUID(value)
            except ValueError:
                continue
        if not ids:
            return set()
        contacts = {
            c.id: c
            for c in session.exec(
                select(Contact).where(
                    Contact.organization_id == self.org.id,
                    Contact.id.in_(set(ids.values())),
                )
            ).scalars()
        }
        idents = identifiers_for(session, organization_id=self.org.id, contact_ids=contacts)
        same: set[int] = set()
        for index, contact_id in ids.items():
            contact = contacts.get(contact_id)
            if contact is None:
                continue
            # a merged contact's row goes to its survivor, an erased one's is refused: the
            # pipeline decides (``snapshot._follow``), on what it reads when it writes
            observations[index].contact_id = contact_id
            if contact.status != "active":
                continue
            exported = {
                k: v for k, v in export_values(contact, idents.get(contact_id, [])).items() if v
            }
            exported.pop("contact_id", None)
            given = dict(rows[observations[index].line].values)
            given.pop("contact_id", None)
            if _same_export(exported, given):
                same.add(index)
        return same

    def _legacy_ids(self, session: Session) -> bool:
        """Whether the source has records stored under the id of their content (``h:``, as
        CSV rows without an ``external_id`` were before they had a line identity): the same
        file imported again must still find them unchanged. Asked once per import."""
        if self.legacy is None:
            sr = SourceRecord
            self.legacy = (
                session.execute(
                    select(sr.id)
                    .where(
                        sr.organization_id == self.org.id,
                        sr.source_system == self.options.source,
                        sr.source_id >= "h:",
                        sr.source_id < "h;",
                    )
                    .limit(1)
                ).first()
                is not None
            )
        return self.legacy

    def _seen_before(
        self, session: Session, batch: list[Row], hashed: dict[int, tuple[dict[str, Any], str]]
    ) -> dict[int, str]:
        """Lines whose record is the current version of its source record already, with
        that record's ``source_id``.

        Checked on the record as received (see ``content_hash_of``), so a re-import skips
        normalising and planning the rows it has stored before. Fills ``hashed`` with each
        line's canonical record and its hash, for ``normalise_rows``.
        """
        wanted: dict[str, list[tuple[int, str]]] = defaultdict(list)
        legacy = self._legacy_ids(session)
        for row in batch:
            if row.problem is not None:
                continue
            record = canonical_record(row)
            if record.get("contact_id"):
                continue
            external = record.get("external_id")
            try:
                external = normalize_external_id(external) if external is not None else None
            except IdentityError:
                continue
            digest = content_hash_of(record, region=self.region)
            hashed[row.line] = (record, digest)
            source_id = external if external is not None else row.identity
            if source_id is None:
                source_id = source_id_for(None, digest)
            elif external is None and legacy:
                # stored before rows had a line identity: under the id of their content
                wanted[source_id_for(None, digest)].append((row.line, digest))
            wanted[source_id].append((row.line, digest))
        if not wanted:
            return {}
        sr = SourceRecord
        stored = session.execute(
            select(sr.source_id, sr.payload_hash).where(
                sr.organization_id == self.org.id,
                sr.source_system == self.options.source,
                in_values(sr.source_id, wanted),
                sr.is_current.is_(True),
            )
        )
        hashes = {source_id: payload_hash for source_id, payload_hash in stored}
        if self.dry is not None:  # a dry run: what the batches before planned, as if stored
            hashes.update(self.dry.payload_hashes(self.options.source, wanted))
        seen: dict[int, str] = {}
        for source_id, payload_hash in hashes.items():
            seen.update(
                (line, source_id) for line, digest in wanted[source_id] if digest == payload_hash
            )
        return seen
