"""The one ingestion pipeline: every source (CSV, resolveContact, PMS, webhooks) comes here.

normalise (done by the caller, ``build_observation``) -> find owner by identity keys ->
attach or create -> store source record version -> recompute fields by survivorship -> events.

It works on batches: every read is one statement per batch, every write a multi-row statement.
A single lookup is a batch of one. Races are settled by unique constraints: a batch that loses
one is rolled back to its savepoint and planned again against what the winner committed.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlmodel import Session

from crm.db import RenderedCopy, bulk_insert, in_values, is_retryable, render_copy
from crm.identity import PMS_NAMESPACES, SHARED_NAMESPACES, first_names_agree, name_key
from crm.ingest.observation import FieldIssue, Observation
from crm.ingest.recompute import (
    Retracted,
    carried_retractions,
    contact_values,
    current_observations,
    observed,
    retracted_keys,
    still_retracted,
    without,
)
from crm.ingest.survivorship import Observed
from crm.models import (
    CONTACT_FIELDS,
    Contact,
    ContactEvent,
    ContactIdentifier,
    IdentifierRetraction,
    Organization,
    SourceRecord,
    utcnow,
    uuid7,
)

log = structlog.get_logger(__name__)

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
LINKED = "linked"
REJECTED = "rejected"

_CONTACTS = Contact.__table__
_IDENTIFIERS = ContactIdentifier.__table__
_RECORDS = SourceRecord.__table__
_EVENTS = ContactEvent.__table__
_RETRACTIONS = IdentifierRetraction.__table__
# exclusive keys in the order they decide the owner: the source's own record id, PMS patient
# ids, EMR ids, social handles, chat ids (a PMS id outweighs an Instagram handle)
_EXCLUSIVE_RANK = {
    "external": 0,
    **dict.fromkeys(PMS_NAMESPACES, 1),
    "careportals": 2,
    "instagram": 3,
    "facebook": 3,
    "chatwoot": 4,
}


# a chain of merges longer than this is a cycle or corruption, never real data
_MAX_CHAIN = 100


class ConcurrentUpdate(Exception):
    """A contact changed under the batch (its version moved); the batch is planned again."""


@dataclass(slots=True)
class Outcome:
    """What happened to one observation."""

    index: int
    outcome: str
    contact_id: uuid.UUID | None
    line: int | None = None
    issues: list[FieldIssue] = field(default_factory=list)
    # the contact the observation named (``contact_id``) when it was merged and the write went
    # to its survivor (``contact_id``) instead
    redirected_from: uuid.UUID | None = None


@dataclass(slots=True)
class _Current:
    id: uuid.UUID
    contact_id: uuid.UUID
    version: int
    content_hash: str
    planned: dict[str, Any] | None = None


@dataclass(slots=True)
class _Person:
    first_name: str | None
    date_of_birth: date | None


def _dates_compatible(a: date | None, b: date | None) -> bool:
    if a is None or b is None or a == b:
        return True
    # a day/month transposition is the same birthday written the other way round
    return a.year == b.year and a.month == b.day and a.day == b.month


def ingest(
    session: Session,
    *,
    organization: Organization,
    observations: Sequence[Observation],
    actor: str | None = None,
    import_job_id: uuid.UUID | None = None,
    retries: int = 10,
) -> list[Outcome]:
    """Run ``observations`` through the pipeline; one outcome per observation, in order."""
    for attempt in range(retries):
        try:
            with session.begin_nested():
                return _Batch(session, organization, observations, actor, import_job_id).run()
        except Exception as exc:
            if not (is_retryable(exc) or isinstance(exc, ConcurrentUpdate)):
                raise
            if attempt == retries - 1:
                raise
            log.info("crm.ingest.retry", attempt=attempt + 1, reason=type(exc).__name__)
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")


class _Batch:
    def __init__(
        self,
        session: Session,
        organization: Organization,
        observations: Sequence[Observation],
        actor: str | None,
        import_job_id: uuid.UUID | None,
        previous: _Batch | None = None,
    ) -> None:
        self.session = session
        # a batch planned before this one whose writes may not have committed yet: what it
        # wrote is read from it rather than from the database (``plan_batch``)
        self.previous = previous
        self.org_id = organization.id
        self.overrides = (organization.settings or {}).get("source_priorities")
        self.observations = observations
        self.actor = actor
        self.import_job_id = import_job_id
        self.import_job_text = _str(import_job_id)
        self.now = utcnow()
        # (namespace, value) -> [(ordinal, contact_id)], the batch's keys only
        self.holders: dict[tuple[str, str], list[tuple[int, uuid.UUID]]] = defaultdict(list)
        self.current: dict[tuple[str, str], _Current] = {}
        # current record id -> the identifiers unlinked from it (``unlinkIdentifier``), with
        # the new versions this batch carries them forward to (``_carry_retractions``)
        self.retracted: dict[uuid.UUID, Retracted] = {}
        self.new_retractions: list[dict[str, Any]] = []
        self.contacts: dict[uuid.UUID, dict[str, Any]] = {}
        # named contact (``obs.contact_id``) -> the live contact it leads to, None if erased
        self.named: dict[uuid.UUID, uuid.UUID | None] = {}
        self.people: dict[uuid.UUID, _Person] = {}
        self.new_contacts: set[uuid.UUID] = set()
        self.new_identifiers: list[dict[str, Any]] = []
        self.new_records: list[dict[str, Any]] = []
        self.superseded: list[uuid.UUID] = []
        self.events: list[dict[str, Any]] = []
        self.batch_obs: dict[uuid.UUID, list[Observation]] = defaultdict(list)
        # each contact this batch inserts or updates, as its row will be once written
        self.final: dict[uuid.UUID, dict[str, Any]] = {}

    # reads ---------------------------------------------------------------------------------

    def _load(self) -> None:
        by_namespace: dict[str, set[str]] = defaultdict(set)
        by_system: dict[str, set[str]] = defaultdict(set)
        for obs in self.observations:
            for key in obs.keys:
                by_namespace[key.namespace].add(key.value)
            by_system[obs.source].add(obs.source_id)
        ci = ContactIdentifier
        for namespace, values in by_namespace.items():
            rows = self.session.execute(
                select(ci.contact_id, ci.value, ci.ordinal).where(
                    ci.organization_id == self.org_id,
                    ci.namespace == namespace,
                    in_values(ci.value, values),
                )
            )
            for contact_id, value, ordinal in rows:
                self.holders[(namespace, value)].append((ordinal, contact_id))
        previous = self.previous
        if previous is not None:
            for namespace, values in by_namespace.items():
                for value in values:
                    if pending := previous.holders.get((namespace, value)):
                        held = self.holders[(namespace, value)]
                        held.extend(h for h in pending if h not in held)
        for held in self.holders.values():
            held.sort()
        sr = SourceRecord
        for system, ids in by_system.items():
            rows = self.session.execute(
                select(sr.id, sr.contact_id, sr.source_id, sr.version, sr.content_hash).where(
                    sr.organization_id == self.org_id,
                    sr.source_system == system,
                    in_values(sr.source_id, ids),
                    sr.is_current.is_(True),
                )
            )
            for rid, contact_id, source_id, version, content_hash in rows:
                self.current[(system, source_id)] = _Current(rid, contact_id, version, content_hash)
            if previous is not None:
                for source_id in ids:
                    cur = previous.current.get((system, source_id))
                    if cur is not None and cur.planned is not None:
                        self.current[(system, source_id)] = _Current(
                            cur.id, cur.contact_id, cur.version, cur.content_hash
                        )
        self._load_retractions()
        # the contacts the batch's keys and records lead to, and those its rows name
        reached = {cid for held in self.holders.values() for _, cid in held}
        reached |= {cur.contact_id for cur in self.current.values()}
        contact_ids = reached | {obs.contact_id for obs in self.observations if obs.contact_id}
        pending = {}
        if previous is not None:
            pending = {cid: previous.final[cid] for cid in contact_ids if cid in previous.final}
        if contact_ids - pending.keys():
            rows = self.session.execute(
                select(_CONTACTS).where(
                    _CONTACTS.c.organization_id == self.org_id,
                    in_values(_CONTACTS.c.id, contact_ids - pending.keys()),
                )
            ).mappings()
            for row in rows:
                self.contacts[row["id"]] = dict(row)
                self.people[row["id"]] = _Person(row["first_name"], row["date_of_birth"])
        for cid, row in pending.items():
            self.contacts[cid] = dict(row)
            self.people[cid] = _Person(row["first_name"], row["date_of_birth"])
        # A merge moves every identifier and record off the contacts it merges: reaching a
        # tombstone through them means these reads straddled a merge's commit (the records
        # read before it, the contacts after). Planned on that, the batch would write onto
        # the tombstone (its version matches): it is read again instead.
        if any(self.contacts.get(cid, {}).get("status") == "merged" for cid in reached):
            raise ConcurrentUpdate("a contact was merged while the batch was read")
        self._follow_named({obs.contact_id for obs in self.observations if obs.contact_id})

    def _load_retractions(self) -> None:
        """The unlinks recorded against the current versions of the batch's records; those a
        previous batch carried forward to versions it planned are taken from it."""
        ids = {cur.id for cur in self.current.values()}
        self.retracted = retracted_keys(self.session, record_ids=ids) if ids else {}
        if self.previous is not None:
            for rid, kept in self.previous.retracted.items():
                if rid in ids:
                    self.retracted[rid] = {**self.retracted.get(rid, {}), **kept}

    def _follow_named(self, named: set[uuid.UUID]) -> None:
        """Where a write naming a contact goes: a merged contact leads to its survivor (along
        the ``merged_into`` chain), an erased or unknown one nowhere (the row is refused).

        Decided on what was read: a merge committing after these reads moves the contact's
        version, so the batch's versioned ``UPDATE`` misses and it is planned again."""
        for start in named:
            chain = [start]
            target: uuid.UUID | None = None
            while len(chain) <= _MAX_CHAIN:
                row = self.contacts.get(chain[-1])
                if row is None:
                    row = self._load_contact(chain[-1])
                if row is None:
                    break
                if row["status"] == "active":
                    target = row["id"]
                    break
                following = row["merged_into_id"] if row["status"] == "merged" else None
                if following is None or following in chain:
                    break
                chain.append(following)
            self.named[start] = target

    def _load_contact(self, contact_id: uuid.UUID) -> dict[str, Any] | None:
        row = (
            self.session.execute(
                select(_CONTACTS).where(
                    _CONTACTS.c.organization_id == self.org_id, _CONTACTS.c.id == contact_id
                )
            )
            .mappings()
            .one_or_none()
        )
        if row is None:
            return None
        self.contacts[contact_id] = dict(row)
        self.people[contact_id] = _Person(row["first_name"], row["date_of_birth"])
        return self.contacts[contact_id]

    # planning ------------------------------------------------------------------------------

    def _compatible(self, obs: Observation, contact_id: uuid.UUID) -> bool:
        # The link cannot be undone, so only a sure first name links a shared email or phone:
        # equal, a nickname or an initial (Paul/Paula, Jonh/John become two contacts, for the
        # sweep to propose and merge reversibly). docs/survivorship.md
        person = self.people.get(contact_id)
        if person is None:
            return True
        return first_names_agree(obs.first_name, person.first_name) and _dates_compatible(
            obs.date_of_birth, person.date_of_birth
        )

    def _same_name(self, obs: Observation, contact_id: uuid.UUID) -> bool:
        person = self.people.get(contact_id)
        key = name_key(obs.first_name)
        return bool(key) and person is not None and name_key(person.first_name) == key

    def _find_owner(self, obs: Observation) -> uuid.UUID | None:
        exclusive = [key for key in obs.keys if key.namespace not in SHARED_NAMESPACES]
        for key in sorted(exclusive, key=lambda k: _EXCLUSIVE_RANK.get(k.namespace, 5)):
            if held := self.holders.get(key.identity):
                return held[0][1]
        score: dict[uuid.UUID, tuple[int, int]] = {}
        for key in obs.keys:
            if key.namespace not in SHARED_NAMESPACES:
                continue
            for ordinal, contact_id in self.holders.get(key.identity, ()):
                if not self._compatible(obs, contact_id):
                    continue
                matched, best_ordinal = score.get(contact_id, (0, ordinal))
                score[contact_id] = (matched + 1, min(best_ordinal, ordinal))
        if not score:
            return None
        # among household members that fit, the one with this very first name before one
        # it is a nickname or an initial of ("William" finds William, not his father Bill)
        same = {cid for cid in score if len(score) > 1 and self._same_name(obs, cid)}
        return min(score, key=lambda cid: (-score[cid][0], cid not in same, score[cid][1], cid))

    def _link_keys(
        self,
        index: int,
        obs: Observation,
        owner: uuid.UUID,
        created: bool,
        issues: list,
        unlinked: Retracted,
    ) -> None:
        for key in obs.keys:
            if key.identity in unlinked:
                continue  # still unlinked: the record's new version carries it as before
            held = self.holders[(key.namespace, key.value)]
            if held and owner in [cid for _, cid in held]:
                continue
            if held and key.namespace not in SHARED_NAMESPACES:
                issues.append(
                    FieldIssue(
                        "IDENTIFIER_CONFLICT",
                        key.channel.lower(),
                        f"{key.channel} identifier already belongs to another contact",
                    )
                )
                self._event(
                    owner,
                    "identifier_conflict",
                    source=obs.source,
                    data={
                        "namespace": key.namespace,
                        "value": key.value,
                        "holder": str(held[0][1]),
                    },
                )
                continue
            ordinal = held[-1][0] + 1 if held else 0
            held.append((ordinal, owner))
            self.new_identifiers.append(
                {
                    "id": uuid7(),
                    "organization_id": self.org_id,
                    "contact_id": owner,
                    "namespace": key.namespace,
                    "value": key.value,
                    "channel": key.channel,
                    "ordinal": ordinal,
                    "source": obs.source,
                    "created_at": self.now,
                }
            )
            if not created:
                self._event(
                    owner,
                    "identifier_linked",
                    source=obs.source,
                    data={"namespace": key.namespace, "value": key.value, "ordinal": ordinal},
                )

    def _plan(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        # A record repeated in the batch ends as its last occurrence. When that is already the
        # stored version, the earlier occurrences change nothing either: re-ingesting is a no-op.
        last = {(obs.source, obs.source_id): obs.content_hash for obs in self.observations}
        settled = {
            k for k, h in last.items() if k in self.current and self.current[k].content_hash == h
        }
        for index, obs in enumerate(self.observations):
            issues = list(obs.issues)
            cur = self.current.get((obs.source, obs.source_id))
            named = obs.contact_id
            if named is not None and (refused := self._refuse_named(obs, cur)) is not None:
                outcomes.append(Outcome(index, REJECTED, None, obs.line, [*issues, refused]))
                continue
            # the record that says who this is: none when every key it had was unlinked from
            # its contact and it has no id of the source's own (its id is its content)
            lineage = None if cur is not None and self._unlinked(obs, cur) else cur
            if lineage is not None and (
                lineage.content_hash == obs.content_hash or (obs.source, obs.source_id) in settled
            ):
                outcomes.append(Outcome(index, UNCHANGED, lineage.contact_id, obs.line, issues))
                continue
            redirected_from = None
            if named is not None:
                owner = self.named[named]
                if owner != named:
                    redirected_from = named
                    issues.append(_redirected(named, owner))
                    self._event(
                        owner,
                        "write_redirected",
                        source=obs.source,
                        data={"from": str(named), "to": str(owner)},
                    )
            elif lineage is not None:
                owner = lineage.contact_id
            else:
                owner = self._find_owner(obs)
                if cur is not None and owner != cur.contact_id:
                    # the record version moves to the new owner: the contact it leaves is
                    # recomputed without it
                    self.batch_obs.setdefault(cur.contact_id, [])
            created = owner is None
            if owner is None:
                owner = uuid7()
                self.new_contacts.add(owner)
                dob = obs.date_of_birth
                self.people[owner] = _Person(obs.first_name, dob)
            else:
                # later rows of the batch are checked against what this one says of the owner,
                # as they would be in a later batch: a household stays apart either way
                person = self.people.setdefault(owner, _Person(None, None))
                person.first_name = person.first_name or obs.first_name
                person.date_of_birth = person.date_of_birth or obs.date_of_birth
            kept = self._kept_retractions(obs, lineage)
            self._link_keys(index, obs, owner, created, issues, kept)
            record = self._record(obs, owner, cur)
            self._carry_retractions(record, kept)
            self.current[(obs.source, obs.source_id)] = _Current(
                record["id"], owner, record["version"], obs.content_hash, planned=record
            )
            self.batch_obs[owner].append(obs)
            kind = CREATED if created else (UPDATED if cur is not None else LINKED)
            outcomes.append(Outcome(index, kind, owner, obs.line, issues, redirected_from))
        return outcomes

    def _kept_retractions(self, obs: Observation, lineage: _Current | None) -> Retracted:
        """The unlinks a new version of a record keeps: those of the version it replaces
        whose value it still carries. A value the source changed (absent or different in that
        version) is new data, and so is a record of its own (no lineage)."""
        if lineage is None:
            return {}
        return still_retracted(self.retracted.get(lineage.id), (k.identity for k in obs.keys))

    def _carry_retractions(self, record: dict[str, Any], kept: Retracted) -> None:
        if not kept:
            return
        self.retracted[record["id"]] = kept
        self.new_retractions.extend(
            carried_retractions(
                organization_id=self.org_id, record_id=record["id"], kept=kept, now=self.now
            )
        )

    def _shown(self, record: dict[str, Any]) -> dict[str, Any]:
        """A planned record's content as survivorship reads it: without its unlinked values."""
        kept = self.retracted.get(record["id"])
        return without(record["normalized"], set(kept)) if kept else record["normalized"]

    def _unlinked(self, obs: Observation, cur: _Current) -> bool:
        retracted = self.retracted.get(cur.id)
        return (
            bool(retracted)
            and obs.external_id is None
            and bool(obs.keys)
            and all(key.identity in retracted for key in obs.keys)
        )

    def _refuse_named(self, obs: Observation, cur: _Current | None) -> FieldIssue | None:
        """Why a row naming its contact cannot be written there, if it cannot: the contact is
        erased (or unknown), or the row's source record belongs to another contact (moving it
        would leave that contact's fields and keys behind)."""
        assert obs.contact_id is not None
        target = self.named.get(obs.contact_id)
        if target is None:
            status = self.contacts.get(obs.contact_id, {}).get("status")
            return FieldIssue(
                "NOT_ACTIVE" if status else "NOT_FOUND",
                "contact_id",
                f"contact {obs.contact_id} is {status}" if status else "contact not found",
            )
        if cur is not None and cur.contact_id != target:
            return FieldIssue(
                "IDENTIFIER_CONFLICT",
                "external_id",
                f"this {obs.source} record belongs to contact {cur.contact_id}, "
                f"not to contact {target}",
            )
        return None

    def _record(self, obs: Observation, owner: uuid.UUID, cur: _Current | None) -> dict[str, Any]:
        if cur is not None:
            if cur.planned is not None:
                cur.planned["is_current"] = False
            else:
                self.superseded.append(cur.id)
        normalized: dict[str, Any] = {"fields": obs.fields}
        if obs.metadata:
            normalized["metadata"] = obs.metadata
        record = {
            "id": uuid7(),
            "organization_id": self.org_id,
            "contact_id": owner,
            "source_system": obs.source,
            "source_id": obs.source_id,
            "source_id_given": obs.external_id is not None,
            "version": cur.version + 1 if cur is not None else 1,
            "is_current": True,
            "content_hash": obs.content_hash,
            "payload_hash": obs.payload_hash or None,
            "payload": obs.payload,
            "normalized": normalized,
            "observed_at": obs.observed_at,
            "received_at": self.now,
            "import_job_id": self.import_job_id,
        }
        self.new_records.append(record)
        return record

    def _event(self, contact_id: uuid.UUID, kind: str, **values: Any) -> None:
        self.events.append(
            {
                "id": uuid7(),
                "organization_id": self.org_id,
                "contact_id": contact_id,
                "kind": kind,
                "field": values.get("field"),
                "old_value": values.get("old_value"),
                "new_value": values.get("new_value"),
                "source": values.get("source"),
                "actor": self.actor,
                "data": values.get("data") or {},
                "created_at": self.now,
            }
        )

    # survivorship --------------------------------------------------------------------------

    def _observed_for(self, contact_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[Observed]]:
        existing = contact_ids - self.new_contacts
        superseded = set(self.superseded)
        exclude = set(superseded)
        pending: list[tuple] = []
        if (previous := self.previous) is not None:
            # the previous batch's records as if they were stored: in the database or not
            # yet, they are read once, in the same order
            exclude.update(previous.superseded)
            exclude.update(record["id"] for record in previous.new_records)
            pending = [
                (r["id"], r["contact_id"], r["source_system"], previous._shown(r), r["observed_at"])
                for r in previous.new_records
                if r["is_current"] and r["contact_id"] in existing and r["id"] not in superseded
            ]
        observed_by = current_observations(
            self.session,
            organization_id=self.org_id,
            contact_ids=existing,
            exclude=exclude,
            pending=pending,
        )
        for record in self.new_records:
            if record["is_current"]:
                observed_by[record["contact_id"]].append(
                    observed(record["source_system"], self._shown(record), record["observed_at"])
                )
        return observed_by

    def _recompute(self) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], int]]]:
        touched = set(self.batch_obs)
        observed_by = self._observed_for(touched)
        inserts: list[dict[str, Any]] = []
        updates: list[tuple[dict[str, Any], int]] = []
        # by the ids' integers: the same order as sorting the UUIDs, without their Python __lt__
        for contact_id in sorted(touched, key=_uuid_int):
            row, result = contact_values(observed_by[contact_id], overrides=self.overrides)
            self._conflict_events(contact_id, result.conflicts)
            if contact_id in self.new_contacts:
                row.update(
                    id=contact_id,
                    organization_id=self.org_id,
                    status="active",
                    contact_type="person",
                    version=1,
                    created_at=self.now,
                    updated_at=self.now,
                )
                inserts.append(row)
                self.final[contact_id] = row
                first = self.batch_obs[contact_id][0]
                self._event(
                    contact_id,
                    "created",
                    source=first.source,
                    data={"fields": result.fields, "import_job_id": self.import_job_text},
                )
                continue
            before = self.contacts[contact_id]
            changed = {k: v for k, v in row.items() if before.get(k) != v}
            for name in CONTACT_FIELDS:
                if name in changed:
                    self._event(
                        contact_id,
                        "field_changed",
                        field=name,
                        old_value=_jsonable(before.get(name)),
                        new_value=_jsonable(changed[name]),
                        source=result.provenance.get(name, {}).get("source"),
                    )
            # a new observation is a change even when no field moved: bump the version
            changed["updated_at"] = self.now
            changed["version"] = before["version"] + 1
            updates.append((dict(changed, id=contact_id), before["version"]))
            self.final[contact_id] = {**before, **changed}
        return inserts, updates

    def _conflict_events(self, contact_id: uuid.UUID, conflicts: list) -> None:
        if not conflicts:
            return
        incoming = {
            (name, obs.source, _jsonable(value))
            for obs in self.batch_obs[contact_id]
            for name, value in obs.fields.items()
        }
        for name, source, value, kept in conflicts:
            if (name, source, _jsonable(value)) in incoming:
                self._event(
                    contact_id,
                    "conflict",
                    field=name,
                    old_value=_jsonable(value),
                    new_value=_jsonable(kept),
                    source=source,
                    data={"kept": "survivorship"},
                )

    # writes --------------------------------------------------------------------------------

    def _write(
        self, inserts: list[dict[str, Any]], updates: list[tuple[dict[str, Any], int]]
    ) -> None:
        session = self.session
        if inserts:
            bulk_insert(session, _CONTACTS, inserts)
        self._update(updates)
        if self.new_identifiers:
            bulk_insert(session, _IDENTIFIERS, self._identifier_rows())
        self._supersede()
        if self.new_records:
            bulk_insert(session, _RECORDS, self.new_records)
        if self.new_retractions:
            bulk_insert(session, _RETRACTIONS, self.new_retractions)
        if self.events:
            bulk_insert(session, _EVENTS, self.events)

    def _identifier_rows(self) -> list[dict[str, Any]]:
        return sorted(self.new_identifiers, key=lambda r: (r["namespace"], r["value"]))

    def _update(self, updates: list[tuple[dict[str, Any], int]]) -> None:
        for values, expected in updates:
            result = self.session.execute(
                update(_CONTACTS)
                .where(
                    _CONTACTS.c.id == values["id"],
                    _CONTACTS.c.version == expected,
                    # no write lands on a tombstone, whatever version it read
                    _CONTACTS.c.status == "active",
                )
                .values({k: v for k, v in values.items() if k != "id"})
            )
            if result.rowcount != 1:
                raise ConcurrentUpdate(str(values["id"]))

    def _supersede(self) -> None:
        if self.superseded:
            self.session.execute(
                update(_RECORDS)
                .where(in_values(_RECORDS.c.id, self.superseded))
                .values(is_current=False)
            )

    def run(self) -> list[Outcome]:
        self._load()
        outcomes = self._plan()
        inserts, updates = self._recompute()
        self._write(inserts, updates)
        return outcomes

    def plan(self) -> tuple[list[Outcome], PlannedWrites]:
        """``run`` without its writes: the outcomes, and the writes rendered (PostgreSQL
        ``COPY`` text built) for ``PlannedWrites.send`` to do later, on this session."""
        self._load()
        outcomes = self._plan()
        inserts, updates = self._recompute()
        # planned: the batch before is not needed any more (kept, each batch would hold
        # every batch before it)
        self.previous = None
        tables = (
            (_CONTACTS, inserts),
            (_IDENTIFIERS, self._identifier_rows() if self.new_identifiers else []),
            (_RECORDS, self.new_records),
            (_RETRACTIONS, self.new_retractions),
            (_EVENTS, self.events),
        )
        copies = {table.name: render_copy(table, rows) for table, rows in tables if rows}
        return outcomes, PlannedWrites(self, updates, copies)


