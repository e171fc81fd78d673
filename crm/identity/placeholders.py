"""Values people type for "no value": ``n/a``, ``none``, ``-``, ``unknown``, ``0``...

An import reads them as empty cells: not invalid values (no warning), and never an identity
key or a name.
"""

from __future__ import annotations

PLACEHOLDERS = frozenset(
    {
        "n/a",
        "n.a.",
        "n.a",
        "none",
        "nil",
        "null",
        "-",
        "--",
        "---",
        ".",
        "?",
        "unknown",
        "unk",
        "not known",
        "not provided",
        "not given",
        "tba",
        "tbc",
        "0",
        "#n/a",
    }
)
# the first characters of the placeholders, to decide most cells on one set lookup
PLACEHOLDER_STARTS = frozenset(p[0] for p in PLACEHOLDERS) | frozenset(
    p[0].upper() for p in PLACEHOLDERS
)
_LONGEST = max(len(p) for p in PLACEHOLDERS)


def is_placeholder(value: str) -> bool:
    """Whether a (stripped) cell says "no value" rather than giving one."""
    return (
        len(value) <= _LONGEST and value[:1] in PLACEHOLDER_STARTS and value.lower() in PLACEHOLDERS
    )
