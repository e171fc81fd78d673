"""Field choices of a manual merge: "keep this contact's first name".

Each choice names a field and a contact of the merge. It is recorded as a manual decision:
a ``manual`` source record on the survivor (``source_id`` ``merge:<merge id>``) holding the
chosen contact's value as it was when merged, observed at the merge. Survivorship treats it as
any manual edit (``crm/ingest/survivorship.py``): it holds against every older observation
and every newer one of a source at or below manual priority, until a newer observation from a
higher-priority source (a PMS) says otherwise. One record per merged contact (its merge's
undo data names it), with the choices naming that contact or the survivor: unmerging one
contact takes back its record only, and what was chosen for the others still holds.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from crm.errors import ErrorCode, ServiceError
from crm.ingest.priorities import MANUAL_SOURCE
from crm.merging.requests import Request
from crm.merging.rows import jsonable
from crm.models import SourceRecord, uuid7
from crm.models.base import parse_uuid

ADDRESS = ("address_line1", "address_line2", "city", "region", "postal_code", "country")
# a choosable field (Contact's name for it) -> the contact columns it takes
CHOOSABLE: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name",),
    "last_name": ("last_name",),
    "email": ("email",),
    "phone": ("phone",),
    "date_of_birth": ("date_of_birth",),
    "address": ADDRESS,
}
FIELD = "field_choices"
SOURCE_RECORDS = SourceRecord.__table__


def parse_choices(choices: Iterable[Any] | None, request: Request) -> dict[str, uuid.UUID]:
    """``(field, contact_id)`` pairs (or objects with those attributes, or mappings) as
    field -> contact; the field in Contact's snake_case or camelCase."""
    parsed: dict[str, uuid.UUID] = {}
    for choice in choices or ():
        field, contact = _unpack(choice)
        name = _snake(str(field))
        if name not in CHOOSABLE:
            raise ServiceError(
                ErrorCode.INVALID_INPUT,
                f"{str(field)[:40]!r} cannot be chosen; choose one of "
                + ", ".join(_camel(n) for n in CHOOSABLE),
                field=FIELD,
            )
        contact_id = parse_uuid(contact)
        if contact_id is None or contact_id not in request.members:
            raise ServiceError(
                ErrorCode.INVALID_INPUT,
                f"the {_camel(name)} choice names a contact that is not in this merge",
                field=FIELD,
            )
        if parsed.get(name, contact_id) != contact_id:
            raise ServiceError(
                ErrorCode.INVALID_INPUT, f"{_camel(name)} is chosen twice", field=FIELD
            )
        parsed[name] = contact_id
    return parsed


def check_values(request: Request, rows: Mapping[uuid.UUID, Mapping[str, Any]]) -> None:
    """A chosen contact must have a value for the field (an empty one cannot be kept)."""
    for name, contact_id in request.choices.items():
        if all(rows[contact_id][c] in (None, "") for c in CHOOSABLE[name]):
            raise ServiceError(
                ErrorCode.INVALID_INPUT,
                f"contact {contact_id} has no {_camel(name)} to keep",
                field=FIELD,
            )


def choice_record(
    request: Request,
    *,
    merged_id: uuid.UUID,
    rows: Mapping[uuid.UUID, Mapping[str, Any]],
    organization_id: uuid.UUID,
    merge_id: uuid.UUID,
    now: datetime,
) -> dict[str, Any] | None:
    """The manual source record for the choices this merge carries (those naming the merged
    contact or the survivor), values as the contacts had them before the group merged; None
    when there are none."""
    mine = {
        name: contact
        for name, contact in request.choices.items()
        if contact in (merged_id, request.survivor_id)
    }
    if not mine:
        return None
    fields: dict[str, Any] = {}
    for name, contact in mine.items():
        for column in CHOOSABLE[name]:
            value = rows[contact][column]
            if value not in (None, ""):
                fields[column] = jsonable(value)
    normalized = {"fields": fields, "keys": []}
    digest = hashlib.sha256(
        json.dumps(normalized, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return {
        "id": uuid7(),
        "organization_id": organization_id,
        "contact_id": request.survivor_id,
        "source_system": MANUAL_SOURCE,
        "source_id": f"merge:{merge_id}",
        "source_id_given": False,
        "version": 1,
        "is_current": True,
        "content_hash": digest,
        "payload_hash": None,
        "payload": {
            "merge_id": str(merge_id),
            "field_choices": {_camel(n): str(c) for n, c in sorted(mine.items())},
        },
        "normalized": normalized,
        "observed_at": now,
        "received_at": now,
        "import_job_id": None,
    }


def _unpack(choice: Any) -> tuple[Any, Any]:
    if isinstance(choice, Mapping):
        return choice.get("field"), choice.get("contact_id", choice.get("contactId"))
    if isinstance(choice, tuple | list) and len(choice) == 2:
        return choice[0], choice[1]
    return getattr(choice, "field", None), getattr(choice, "contact_id", None)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
