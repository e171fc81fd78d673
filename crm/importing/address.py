"""Split a one-column address ("Unit 3, 12 Smith St, Bondi NSW 2026, Australia") sensibly."""

from __future__ import annotations

import re

_POSTCODE = re.compile(
    r"^(?P<rest>.*?)[\s,]*(?P<code>\d{4,6}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})$",
    re.IGNORECASE,
)
_REGION = re.compile(r"^(?P<city>.*?)\s+(?P<region>[A-Z]{2,3})$")
_COUNTRIES = {
    "australia": "Australia",
    "au": "Australia",
    "new zealand": "New Zealand",
    "nz": "New Zealand",
    "united kingdom": "United Kingdom",
    "uk": "United Kingdom",
    "usa": "United States",
    "united states": "United States",
    "us": "United States",
    "canada": "Canada",
    "ireland": "Ireland",
}


def split_address(value: str) -> dict[str, str]:
    """Structured parts of a free-text address; whatever cannot be placed stays in line 1/2."""
    parts = [" ".join(p.split()) for p in value.split(",")]
    parts = [p for p in parts if p]
    result: dict[str, str] = {}
    if not parts:
        return result
    if len(parts) > 1 and parts[-1].lower() in _COUNTRIES:
        result["country"] = _COUNTRIES[parts.pop().lower()]
    if len(parts) > 1:
        locality = parts.pop()
        match = _POSTCODE.match(locality)
        if match:
            result["postal_code"] = match.group("code").upper()
            locality = match.group("rest").strip()
        match = _REGION.match(locality)
        if match:
            result["region"] = match.group("region")
            locality = match.group("city").strip()
        if not locality and len(parts) > 1:
            locality = parts.pop()
        if locality:
            result["city"] = locality
    result["address_line1"] = parts[0]
    if len(parts) > 1:
        result["address_line2"] = ", ".join(parts[1:])
    return result
