"""The import benchmark's own data: a messy, realistic CSV of Australian people from a seed.

One command, from the repository root::

    .venv/bin/python bench/import/generate.py --rows 200000 --out /tmp/x.csv --seed 1

What the file holds (rates are of data rows; the same seed and rows give the same bytes):

* a header with aliases, odd case and punctuation ("First Name", "SURNAME", "E-mail", "DOB"...)
  and one unknown column ("Referral Source", kept in each contact's metadata);
* people with names from a built-in list (apostrophes, hyphens, particles, some accents),
  random name case ("SMITH", "olivia"), phones written seven ways ("0412 345 678",
  "+61412345678", "(04) 1234 5678", "61 412-345-678"...) plus some landlines, emails in mixed
  case, dates of birth as YYYY-MM-DD, DD/MM/YYYY or YYYYMMDD (some blank), addresses whose
  street may hold a comma ("Unit 3, 12 Smith St"), notes with quotes, commas and newlines;
* a "Client ID" (external id) on ~70% of people;
* ~1% rejected rows (no name, invalid email and invalid phone) and ~1% people whose email is
  invalid beside a valid phone (imported with a warning);
* ~5% household members: same surname, address and phone and/or email as an earlier person,
  a different first name and date of birth, their own Client ID (or none);
* ~3% in-file duplicates of an earlier row (half within 100 rows, half up to 20,000 back):
  exact copies, format variants (email case, phone and date format, stray spaces: they
  normalise to the same record) and, for about a third, a copy without the Client ID and with
  the name's case changed (a second record of the same person: it links to the first).

Every primary person's mobile and email are unique (affine permutations of the person
counter), so the expected outcome of a first import is known: about created = people +
household members, unchanged = most duplicates, linked = the id-less duplicates (plus the odd
household member whose first name is compatible and whose date of birth is missing),
rejected = the bad rows. The file is streamed: memory is bounded by a ring of recent people.
A ``<out>.meta.json`` beside the file records the parameters and the row counts per kind.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

# bench/australia.py: data both generators use
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from australia import SUBURBS

# bump when the output for a given seed and rows changes (run.py caches files by it)
VERSION = 1
HUBSPOT_ROW_LIMIT = 1_048_576

HEADER = [
    "Client ID",
    "First Name",
    "SURNAME",
    "E-mail",
    "Mobile",
    "DOB",
    "Street",
    "Suburb",
    "State",
    "Postcode",
    "Notes",
    "Referral Source",
]

FIRST_NAMES = """
Olivia Charlotte Amelia Isla Mia Ava Grace Chloe Willow Matilda Ella Sophie Harper Ruby Zoe
Evie Sienna Lily Aria Ivy Emily Hannah Sarah Jessica Emma Lucy Georgia Jasmine Hazel Frankie
Audrey Poppy Violet Florence Evelyn Scarlett Layla Elsie Maeve Billie Sadie Mila Stella Ivy
Abigail Madison Isabella Sofia Zara Alice Eleanor Maya Leah Imogen Phoebe Annabelle Bella
Claire Rebecca Rachel Michelle Nicole Kylie Melissa Lisa Karen Julie Kim Narelle Deborah Tracey
Joanne Leanne Belinda Fiona Natalie Danielle Kate Megan Amy Laura Samantha Katherine Mary
Patricia Margaret Elizabeth Barbara Susan Helen Jennifer Linda Christine Janet Wendy Robyn
Oliver Noah Jack William Leo Lucas Thomas Henry Charlie James Hudson Ethan Mason Harrison
Samuel Liam Alexander Max Isaac Archie Benjamin Daniel Joshua Ryan Matthew Nathan Lachlan
Cooper Riley Hunter Harvey Theodore Oscar Arlo Ezra Felix Hugo Louis Jacob Levi Elijah Xavier
Sebastian Patrick Connor Dylan Jordan Tyler Blake Kai Jaxon Flynn Beau Angus Hamish Fraser
Michael David John Peter Mark Andrew Paul Robert Stephen Anthony Christopher Richard Brett
Craig Darren Shane Glenn Wayne Dean Scott Gary Kevin Brian Graham Ian Neil Gregory Trevor
Mohammed Ahmed Ali Omar Fatima Aisha Yusuf Hassan Wei Jun Li Mei Xin Hui Hiroshi Yuki Kenji
Priya Arjun Rahul Anjali Deepak Sanjay Aditi Ravi Neha Vikram Aroha Tane Mere Nikau Anh Minh
Linh Thanh Duc Huong Sofia Luca Marco Giulia Alessandro Chiara Nikos Eleni Dimitri Maria Jose
Zoë Chloé Renée André José Søren Łukasz Siobhán Seán Niamh Aoife Eoin Ciarán Mary-Anne Jean-Luc
""".split()  # noqa: SIM905

LAST_NAMES = """
Smith Jones Williams Brown Wilson Taylor Johnson White Martin Anderson Thompson Nguyen Thomas
Walker Harris Lee Ryan Robinson Kelly King Davis Wright Evans Roberts Green Hall Wood Jackson
Clarke Patel Khan Lewis James Phillips Mitchell Turner Campbell Edwards Young Tran Murphy
Cooper Ward Morris Scott Moore Hughes O'Brien McDonald Chen Wang Li Singh Kaur Papadopoulos
Rossi Russo Kowalski Muller Schmidt Dubois Silva Santos Yamamoto Kim Park Baker Carter Collins
Stewart Morgan Bell Murray Kennedy Graham Ross Watson Gray Johnston Hill Reid Marshall Ellis
Simpson Grant Russell Shaw Chapman Webb Palmer Fraser Hunt Hamilton Lloyd Price Bennett Wallace
Fisher Dunn Hayes Burke Walsh Byrne Quinn Doyle Gallagher O'Connor O'Neill Fitzgerald McKenzie
MacDonald McGregor Sullivan Lynch Barnes Holmes Knight Stevens Jenkins Harrison Lawrence Butler
Pham Le Huynh Hoang Vo Dang Bui Do Ngo Duong Ly Zhang Liu Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu
Hu Guo He Lin Luo Gao Sharma Gupta Kumar Shah Mehta Reddy Iyer Rao Nair Das Bose Ahmed Hussain
Rahman Ali Hassan Ibrahim Haddad Nasser Khoury Saleh Costa Ferreira Pereira Oliveira Rodrigues
Martins Fernandes Gomez Lopez Martinez Garcia Hernandez Romano Ricci Bruno Greco Esposito
Colombo Conti Georgiou Nikolaidis Popov Ivanov Novak Horvat Nowak Wiśniewski Müller Schneider
Becker Hoffmann Schulz Jansen de Vries Bakker Visser Smit Meijer van der Berg van Dijk de Jong
Tanaka Suzuki Watanabe Ito Nakamura Kobayashi Sato Choi Jung Kang Cho Yoon Smith-Jones
Taylor-Brown Ngata Parata Tuhiwai Walker-Smith Boyd Fletcher Douglas Sinclair Ferguson
""".split()  # noqa: SIM905
# "de Vries", "van der Berg", "van Dijk", "de Jong" were split by the whitespace above
LAST_NAMES = [n for n in LAST_NAMES if n not in ("de", "van", "der")] + [
    "de Vries",
    "van der Berg",
    "van Dijk",
    "de Jong",
    "Da Silva",
    "St. John",
]

STREETS = """
George Pitt King Queen Elizabeth Victoria Albert Church High Station Railway Park Bridge Main
Smith Hill Ocean Beach River Forest Wattle Banksia Acacia Jacaranda Waratah Eucalyptus Boronia
Macquarie Oxford Cambridge Stirling Hume Flinders Collins Bourke Swanston Chapel Glenferrie
""".split()  # noqa: SIM905
STREET_TYPES = ("St", "Street", "Rd", "Road", "Ave", "Avenue", "Pde", "Cres", "Ct", "Dr", "Pl")
EMAIL_DOMAINS = (
    "example.com",
    "example.net",
    "example.org",
    "mail.example.com.au",
    "example.com.au",
    "bigpond.example.net.au",
)
REFERRALS = ("", "", "", "Google", "GP referral", "Friend", "Instagram", "Facebook", "Walk-in")
NOTES = (
    "",
    "",
    "",
    "",
    "",
    "",
    "Prefers morning appointments",
    'Prefers "Dr Nguyen", Tuesday mornings',
    "Allergic to penicillin, latex",
    'Called re: invoice #1042, "will pay Friday"',
    "Hard of hearing - call, don't text",
    "Referred by Dr. O'Connor",
    "Needs interpreter (Vietnamese)",
    "Moved from Brisbane, 2021",
    "Wheelchair access required",
    "Line one of a note\nand a second line, after a newline",
    "VIP; see file",
    "Do not SMS",
)
# mobiles 040x, 041x, 042x, 043x, 046x: every one is a valid AU mobile number
MOBILE_BLOCKS = ("0", "1", "2", "3", "6")
MOBILE_SPACE = len(MOBILE_BLOCKS) * 10**7
# landlines: area code + exchange prefixes that are valid AU fixed-line ranges
LANDLINE_BLOCKS = (
    "0292",
    "0293",
    "0295",
    "0296",
    "0298",
    "0398",
    "0395",
    "0390",
    "0738",
    "0733",
    "0892",
    "0893",
    "0882",
    "0881",
    "0262",
    "0362",
)
LANDLINE_SPACE = len(LANDLINE_BLOCKS) * 10**6
EMAIL_SPACE = 10**7
FIRST_DOB = date(1935, 1, 1)
DOB_SPAN = (date(2021, 12, 31) - FIRST_DOB).days

# probabilities per data row
P_REJECTED = 0.01
P_WARNING = 0.01
P_HOUSEHOLD = 0.05
P_DUPLICATE = 0.03
RING = 20_000


@dataclass(slots=True, frozen=True)
class Person:
    client_id: str
    first: str
    last: str
    email: str  # canonical (lower case) or deliberately invalid; "" for none
    phone: str  # national digits, "04xxxxxxxx" or "0Xxxxxxxxx"; "" for none
    dob: date | None
    street: str
    suburb: str
    state: str
    postcode: str
    notes: str
    referral: str
    row: tuple[str, ...]  # as first written


def _permute(k: int, space: int, a: int, c: int) -> int:
    """A bijection of 0..space-1 (``a`` coprime with ``space``): unique values per counter."""
    return (a * k + c) % space


class Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.seed = seed
        self.people = 0  # people given fresh identifiers (primary + warning rows)
        self.members = 0  # household members (fresh client ids)
        self.ring: deque[Person] = deque(maxlen=RING)
        self.counts = {
            "primary": 0,
            "warning": 0,
            "rejected": 0,
            "household": 0,
            "duplicate_exact": 0,
            "duplicate_variant": 0,
            "duplicate_no_id": 0,
            "with_client_id": 0,
        }
        # per-seed offsets keep different seeds from producing the same identifiers
        self._c_mobile = (seed * 7_919) % MOBILE_SPACE
        self._c_land = (seed * 104_729) % LANDLINE_SPACE
        self._c_email = (seed * 1_299_709) % EMAIL_SPACE

    # values ----------------------------------------------------------------------------------

    def _client_id(self) -> str:
        return f"P{100000 + self.people + self.members:07d}"

    def _mobile(self, k: int) -> str:
        n = _permute(k, MOBILE_SPACE, 7_368_787, self._c_mobile)
        return "04" + MOBILE_BLOCKS[n // 10**7] + f"{n % 10**7:07d}"

    def _landline(self, k: int) -> str:
        n = _permute(k, LANDLINE_SPACE, 9_999_991, self._c_land)
        return LANDLINE_BLOCKS[n // 10**6] + f"{n % 10**6:06d}"

    def _email(self, k: int, first: str, last: str) -> str:
        f = "".join(ch for ch in first.lower() if "a" <= ch <= "z") or "x"
        surname = "".join(ch for ch in last.lower() if "a" <= ch <= "z") or "x"
        n = _permute(k, EMAIL_SPACE, 3_333_337, self._c_email)
        pattern = self.rng.randrange(5)
        local = (
            f"{f}.{surname}{n}",
            f"{f}{surname}{n}",
            f"{f[0]}{surname}{n}",
            f"{surname}.{f}{n}",
            f"{f}_{surname}{n}",
        )[pattern]
        return f"{local}@{self.rng.choice(EMAIL_DOMAINS)}"

    def _case(self, name: str) -> str:
        r = self.rng.random()
        if r < 0.06:
            return name.upper()
        if r < 0.09:
            return name.lower()
        return name

    def _address(self) -> tuple[str, str, str, str]:
        rng = self.rng
        suburb, state, postcode = rng.choice(SUBURBS)
        street = f"{rng.randrange(1, 400)} {rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"
        r = rng.random()
        if r < 0.15:
            street = f"Unit {rng.randrange(1, 40)}, {street}"  # a comma: the field is quoted
        elif r < 0.2:
            street = f"{rng.randrange(1, 40)}/{street}"
        if rng.random() < 0.1:
            state = state.lower() if rng.random() < 0.5 else state.title()
        return street, suburb, state, postcode

    def _dob(self) -> date | None:
        if self.rng.random() < 0.05:
            return None
        return FIRST_DOB + timedelta(days=self.rng.randrange(DOB_SPAN))

    # rendering ---------------------------------------------------------------------------------

    def _phone_text(self, digits: str) -> str:
        if not digits:
            return ""
        r = self.rng.random()
        d = digits
        if d.startswith("04"):
            if r < 0.35:
                return f"{d[:4]} {d[4:7]} {d[7:]}"
            if r < 0.55:
                return "+61" + d[1:]
            if r < 0.70:
                return f"({d[:2]}) {d[2:6]} {d[6:]}"
            if r < 0.80:
                return f"61 {d[1:4]}-{d[4:7]}-{d[7:]}"
            if r < 0.90:
                return d
            if r < 0.97:
                return f"+61 {d[1:4]} {d[4:7]} {d[7:]}"
            return f"0061 {d[1:4]} {d[4:7]} {d[7:]}"
        if r < 0.4:
            return f"({d[:2]}) {d[2:6]} {d[6:]}"
        if r < 0.7:
            return f"{d[:2]} {d[2:6]} {d[6:]}"
        if r < 0.9:
            return f"+61 {d[1]} {d[2:6]} {d[6:]}"
        return d

    def _email_text(self, email: str) -> str:
        if not email or "@" not in email:
            return email
        r = self.rng.random()
        if r < 0.75:
            return email
        local, _, domain = email.partition("@")
        if r < 0.85:
            return ".".join(p[:1].upper() + p[1:] for p in local.split(".")) + "@" + domain
        if r < 0.95:
            return email.upper()
        return local + "@" + domain.title()

    def _dob_text(self, dob: date | None) -> str:
        if dob is None:
            return ""
        r = self.rng.random()
        if r < 0.4:
            return dob.isoformat()
        if r < 0.85:
            return f"{dob.day:02d}/{dob.month:02d}/{dob.year}"
        return f"{dob.year}{dob.month:02d}{dob.day:02d}"

    def _pad(self, value: str) -> str:
        # stray spaces around a value, as hand-edited spreadsheets have (the reader trims them)
        return f" {value} " if value and self.rng.random() < 0.02 else value

    def _render(self, p: Person) -> tuple[str, ...]:
        return (
            p.client_id,
            self._pad(p.first),
            self._pad(p.last),
            self._pad(self._email_text(p.email)),
            self._phone_text(p.phone),
            self._dob_text(p.dob),
            p.street,
            p.suburb,
            p.state,
            p.postcode,
            p.notes,
            p.referral,
        )

    # rows -------------------------------------------------------------------------------------

    def _person(self, *, invalid_email: bool = False) -> Person:
        rng = self.rng
        k = self.people
        first, last = self._case(rng.choice(FIRST_NAMES)), self._case(rng.choice(LAST_NAMES))
        client_id = self._client_id() if rng.random() < 0.7 else ""
        self.people += 1
        r = rng.random()
        has_phone, has_email = (
            (True, True) if r < 0.80 else ((True, False) if r < 0.92 else (False, True))
        )
        if invalid_email:
            has_phone, has_email = True, True
        phone = ""
        if has_phone:
            phone = self._landline(k) if rng.random() < 0.08 else self._mobile(k)
        email = self._email(k, first, last) if has_email else ""
        if invalid_email:
            local, _, domain = email.partition("@")
            email = rng.choice(
                (
                    f"{local}@{domain.split('.')[0]}",  # no dot in the domain
                    f"{local}@@{domain}",
                    f"{local.replace('.', ' ')}@{domain}",
                    f"{local}.{domain}",  # no @
                    f"{local}@{domain},",
                )
            )
        street, suburb, state, postcode = self._address()
        p = Person(
            client_id=client_id,
            first=first,
            last=last,
            email=email,
            phone=phone,
            dob=self._dob(),
            street=street,
            suburb=suburb,
            state=state,
            postcode=postcode,
            notes=rng.choice(NOTES),
            referral=rng.choice(REFERRALS),
            row=(),
        )
        return replace(p, row=self._render(p))

    def _household(self, base: Person) -> Person:
        rng = self.rng
        first = base.first
        while first.lower() == base.first.lower():
            first = self._case(rng.choice(FIRST_NAMES))
        r = rng.random()
        share_phone, share_email = (
            (True, False) if r < 0.6 else ((False, True) if r < 0.8 else (True, True))
        )
        if not base.phone:
            share_phone, share_email = False, True
        if not base.email or "@" not in base.email or "@@" in base.email:
            share_phone, share_email = True, False
        client_id = self._client_id() if rng.random() < 0.7 else ""
        self.members += 1
        dob = self._dob()
        while dob is not None and dob == base.dob:
            dob = self._dob()
        p = Person(
            client_id=client_id,
            first=first,
            last=base.last,
            email=base.email if share_email else "",
            phone=base.phone if share_phone else "",
            dob=dob,
            street=base.street,
            suburb=base.suburb,
            state=base.state,
            postcode=base.postcode,
            notes=rng.choice(NOTES),
            referral=rng.choice(REFERRALS),
            row=(),
        )
        return replace(p, row=self._render(p))

    def _duplicate(self, original: Person) -> tuple[str, ...]:
        rng = self.rng
        r = rng.random()
        if r < 0.35:
            self.counts["duplicate_exact"] += 1
            return original.row
        if r < 0.7 or not (original.phone or "@" in original.email):
            # same record written differently: normalises to the same content
            self.counts["duplicate_variant"] += 1
            return self._render(original)
        # re-keyed by hand: no Client ID, the name's case changed; links to the first record
        self.counts["duplicate_no_id"] += 1
        row = list(self._render(original))
        row[0] = ""
        row[1] = (
            original.first.upper()
            if original.first != original.first.upper()
            else original.first.title()
        )
        row[2] = (
            original.last.upper()
            if original.last != original.last.upper()
            else original.last.title()
        )
        return tuple(row)

    def _rejected(self) -> tuple[str, ...]:
        rng = self.rng
        street, suburb, state, postcode = self._address()
        return (
            self._client_id() if rng.random() < 0.5 else "",
            "",
            "",
            rng.choice(("n/a", "none", "unknown@", "@example.com", "test@test", "no email")),
            rng.choice(("12345", "000", "tbc", "n/a", "0400", "call reception")),
            "",
            street if rng.random() < 0.3 else "",
            suburb if rng.random() < 0.3 else "",
            state if rng.random() < 0.3 else "",
            postcode if rng.random() < 0.3 else "",
            rng.choice(("", "test row", "DELETE ME", "duplicate?, see above")),
            "",
        )

    def rows(self, n: int):
        rng = self.rng
        ring = self.ring
        for _ in range(n):
            r = rng.random()
            if r < P_REJECTED:
                self.counts["rejected"] += 1
                yield self._rejected()
                continue
            if r < P_REJECTED + P_WARNING:
                p = self._person(invalid_email=True)
                self.counts["warning"] += 1
            elif ring and r < P_REJECTED + P_WARNING + P_HOUSEHOLD:
                p = self._household(self._pick(ring))
                self.counts["household"] += 1
            elif ring and r < P_REJECTED + P_WARNING + P_HOUSEHOLD + P_DUPLICATE:
                yield self._duplicate(self._pick(ring))
                continue
            else:
                p = self._person()
                self.counts["primary"] += 1
            if p.client_id:
                self.counts["with_client_id"] += 1
            ring.append(p)
            yield p.row

    def _pick(self, ring: deque[Person]) -> Person:
        # half nearby (same import batch, usually), half anywhere in the ring
        if self.rng.random() < 0.5:
            return ring[-1 - self.rng.randrange(min(len(ring), 100))]
        return ring[self.rng.randrange(len(ring))]


def generate(rows: int, out: Path, *, seed: int) -> dict:
    """Write the file and its ``.meta.json``; returns the metadata."""
    gen = Generator(seed)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)  # RFC 4180, CRLF line ends, quotes only where needed
        writer.writerow(HEADER)
        batch: list[tuple[str, ...]] = []
        for row in gen.rows(rows):
            batch.append(row)
            if len(batch) == 10_000:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)
    tmp.replace(out)
    meta = {
        "version": VERSION,
        "seed": seed,
        "rows": rows,
        "bytes": out.stat().st_size,
        "columns": len(HEADER),
        "counts": gen.counts,
    }
    Path(str(out) + ".meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="data rows (header excluded)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    meta = generate(args.rows, args.out, seed=args.seed)
    seconds = time.perf_counter() - started
    print(
        f"{args.out}: {meta['rows']:,} rows, {meta['bytes'] / 1e6:.1f} MB in {seconds:.1f}s "
        f"{json.dumps(meta['counts'])}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
