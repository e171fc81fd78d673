"""The dedup benchmark's people: records with known ground truth and realistic corruption.

    .venv/bin/python bench/dedup/generate.py --records 20000 --seed 7 --out /tmp/people.jsonl

Each record is a dict of canonical import columns (first_name, last_name, email, phone,
date_of_birth, address_line1, city, region, postal_code) plus ``_entity`` (the person it is)
and ``_household`` (the household it belongs to). The same seed and size give the same
records. What is in them (rates are per duplicate record unless said otherwise):

* names drawn from Zipf-like lists (a few names are very common, most are rare), so exact
  name agreement means little for "Smith" and a lot for "Papadopoulos";
* about 35% of people have 1-3 more records: a nickname (William/Bill) 12%, a typo (insert,
  delete, substitute, swap letters) 9% first / 8% last name, OCR-like confusions (rn/m, cl/d,
  li/h, vv/w) 4%, an initial for the first name 4%, a missing first name 3%, first and last
  name swapped 4%, a double-barrelled surname 2%; the date of birth missing 20%, day and month
  transposed 6%, one digit wrong 6%, written DD/MM/YYYY or YYYYMMDD instead of ISO; the email
  missing 30%, another address 15%, another domain 5%, other case; the phone missing 30%,
  another number 12%, written five ways; the address missing 25%, moved house 10%, written
  differently ("12 Smith Street" / "12 smith st" / "Unit 3, 12 Smith St" / "3/12 Smith St"),
  postcode missing 5%; a few records are near-empty (a name only);
* households (about 12% of people live with another): same surname and address, a shared
  phone (60%) or email (35%), a different first name and date of birth; twins (same date of
  birth, different first name) and juniors (same first name, different date of birth) are
  among them: hard negatives that must never auto-merge.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

# bench/australia.py: data both generators use
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from australia import SUBURBS

VERSION = 1

FIRST_NAMES = """
William James John Robert Michael David Thomas Daniel Matthew Christopher Andrew Joseph
Anthony Richard Edward Benjamin Jonathan Nicholas Alexander Samuel Patrick Stephen Peter Mark
Paul Jack Oliver Noah Liam Lucas Henry Charlie Ethan Mason Harrison Ryan Nathan Lachlan Cooper
Riley Hunter Oscar Felix Hugo Louis Jacob Levi Isaac Archie Max Leo Hamish Angus Connor Dylan
Tyler Blake Kai Flynn Beau Scott Craig Darren Shane Glenn Wayne Gary Kevin Brian Graham Ian
Neil Gregory Trevor Mohammed Ahmed Omar Yusuf Hassan Wei Jun Hiroshi Kenji Arjun Rahul Ravi
Vikram Minh Duc Luca Marco Nikos Dimitri Jose
Elizabeth Katherine Margaret Jennifer Jessica Samantha Rebecca Patricia Victoria Susan
Charlotte Olivia Amelia Isla Mia Ava Grace Chloe Matilda Ella Sophie Harper Ruby Zoe Emily
Hannah Sarah Emma Lucy Georgia Jasmine Hazel Audrey Violet Florence Evelyn Scarlett Abigail
Madison Isabella Sofia Zara Alice Eleanor Maya Leah Imogen Phoebe Claire Rachel Michelle
Nicole Kylie Melissa Lisa Karen Julie Narelle Deborah Tracey Joanne Leanne Belinda Fiona
Natalie Danielle Megan Amy Laura Mary Barbara Helen Linda Christine Janet Wendy Robyn Fatima
Aisha Mei Priya Anjali Aditi Neha Anh Linh Huong Giulia Chiara Eleni Maria Siobhan Niamh
""".split()  # noqa: SIM905

LAST_NAMES = """
Smith Jones Williams Brown Wilson Taylor Johnson White Martin Anderson Thompson Nguyen Thomas
Walker Harris Lee Ryan Robinson Kelly King Davis Wright Evans Roberts Green Hall Wood Jackson
Clarke Patel Khan Lewis James Phillips Mitchell Turner Campbell Edwards Young Tran Murphy
Cooper Ward Morris Scott Moore Hughes OBrien McDonald Chen Wang Li Singh Kaur Papadopoulos
Rossi Russo Kowalski Muller Schmidt Dubois Silva Santos Yamamoto Kim Park Baker Carter Collins
Stewart Morgan Bell Murray Kennedy Graham Ross Watson Gray Johnston Hill Reid Marshall Ellis
Simpson Grant Russell Shaw Chapman Webb Palmer Fraser Hunt Hamilton Lloyd Price Bennett Wallace
Fisher Dunn Hayes Burke Walsh Byrne Quinn Doyle Gallagher OConnor ONeill Fitzgerald McKenzie
MacDonald McGregor Sullivan Lynch Barnes Holmes Knight Stevens Jenkins Harrison Lawrence Butler
Pham Le Huynh Hoang Vo Dang Bui Do Ngo Duong Zhang Liu Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu
Guo He Lin Luo Gao Sharma Gupta Kumar Shah Mehta Reddy Iyer Rao Nair Das Bose Ahmed Hussain
Rahman Ali Hassan Ibrahim Haddad Nasser Khoury Saleh Costa Ferreira Pereira Oliveira Rodrigues
Martins Fernandes Gomez Lopez Martinez Garcia Hernandez Romano Ricci Bruno Greco Esposito
Colombo Conti Georgiou Nikolaidis Popov Ivanov Novak Horvat Nowak Schneider Becker Hoffmann
Schulz Jansen Bakker Visser Smit Meijer Tanaka Suzuki Watanabe Ito Nakamura Kobayashi Sato
Choi Jung Kang Cho Yoon Boyd Fletcher Douglas Sinclair Ferguson Abernethy Blackwood Carmichael
Drummond Featherstone Galbraith Hollingsworth Kingsley Lockhart Montgomery Pemberton Rutherford
Stirling Thornton Underwood Vanderbilt Whitmore Ashworth Bradshaw Cartwright Dalrymple
""".split()  # noqa: SIM905

NICKNAMES = {
    "William": ["Bill", "Will", "Billy", "Liam"],
    "James": ["Jim", "Jimmy", "Jamie"],
    "John": ["Johnny", "Jack"],
    "Robert": ["Bob", "Rob", "Bobby"],
    "Michael": ["Mike", "Mick", "Mikey"],
    "David": ["Dave", "Davy"],
    "Thomas": ["Tom", "Tommy"],
    "Daniel": ["Dan", "Danny"],
    "Matthew": ["Matt", "Matty"],
    "Christopher": ["Chris", "Kit"],
    "Andrew": ["Andy", "Drew"],
    "Joseph": ["Joe", "Joey"],
    "Anthony": ["Tony"],
    "Richard": ["Rick", "Dick", "Richie"],
    "Edward": ["Ed", "Eddie", "Ted"],
    "Benjamin": ["Ben", "Benny"],
    "Jonathan": ["Jon", "Jonny"],
    "Nicholas": ["Nick", "Nicky"],
    "Alexander": ["Alex", "Alec", "Sandy"],
    "Samuel": ["Sam", "Sammy"],
    "Patrick": ["Pat", "Paddy"],
    "Stephen": ["Steve"],
    "Peter": ["Pete"],
    "Gregory": ["Greg"],
    "Elizabeth": ["Liz", "Beth", "Betty", "Eliza", "Lizzie"],
    "Katherine": ["Kate", "Kathy", "Katie", "Kat"],
    "Margaret": ["Maggie", "Peggy", "Meg", "Marge"],
    "Jennifer": ["Jen", "Jenny"],
    "Jessica": ["Jess", "Jessie"],
    "Samantha": ["Sam", "Sammy"],
    "Rebecca": ["Becky", "Bec"],
    "Patricia": ["Pat", "Patty", "Trish"],
    "Victoria": ["Vicky", "Tori"],
    "Susan": ["Sue", "Susie"],
    "Charlotte": ["Lottie", "Charlie"],
    "Olivia": ["Liv", "Livvy"],
    "Abigail": ["Abby"],
    "Isabella": ["Bella", "Izzy"],
    "Eleanor": ["Ellie", "Nora"],
    "Deborah": ["Deb", "Debbie"],
    "Christine": ["Chris", "Chrissy"],
    "Barbara": ["Barb"],
    "Madison": ["Maddie"],
}

STREETS = """
George Pitt King Queen Elizabeth Victoria Albert Church High Station Railway Park Bridge Main
Smith Hill Ocean Beach River Forest Wattle Banksia Acacia Jacaranda Waratah Eucalyptus Boronia
Macquarie Oxford Cambridge Stirling Hume Flinders Collins Bourke Swanston Chapel Glenferrie
Lakeside Ridge Valley Meadow Orchard Harbour Bay Cliff Spring Garden Grove Heath Moor Brook
""".split()  # noqa: SIM905
STREET_TYPES = [("Street", "St"), ("Road", "Rd"), ("Avenue", "Ave"), ("Parade", "Pde")]
STREET_TYPES += [("Crescent", "Cres"), ("Court", "Ct"), ("Drive", "Dr"), ("Place", "Pl")]
DOMAINS = ["example.com", "example.net", "example.org", "mail.example.com.au", "example.com.au"]
OCR = [("rn", "m"), ("m", "rn"), ("cl", "d"), ("d", "cl"), ("li", "h"), ("vv", "w"), ("w", "vv")]
OCR += [("o", "0"), ("l", "1"), ("e", "c"), ("n", "h")]


_ONSETS = "b c d f g h k l m n p r s t v w br ch dr gr kr pr st sh th tr".split()  # noqa: SIM905
_VOWELS = "a e i o u a e i o ai ea ou".split()  # noqa: SIM905
_CODAS = "n r s l t m nd rt ck ng ll ss th".split()  # noqa: SIM905
_ENDINGS = "son ton ley ford man er well wood ham by ridge field land stone".split()  # noqa: SIM905


def _syllables(rng: random.Random) -> str:
    parts = [rng.choice(_ONSETS), rng.choice(_VOWELS), rng.choice(_CODAS)]
    if rng.random() < 0.7:
        parts.append(rng.choice(_ENDINGS))
    else:
        parts += [rng.choice(_ONSETS), rng.choice(_VOWELS)]
    return "".join(parts).capitalize()


def _zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (i + 1) ** s for i in range(n)]


class People:
    """The generator's state: a seeded random source and the people made so far."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.first_names = FIRST_NAMES[:]
        self.last_names = LAST_NAMES[:]
        rng.shuffle(self.first_names)
        rng.shuffle(self.last_names)
        self.first_weights = _zipf_weights(len(self.first_names), 0.5)
        self.last_weights = _zipf_weights(len(self.last_names), 0.5)
        # the long tail: most surnames are rare (syllable-built, seeded)
        self.rare_last = sorted({_syllables(rng) for _ in range(30_000)})
        rng.shuffle(self.rare_last)
        self.person_counter = 0
        self.used_phones: set[str] = set()

    # a clean person -------------------------------------------------------------------------

    def first_name(self) -> str:
        return self.rng.choices(self.first_names, self.first_weights)[0]

    def last_name(self) -> str:
        if self.rng.random() < 0.45:
            return self.rng.choice(self.rare_last)
        return self.rng.choices(self.last_names, self.last_weights)[0]

    def dob(self) -> date:
        return date(1935, 1, 1) + timedelta(days=self.rng.randrange(0, 365 * 72))

    def phone(self) -> str:
        while True:
            number = "04" + "".join(self.rng.choices("0123456789", k=8))
            if number not in self.used_phones:
                self.used_phones.add(number)
                return number

    def email(self, first: str, last: str) -> str:
        rng = self.rng
        style = rng.random()
        local = f"{first}.{last}" if style < 0.4 else f"{first[0]}{last}"
        if style > 0.25:
            local += str(rng.randrange(1, 9999))
        return f"{local}@{rng.choice(DOMAINS)}".lower()

    def address(self) -> dict[str, str]:
        rng = self.rng
        suburb, state, postcode = rng.choice(SUBURBS)
        street, kind = rng.choice(STREETS), rng.choice(STREET_TYPES)
        line = f"{rng.randrange(1, 250)} {street} {kind[0]}"
        if rng.random() < 0.15:
            line = f"Unit {rng.randrange(1, 30)}, {line}"
        return {"address_line1": line, "city": suburb, "region": state, "postal_code": postcode}

    def person(self) -> dict:
        first, last = self.first_name(), self.last_name()
        self.person_counter += 1
        return {
            "first_name": first,
            "last_name": last,
            "date_of_birth": self.dob(),
            "email": self.email(first, last),
            "phone": self.phone(),
            **self.address(),
        }

    def household_member(self, of: dict) -> dict:
        rng = self.rng
        member = self.person()
        member["last_name"] = of["last_name"]
        for name in ("address_line1", "city", "region", "postal_code"):
            member[name] = of[name]
        if rng.random() < 0.6:
            member["phone"] = of["phone"]
        if rng.random() < 0.35:
            member["email"] = of["email"]
        kind = rng.random()
        junior = 0.12 <= kind < 0.2
        if kind < 0.12:  # twins
            member["date_of_birth"] = of["date_of_birth"]
        elif junior:  # same first name, a generation apart
            member["first_name"] = of["first_name"]
            shift = timedelta(days=rng.randrange(20 * 365, 40 * 365))
            later = of["date_of_birth"] + shift
            member["date_of_birth"] = later if later.year < 2010 else of["date_of_birth"] - shift
        while member["first_name"] == of["first_name"] and not junior:
            member["first_name"] = self.first_name()
        return member

    # corruption -----------------------------------------------------------------------------

    def typo(self, text: str) -> str:
        rng = self.rng
        if len(text) < 3:
            return text
        i = rng.randrange(1, len(text))
        kind = rng.random()
        if kind < 0.25:
            return text[:i] + text[i + 1 :]
        if kind < 0.5:
            return text[:i] + rng.choice("aeiourstln") + text[i:]
        if kind < 0.75:
            return text[:i] + rng.choice("aeiourstln") + text[i + 1 :]
        if i < len(text) - 1:
            return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        return text[:-1]

    def ocr(self, text: str) -> str:
        for wrong, right in self.rng.sample(OCR, len(OCR)):
            if wrong in text[1:]:
                i = text.index(wrong, 1)
                return text[:i] + right + text[i + len(wrong) :]
        return self.typo(text)

    def case(self, text: str) -> str:
        roll = self.rng.random()
        if roll < 0.1:
            return text.upper()
        if roll < 0.2:
            return text.lower()
        return text

    def dob_text(self, value: date) -> str:
        roll = self.rng.random()
        if roll < 0.5:
            return value.isoformat()
        if roll < 0.8:
            return f"{value.day:02d}/{value.month:02d}/{value.year}"
        return f"{value:%Y%m%d}"

    def phone_text(self, number: str) -> str:
        digits = number[1:]
        return self.rng.choice(
            [
                number,
                f"{number[:4]} {number[4:7]} {number[7:]}",
                f"+61{digits}",
                f"+61 {digits[:3]} {digits[3:6]} {digits[6:]}",
                f"({number[:2]}) {number[2:6]} {number[6:]}",
            ]
        )

    def street_text(self, line: str) -> str:
        rng = self.rng
        for full, short in STREET_TYPES:
            if line.endswith(" " + full) and rng.random() < 0.5:
                line = line[: -len(full)] + short
                break
        if line.startswith("Unit ") and rng.random() < 0.5:
            unit, _, rest = line[5:].partition(", ")
            line = f"{unit}/{rest}"
        return self.case(line)

    def render(self, person: dict, *, duplicate: bool) -> dict:
        """One record of ``person``: a first sighting is mostly clean, a duplicate is messy."""
        rng = self.rng
        p = person
        first, last, dob = p["first_name"], p["last_name"], p["date_of_birth"]
        if duplicate:
            roll = rng.random()
            if roll < 0.12 and first in NICKNAMES:
                first = rng.choice(NICKNAMES[first])
            elif roll < 0.21:
                first = self.typo(first)
            elif roll < 0.25:
                first = self.ocr(first)
            elif roll < 0.29:
                first = first[0] + ("." if rng.random() < 0.5 else "")
            elif roll < 0.32:
                first = ""
            roll = rng.random()
            if roll < 0.08:
                last = self.typo(last)
            elif roll < 0.12:
                last = self.ocr(last)
            elif roll < 0.14:
                last = f"{last}-{self.last_name()}"
            if rng.random() < 0.04:
                first, last = last, first
            roll = rng.random()
            if roll < 0.06 and dob.day <= 12 and dob.day != dob.month:
                dob = date(dob.year, dob.day, dob.month)
            elif roll < 0.12:
                dob = _digit_typo(rng, dob)
        record: dict = {"first_name": self.case(first), "last_name": self.case(last)}
        missing = (0.15, 0.25, 0.25, 0.2) if duplicate else (0.1, 0.2, 0.15, 0.15)
        if dob is not None and rng.random() >= missing[0]:
            record["date_of_birth"] = self.dob_text(dob)
        if rng.random() >= missing[1]:
            email = p["email"]
            if duplicate:
                roll = rng.random()
                if roll < 0.1:
                    email = self.email(p["first_name"], p["last_name"])
                elif roll < 0.15:
                    email = email.partition("@")[0] + "@" + rng.choice(DOMAINS)
            record["email"] = email.upper() if rng.random() < 0.1 else email
        if rng.random() >= missing[2]:
            phone = p["phone"]
            if duplicate and rng.random() < 0.08:
                phone = self.phone()
            record["phone"] = self.phone_text(phone)
        if rng.random() >= missing[3]:
            address = p
            if duplicate and rng.random() < 0.08:
                address = self.address()
            record["address_line1"] = self.street_text(address["address_line1"])
            record["city"] = address["city"]
            record["region"] = address["region"]
            if rng.random() >= 0.05:
                record["postal_code"] = address["postal_code"]
        if duplicate and rng.random() < 0.01:  # a near-empty record: a name only
            record = {"first_name": record["first_name"], "last_name": record["last_name"]}
        return record


