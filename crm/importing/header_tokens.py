"""Reading a header as words: ``Client First Name``, ``Mobile Ph``, ``PhoneWork``, ``D.O.B.``.

A header that is not an exact alias (``columns``) is split into words (spaces, punctuation,
camelCase, digits), common abbreviations are spelled out (``ph`` -> phone, ``mob`` ->
mobile), and words that only say whose value it is (client, patient, customer...) are
dropped. What is left is matched to a field, with how sure the match is:

- ``TOKENS`` (0.9): what is left is an alias (``Client First Name`` -> ``firstname``), or
  phone words with a kind (``Home Ph``, ``Phone (Mobile)``, ``PhoneWork``).
- ``LOOKS_LIKE`` (0.5): a field's word with words that are not understood, or words that say
  the value belongs to someone else (``Emergency Contact Phone``, ``Referrer Email``): the
  column is not imported as that field; a real import asks for a decision (--map or --yes).
- ``KNOWN_EXTRA``: a field's word qualified by a word that says it is not that field
  (``Preferred First Name``, ``Middle Name``, ``Fax``): metadata, without asking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

TOKENS = 0.9
LOOKS_LIKE = 0.5

# phone kinds, in the order the contact's primary phone is chosen (mobile first)
MOBILE, GENERIC, HOME, WORK, OTHER = "mobile", "phone", "home", "work", "other"
PHONE_KINDS = (MOBILE, GENERIC, HOME, WORK, OTHER)

_SPLIT_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")
_WORD = re.compile(r"[a-z0-9]+")

# one written word that is two
_COMPOUNDS: dict[str, tuple[str, ...]] = {
    "firstname": ("first", "name"),
    "lastname": ("last", "name"),
    "givenname": ("given", "name"),
    "familyname": ("family", "name"),
    "fullname": ("full", "name"),
    "homephone": ("home", "phone"),
    "workphone": ("work", "phone"),
    "mobilephone": ("mobile", "phone"),
    "cellphone": ("mobile", "phone"),
    "phonenumber": ("phone", "number"),
    "mobilenumber": ("mobile", "number"),
    "mobileno": ("mobile", "number"),
    "phoneno": ("phone", "number"),
    "dateofbirth": ("date", "of", "birth"),
    "birthdate": ("birth", "date"),
    "emailaddress": ("email", "address"),
    "zipcode": ("postcode",),
    "postalcode": ("postcode",),
    "afterhours": ("home",),
    "businesshours": ("work",),
}
# abbreviations and synonyms, to one spelling
_WORDS: dict[str, str] = {
    "ph": "phone",
    "phn": "phone",
    "tel": "phone",
    "tele": "phone",
    "telephone": "phone",
    "phones": "phone",
    "landline": "phone",
    "mob": "mobile",
    "mobi": "mobile",
    "cell": "mobile",
    "cellular": "mobile",
    "no": "number",
    "num": "number",
    "nbr": "number",
    "nr": "number",
    "ah": "home",
    "house": "home",
    "residence": "home",
    "residential": "home",
    "evening": "home",
    "bh": "work",
    "business": "work",
    "office": "work",
    "daytime": "work",
    "alt": "other",
    "alternate": "other",
    "alternative": "other",
    "secondary": "other",
    "second": "other",
    "additional": "other",
    "e": "e",
    "mail": "email",
    "emails": "email",
    "addr": "address",
    "zip": "postcode",
    "pcode": "postcode",
    "dt": "date",
    "birthday": "dob",
    "bday": "dob",
    "born": "dob",
    "forename": "given",
    "forenames": "given",
    "christian": "given",
    "town": "city",
}
# words that only say whose value it is, or nothing at all
NOISE = frozenset(
    {
        "client",
        "clients",
        "patient",
        "patients",
        "customer",
        "customers",
        "contact",
        "member",
        "person",
        "owner",
        "primary",
        "main",
        "default",
        "personal",
        "private",
        "the",
        "your",
        "my",
        "s",
        "record",
        "details",
        "info",
    }
)
# the value belongs to someone else (or to an animal): never the contact's own field
OTHER_PARTY = frozenset(
    {
        "emergency",
        "referrer",
        "referring",
        "doctor",
        "gp",
        "guardian",
        "parent",
        "mother",
        "father",
        "spouse",
        "partner",
        "kin",
        "nok",
        "invoice",
        "billing",
        "insurer",
        "insurance",
        "employer",
        "practitioner",
        "animal",
        "pet",
        "vet",
        "shipping",
    }
)
# a qualifier saying the value is not the field its other words name
NOT_THE_FIELD = frozenset(
    {
        "preferred",
        "middle",
        "maiden",
        "nickname",
        "nick",
        "previous",
        "former",
        "fax",
        "title",
        "company",
        "marketing",
        "accepts",
        "consent",
        "opt",
        "verified",
        "bounced",
        "unsubscribed",
        "created",
        "updated",
        "modified",
        "ip",
    }
)
# a field's own word: a header holding one of them, with words not understood, looks like it
KEY_WORDS: dict[str, str] = {
    "email": "email",
    "phone": "phone",
    "mobile": "phone",
    "name": "name",
    "given": "first_name",
    "surname": "last_name",
    "dob": "date_of_birth",
    "birth": "date_of_birth",
    "street": "address_line1",
    "address": "address",
    "suburb": "city",
    "postcode": "postal_code",
    "whatsapp": "whatsapp",
    "instagram": "instagram",
    "facebook": "facebook",
}
_PHONE_WORDS = frozenset({"phone", "mobile"})
_KIND_WORDS = {"mobile": MOBILE, "home": HOME, "work": WORK, "other": OTHER}
# headers of a known shape that no field holds
_NOT_A_FIELD = frozenset({"address3", "address4", "addressline3", "addressline4"})
_FILLER = frozenset({"number", "of", "date", "1", "01"})


@dataclass(frozen=True, slots=True)
class HeaderReading:
    """What a header's words say: a field (or a phone kind), how sure, and why."""

    field: str | None
    confidence: float
    phone_kind: str | None = None
    looks_like: str | None = None
    note: str | None = None
    quiet: bool = False


