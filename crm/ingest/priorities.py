"""Which source wins a field: PMS > direct communication > CSV import > social."""

from __future__ import annotations

from collections.abc import Mapping

PMS = 40
DIRECT = 30
CSV = 20
SOCIAL = 10
# A manual edit beats every observation older than it and every newer one of a source at or
# below this level, so only a newer PMS observation replaces it.
MANUAL = 35

_CLASSES: dict[str, int] = {
    "cliniko": PMS,
    "gentu": PMS,
    "halaxy": PMS,
    "medirecords": PMS,
    "pms": PMS,
    "whatsapp": DIRECT,
    "sms": DIRECT,
    "phone": DIRECT,
    "email": DIRECT,
    "chatwoot": DIRECT,
    "careportals": DIRECT,
    "webform": DIRECT,
    "website": DIRECT,
    "pos": DIRECT,
    "api": DIRECT,
    "csv": CSV,
    "import": CSV,
    "instagram": SOCIAL,
    "facebook": SOCIAL,
    "social": SOCIAL,
    "manual": MANUAL,
}

MANUAL_SOURCE = "manual"


def source_priority(source: str, overrides: Mapping[str, int] | None = None) -> int:
    """The priority of ``source`` (``cliniko``, ``csv:clinic-a``...): higher wins."""
    name = source.lower()
    if overrides and name in overrides:
        return int(overrides[name])
    base = name.split(":", 1)[0]
    if overrides and base in overrides:
        return int(overrides[base])
    return _CLASSES.get(base, CSV)
