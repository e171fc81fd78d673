"""What the pipeline says of each observation it was given."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from crm.ingest.observation import FieldIssue

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
LINKED = "linked"
REJECTED = "rejected"


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