@dataclass(slots=True)
class PlannedWrites:
    """A planned batch's writes (``plan_batch``), sent in ``_Batch._write``'s order."""

    batch: _Batch
    updates: list[tuple[dict[str, Any], int]]
    copies: dict[str, RenderedCopy]

    def send(self) -> None:
        batch = self.batch

        def copy(table: Any) -> None:
            if (rendered := self.copies.get(table.name)) is not None:
                rendered.send(batch.session)

        copy(_CONTACTS)
        batch._update(self.updates)
        copy(_IDENTIFIERS)
        batch._supersede()
        copy(_RECORDS)
        copy(_RETRACTIONS)
        copy(_EVENTS)


def plan_batch(
    session: Session,
    *,
    organization: Organization,
    observations: Sequence[Observation],
    actor: str | None = None,
    import_job_id: uuid.UUID | None = None,
    previous: PlannedWrites | None = None,
) -> tuple[list[Outcome], PlannedWrites]:
    """``ingest``'s reads and planning on PostgreSQL, its writes left for ``send``.

    For a caller that overlaps storing one batch with planning the next (the CSV import):
    nothing is written until ``PlannedWrites.send``; a conflict it meets (``is_retryable``, or
    ``ConcurrentUpdate``) leaves the batch to be planned again, by ``ingest``, once the
    transaction is rolled back. No retries here, no savepoint.

    ``previous``: the batch planned just before this one, whose writes may still be on their
    way. This batch is planned as if they were stored, committed or not: the identifiers,
    current source records and contact rows it wrote are taken from it, not from the
    database. Its writes must commit before this batch's are sent; if they do not, this
    plan is void.
    """
    return _Batch(
        session,
        organization,
        observations,
        actor,
        import_job_id,
        previous.batch if previous is not None else None,
    ).plan()


def _redirected(named: uuid.UUID, owner: uuid.UUID) -> FieldIssue:
    return FieldIssue(
        "CONTACT_REDIRECTED",
        "contact_id",
        f"contact {named} was merged into contact {owner}: written there",
    )


def plan_only(
    session: Session,
    *,
    organization: Organization,
    observations: Sequence[Observation],
    actor: str | None = None,
    import_job_id: uuid.UUID | None = None,
    previous: Any = None,
) -> tuple[list[Outcome], Any]:
    """``ingest``'s reads and planning with nothing written and nothing rendered (a dry run).

    Returns the outcomes and the planned batch, whose ``holders``, ``current``, ``final``,
    ``superseded`` and ``new_records`` say what it would have written. ``previous``: what the
    batches before planned, as one object with those same attributes (see
    ``crm.importing.dry_run``): this batch is planned as if it were stored.
    """
    batch = _Batch(session, organization, observations, actor, import_job_id, previous)
    batch._load()
    outcomes = batch._plan()
    batch._recompute()
    batch.previous = None
    return outcomes, batch


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return value


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _uuid_int(value: uuid.UUID) -> int:
    return value.int
