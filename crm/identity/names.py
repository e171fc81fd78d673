"""Personal names: cleaning for storage, splitting a full name, and a key for comparing."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from crm.identity.errors import ErrorCode, IdentityError

MAX_NAME_LENGTH = 100
_BAD_CATEGORIES = frozenset({"Cc", "Cs"})
# generational suffixes stay with the surname: "John Smith Jr" -> ("John", "Smith Jr")
_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
# lower-case surname particles: "Anne van der Berg" -> ("Anne", "van der Berg")
_PARTICLES = frozenset(
    {"van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "dos", "das", "le", "la"}
)

# Latin letters that NFKD leaves whole but people write without the mark ("Łukasz", "Søren")
_UNDECOMPOSABLE = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "ħ": "h",
        "\u0131": "i",
        "þ": "th",
        "æ": "ae",
        "œ": "oe",
    }
)


def clean_name(value: str | None) -> str | None:
    """The name NFC-normalised with whitespace collapsed, None when empty, else INVALID_NAME."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid("a name must be text")
    if not value.isascii():
        value = unicodedata.normalize("NFC", value)
    text = " ".join(value.split())
    if not text:
        return None
    # Cf (format) characters stay: zero-width non-joiners are part of Persian and Indic names
    if not text.isprintable() and any(unicodedata.category(ch) in _BAD_CATEGORIES for ch in text):
        raise _invalid("a name cannot contain control characters")
    if len(text) > MAX_NAME_LENGTH:
        raise _invalid(f"a name is at most {MAX_NAME_LENGTH} characters")
    return text


def split_full_name(value: str) -> tuple[str | None, str | None]:
    """(first, last): "Mary Anne Smith" splits on the last space, "Smith, Mary" on the comma."""
    if not isinstance(value, str):
        return None, None
    if "," in value:
        last, _, first = value.partition(",")
        return _or_none(first), _or_none(last)
    words = value.split()
    if len(words) < 2:
        return _or_none(value), None
    cut = len(words) - 1
    if words[cut].lower() in _SUFFIXES and cut > 1:
        cut -= 1
    while cut > 1 and words[cut - 1] in _PARTICLES:
        cut -= 1
    return " ".join(words[:cut]), " ".join(words[cut:])


@lru_cache(maxsize=65536)
def name_key(value: str | None) -> str:
    """A comparison key: case-folded, accents stripped, letters only ("" for no name)."""
    if not value:
        return ""
    if value.isascii():
        return "".join(filter(str.isalpha, value.lower()))
    # compatibility caseless form (Unicode D146): full-width and styled letters fold too
    folded = unicodedata.normalize("NFKD", value.casefold()).casefold()
    decomposed = unicodedata.normalize("NFKD", folded).translate(_UNDECOMPOSABLE)
    # combining accents (category Mn) are not letters, so filtering drops them too
    return "".join(filter(str.isalpha, decomposed))


def _or_none(text: str) -> str | None:
    return " ".join(text.split()) or None


def _invalid(message: str) -> IdentityError:
    return IdentityError(ErrorCode.INVALID_NAME, message, field="name")