def words(header: str) -> tuple[str, ...]:
    """A header's words, spelled one way: "Mobile Ph" -> ("mobile", "phone")."""
    text = _SPLIT_CAMEL.sub(" ", header).lower()
    raw = _WORD.findall(text)
    joined: list[str] = []
    letters = ""
    for word in raw:  # single letters in a row are one word: "D.O.B." -> "dob"
        if len(word) == 1 and word.isalpha():
            letters += word
            continue
        if letters:
            joined.append(letters)
            letters = ""
        joined.append(word)
    if letters:
        joined.append(letters)
    if joined[:2] == ["e", "mail"]:
        joined[:2] = ["email"]
    out: list[str] = []
    for word in joined:
        for part in _COMPOUNDS.get(word, (word,)):
            out.append(_WORDS.get(part, part))
    return tuple(out)


@lru_cache(maxsize=4096)
def read_header(header: str, lookup: tuple[tuple[str, str], ...]) -> HeaderReading:
    """Match a header's words to a field; ``lookup`` is (squashed alias, field) pairs."""
    aliases = dict(lookup)
    all_words = words(header)
    core = [w for w in all_words if w not in NOISE]
    if not core:
        return HeaderReading(None, 0.0)
    keyed = [KEY_WORDS[w] for w in core if w in KEY_WORDS]
    if any(w in OTHER_PARTY for w in core):
        if keyed:
            owner = next(w for w in core if w in OTHER_PARTY)
            return HeaderReading(
                None,
                LOOKS_LIKE,
                looks_like=keyed[0],
                note=f"looks like {keyed[0]}, of someone else ({owner})",
            )
        return HeaderReading(None, 0.0)
    if any(w in NOT_THE_FIELD for w in core) or "".join(core) in _NOT_A_FIELD:
        return HeaderReading(None, 0.0, quiet=True)
    if core[0] == "address" and len(core) > 1 and core[1] != "line":
        # "Default Address City" (Shopify): a part of the address; its phone is another one
        part = _read_core(core[1:], aliases)
        if part.field is not None:
            if part.phone_kind is not None:
                return HeaderReading("phone", TOKENS, phone_kind=OTHER)
            return part
    return _read_core(core, aliases)


def _read_core(core: list[str], aliases: dict[str, str]) -> HeaderReading:
    keyed = [KEY_WORDS[w] for w in core if w in KEY_WORDS]
    if kind := _phone_kind(core):
        return HeaderReading("phone", TOKENS, phone_kind=kind)
    for candidate in ("".join(core), "".join(w for w in core if w not in _FILLER)):
        if (field := aliases.get(candidate)) is not None:
            return HeaderReading(field, TOKENS)
    # every word on its own names the same field ("State/Region", "Town City")
    single = {aliases.get(w) for w in core if w not in _FILLER}
    if len(single) == 1 and None not in single:
        return HeaderReading(single.pop(), TOKENS)
    if keyed:
        return HeaderReading(None, LOOKS_LIKE, looks_like=keyed[0], note=f"looks like {keyed[0]}")
    return HeaderReading(None, 0.0)


def _phone_kind(core: list[str]) -> str | None:
    """The phone kind when the words are phone words, kind words and fillers only."""
    if not any(w in _PHONE_WORDS for w in core):
        return None
    kind = MOBILE if "mobile" in core else None
    for word in core:
        if word in _PHONE_WORDS or word in _FILLER:
            continue
        if word in _KIND_WORDS:
            kind = kind or _KIND_WORDS[word]
        elif word.isdigit():
            kind = kind or OTHER  # "Phone 2"
        else:
            return None
    return kind or GENERIC
