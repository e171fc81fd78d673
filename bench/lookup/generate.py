"""The benchmark's own data: N synthetic Australian people, reproducible from a seed.

Each person has a unique Australian mobile (``04xx xxx xxx``), a unique email, a name, a date
of birth and an external id, i.e. the raw dict a CSV import hands to
``crm.ingest.build_observation``. Phones are checked with ``phonenumbers`` so every one is a
valid AU mobile (an invalid one would be dropped by the pipeline and never found).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import phonenumbers

FIRST_NAMES = [
    "Olivia",
    "Charlotte",
    "Amelia",
    "Isla",
    "Mia",
    "Ava",
    "Grace",
    "Chloe",
    "Willow",
    "Matilda",
    "Ella",
    "Sophie",
    "Harper",
    "Ruby",
    "Zoe",
    "Evie",
    "Sienna",
    "Lily",
    "Aria",
    "Ivy",
    "Emily",
    "Hannah",
    "Sarah",
    "Jessica",
    "Emma",
    "Lucy",
    "Georgia",
    "Ruby",
    "Jasmine",
    "Oliver",
    "Noah",
    "Jack",
    "William",
    "Leo",
    "Lucas",
    "Thomas",
    "Henry",
    "Charlie",
    "James",
    "Hudson",
    "Ethan",
    "Mason",
    "Harrison",
    "Samuel",
    "Liam",
    "Alexander",
    "Max",
    "Isaac",
    "Archie",
    "Benjamin",
    "Daniel",
    "Joshua",
    "Ryan",
    "Matthew",
    "Nathan",
    "Lachlan",
    "Cooper",
    "Riley",
    "Mohammed",
    "Wei",
    "Priya",
    "Arjun",
    "Mei",
    "Hiroshi",
    "Aroha",
    "Tane",
    "Anh",
    "Minh",
    "Fatima",
    "Omar",
    "Sofia",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Williams",
    "Brown",
    "Wilson",
    "Taylor",
    "Johnson",
    "White",
    "Martin",
    "Anderson",
    "Thompson",
    "Nguyen",
    "Thomas",
    "Walker",
    "Harris",
    "Lee",
    "Ryan",
    "Robinson",
    "Kelly",
    "King",
    "Davis",
    "Wright",
    "Evans",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Patel",
    "Khan",
    "Lewis",
    "James",
    "Phillips",
    "Mitchell",
    "Turner",
    "Campbell",
    "Edwards",
    "Young",
    "Tran",
    "Murphy",
    "Cooper",
    "Ward",
    "Morris",
    "Scott",
    "Moore",
    "Hughes",
    "O'Brien",
    "McDonald",
    "Chen",
    "Wang",
    "Li",
    "Singh",
    "Kaur",
    "Papadopoulos",
    "Rossi",
    "Russo",
    "Kowalski",
    "Muller",
    "Schmidt",
    "Dubois",
    "Silva",
    "Santos",
    "Yamamoto",
    "Kim",
    "Park",
]
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com.au")
MOBILE_PREFIXES = ("040", "041", "042", "043", "044", "045", "046", "047", "048", "049")


@dataclass(frozen=True, slots=True)
class Person:
    index: int
    first_name: str
    last_name: str
    email: str
    mobile: str  # the 10 national digits, "04xxxxxxxx"
    date_of_birth: date
    external_id: str

    @property
    def e164(self) -> str:
        return "+61" + self.mobile[1:]

    def raw(self) -> dict[str, str]:
        """The raw record in canonical CSV column names (phone in the usual local format)."""
        m = self.mobile
        return {
            "external_id": self.external_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "phone": f"{m[:4]} {m[4:7]} {m[7:]}",
            "date_of_birth": self.date_of_birth.isoformat(),
        }


def _valid_mobile(digits: str) -> bool:
    number = phonenumbers.parse(digits, "AU")
    return phonenumbers.is_valid_number(number)


def people(n: int, *, seed: int = 20261121) -> Iterator[Person]:
    """``n`` distinct people; the same ``seed`` gives the same people in the same order."""
    rng = random.Random(seed)
    seen_mobiles: set[str] = set()
    first_dob = date(1930, 1, 1)
    dob_span = (date(2015, 12, 31) - first_dob).days
    for i in range(n):
        while True:
            mobile = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**7):07d}"
            if mobile not in seen_mobiles and _valid_mobile(mobile):
                seen_mobiles.add(mobile)
                break
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower().replace("'", "")
        yield Person(
            index=i,
            first_name=first,
            last_name=last,
            email=f"{local}.{i}@{rng.choice(EMAIL_DOMAINS)}",
            mobile=mobile,
            date_of_birth=first_dob + timedelta(days=rng.randrange(dob_span)),
            external_id=f"bench-{i:07d}",
        )


def human_phone(mobile: str, style: int) -> str:
    """``mobile`` ("04xxxxxxxx") written the way people write it: three styles."""
    m = mobile
    if style == 0:
        return f"+61 {m[1:4]} {m[4:7]} {m[7:]}"
    if style == 1:
        return f"{m[:4]} {m[4:7]} {m[7:]}"
    return f"({m[:2]}) {m[2:6]} {m[6:]}"