def _digit_typo(rng: random.Random, value: date) -> date:
    text = f"{value:%Y%m%d}"
    for _ in range(20):
        i = rng.choice([2, 3, 4, 5, 6, 7])
        candidate = text[:i] + rng.choice("0123456789") + text[i + 1 :]
        try:
            typo = date(int(candidate[:4]), int(candidate[4:6]), int(candidate[6:]))
        except ValueError:
            continue
        if typo != value:
            return typo
    return value


def generate(records: int, *, seed: int = 7) -> Iterator[dict]:
    """``records`` records of people, duplicates and households, in a shuffled order."""
    people = People(seed)
    rng = people.rng
    out: list[dict] = []
    entity = 0
    recent: list[tuple[int, dict]] = []
    while len(out) < records:
        entity += 1
        if recent and rng.random() < 0.12:
            household, head = rng.choice(recent)
            person = people.household_member(head)
        else:
            household, person = entity, people.person()
            recent.append((household, person))
            if len(recent) > 500:
                recent.pop(0)
        roll = rng.random()
        copies = 1 + (roll < 0.35) + (roll < 0.12) + (roll < 0.04)
        for copy in range(copies):
            record = people.render(person, duplicate=copy > 0)
            if not record.get("first_name") and not record.get("last_name"):
                continue
            record["_entity"] = entity
            record["_household"] = household
            out.append(record)
    out = out[:records]
    rng.shuffle(out)
    for i, record in enumerate(out):
        record["external_id"] = f"r{i}"
        yield record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    out = args.out.open("w") if args.out else sys.stdout
    for record in generate(args.records, seed=args.seed):
        out.write(json.dumps(record, default=str) + "\n")


if __name__ == "__main__":
    main()
