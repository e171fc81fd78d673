"""The pipeline's middle step, **plan**: a function of a snapshot and the batch.

For each observation: its owner by identity keys (``owners``), its outcome, the identifiers
it links, its source record version; then survivorship for every contact the batch touches,
and the events. Nothing is read from the database here: everything comes from the
``Snapshot`` (``load``), and what the plan writes is returned as ``Writes`` (``store``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crm.identity import SHARED_NAMESPACES
from crm.ingest.contact_rows import contact_writes
from crm.ingest.observation import FieldIssue, Observation
from crm.ingest.outcome import CREATED, LINKED, REJECTED, UNCHANGED, UPDATED, Outcome
from crm.ingest.owners import find_owner
from crm.ingest.recompute import (
    Retracted,
    carried_retractions,
    still_retracted,
    without,
)
from crm.ingest.snapshot import Current, Key, Person, Snapshot, unlinked
from crm.ingest.store import Writes
from crm.models import Organization, utcnow, uuid7


@dataclass(slots=True)
class Plan:
    """A planned batch: its outcomes, its writes, and what they leave (for ``Pending``)."""

    outcomes: list[Outcome]
    writes: Writes
    # the batch's keys' holders, current records and changed contacts once stored
    holders: dict[Key, list[tuple[int, uuid.UUID]]] = field(default_factory=dict)
    current: dict[Key, Current] = field(default_factory=dict)
    contacts: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    # the unlinks carried forward to the record versions the plan makes
    retracted: dict[uuid.UUID, Retracted] = field(default_factory=dict)


def plan(
    snapshot: Snapshot,
    observations: Sequence[Observation],
    *,
    organization: Organization,
    actor: str | None = None,
    import_job_id: uuid.UUID | None = None,
) -> Plan:
    """Plan ``observations`` (one outcome each, in order) on ``snapshot``, which it leaves
    as it was."""
    return _Planner(snapshot, organization, actor, import_job_id).run(observations)


class _Planner:
    def __init__(
        self,
        snapshot: Snapshot,
        organization: Organization,
        actor: str | None,
        import_job_id: uuid.UUID | None,
    ) -> None:
        self.snap = snapshot
        self.org_id = snapshot.organization_id
        self.overrides = (organization.settings or {}).get("source_priorities")
        self.actor = actor
        self.import_job_id = import_job_id
        self.import_job_text = None if import_job_id is None else str(import_job_id)
        self.now = utcnow()
        # the snapshot's as the batch changes them (copies: the snapshot stays as read)
        self.holders = defaultdict(list, {k: list(v) for k, v in snapshot.holders.items()})
        self.current = dict(snapshot.current)
        self.people = dict(snapshot.people)
        # record id -> its unlinks, with the new versions this batch carries them forward to
        self.retracted = dict(snapshot.retracted)
        self.carried: dict[uuid.UUID, Retracted] = {}
        self.retractions: list[dict[str, Any]] = []
        self.new_contacts: set[uuid.UUID] = set()
        self.identifiers: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []
        self.superseded: list[uuid.UUID] = []
        self.events: list[dict[str, Any]] = []
        self.batch_obs: dict[uuid.UUID, list[Observation]] = defaultdict(list)
        # each contact this batch inserts or updates, as its row will be once written
        self.final: dict[uuid.UUID, dict[str, Any]] = {}

    def run(self, observations: Sequence[Observation]) -> Plan:
        outcomes = self._outcomes(observations)
        writes = contact_writes(self)
        writes.identifiers = sorted(self.identifiers, key=lambda r: (r["namespace"], r["value"]))
        writes.superseded = self.superseded
        writes.records = self.records
        writes.retractions = self.retractions
        writes.events = self.events
        current = {k: cur for k, cur in self.current.items() if cur.planned is not None}
        return Plan(outcomes, writes, dict(self.holders), current, self.final, self.carried)

    # owners, outcomes, records -------------------------------------------------------------

    def _outcomes(self, observations: Sequence[Observation]) -> list[Outcome]:
        snap = self.snap
        outcomes: list[Outcome] = []
        # A record repeated in the batch ends as its last occurrence. When that is already the
        # stored version, the earlier occurrences change nothing either: re-ingesting is a no-op.
        last = {(obs.source, obs.source_id): obs.content_hash for obs in observations}
        settled = {
            k for k, h in last.items() if k in self.current and self.current[k].content_hash == h
        }
        for index, obs in enumerate(observations):
            issues = list(obs.issues)
            cur = self.current.get((obs.source, obs.source_id))
            named = obs.contact_id
            if named is not None and (refused := self._refuse_named(obs, cur)) is not None:
                outcomes.append(Outcome(index, REJECTED, None, obs.line, [*issues, refused]))
                continue
            # the record that says who this is: none when every key it had was unlinked from
            # its contact and it has no id of the source's own (its id is its content)
            lineage = None if cur is not None and unlinked(self.retracted, obs, cur) else cur
            if lineage is not None and (
                lineage.content_hash == obs.content_hash or (obs.source, obs.source_id) in settled
            ):
                outcomes.append(Outcome(index, UNCHANGED, lineage.contact_id, obs.line, issues))
                continue
            redirected_from = None
            if named is not None:
                owner = snap.named[named]
                if owner != named:
                    redirected_from = named
                    issues.append(_redirected(named, owner))
                    self.event(
                        owner,
                        "write_redirected",
                        source=obs.source,
                        data={"from": str(named), "to": str(owner)},
                    )
            elif lineage is not None:
                owner = lineage.contact_id
            else:
                owner = find_owner(obs, self.holders, self.people)
                if cur is not None and owner != cur.contact_id:
                    # the record version moves to the new owner: the contact it leaves is
                    # recomputed without it
                    self.batch_obs.setdefault(cur.contact_id, [])
            created = owner is None
            if owner is None:
                owner = uuid7()
                self.new_contacts.add(owner)
                self.people[owner] = Person(obs.first_name, obs.date_of_birth)
            else:
                # later rows of the batch are checked against what this one says of the owner,
                # as they would be in a later batch: a household stays apart either way
                person = self.people.get(owner) or Person(None, None)
                self.people[owner] = Person(
                    person.first_name or obs.first_name,
                    person.date_of_birth or obs.date_of_birth,
                )
            kept = self._kept_retractions(obs, lineage)
            self._link_keys(obs, owner, created, issues, kept)
            record = self._record(obs, owner, cur)
            self._carry_retractions(record, kept)
            self.current[(obs.source, obs.source_id)] = Current(
                record["id"], owner, record["version"], obs.content_hash, planned=record
            )
            self.batch_obs[owner].append(obs)
            kind = CREATED if created else (UPDATED if cur is not None else LINKED)
            outcomes.append(Outcome(index, kind, owner, obs.line, issues, redirected_from))
        return outcomes

    def _link_keys(
        self,
        obs: Observation,
        owner: uuid.UUID,
        created: bool,
        issues: list[FieldIssue],
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
                self.event(
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
            self.identifiers.append(
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
                self.event(
                    owner,
                    "identifier_linked",
                    source=obs.source,
                    data={"namespace": key.namespace, "value": key.value, "ordinal": ordinal},
                )

    def _kept_retractions(self, obs: Observation, lineage: Current | None) -> Retracted:
        """The unlinks a new version of a record keeps: those of the version it replaces
        whose value it still carries. A value the source changed (absent or different in that
        version) is new data, and so is a record of its own (no lineage)."""
        if lineage is None:
            return {}
        return still_retracted(self.retracted.get(lineage.id), (k.identity for k in obs.keys))

    def _carry_retractions(self, record: dict[str, Any], kept: Retracted) -> None:
        if not kept:
            return
        self.retracted[record["id"]] = self.carried[record["id"]] = kept
        self.retractions.extend(
            carried_retractions(
                organization_id=self.org_id, record_id=record["id"], kept=kept, now=self.now
            )
        )

    def shown(self, record: dict[str, Any]) -> dict[str, Any]:
        """A planned record's content as survivorship reads it: without its unlinked values."""
        kept = self.retracted.get(record["id"])
        return without(record["normalized"], set(kept)) if kept else record["normalized"]

    def _refuse_named(self, obs: Observation, cur: Current | None) -> FieldIssue | None:
        """Why a row naming its contact cannot be written there, if it cannot: the contact is
        erased (or unknown), or the row's source record belongs to another contact (moving it
        would leave that contact's fields and keys behind)."""
        assert obs.contact_id is not None
        target = self.snap.named.get(obs.contact_id)
        if target is None:
            status = self.snap.contacts.get(obs.contact_id, {}).get("status")
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

    def _record(self, obs: Observation, owner: uuid.UUID, cur: Current | None) -> dict[str, Any]:
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
        self.records.append(record)
        return record

    def event(self, contact_id: uuid.UUID, kind: str, **values: Any) -> None:
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


def _redirected(named: uuid.UUID, owner: uuid.UUID) -> FieldIssue:
    return FieldIssue(
        "CONTACT_REDIRECTED",
        "contact_id",
        f"contact {named} was merged into contact {owner}: written there",
    )
