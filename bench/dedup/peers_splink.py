"""Splink's side of the peer benchmark: DuckDB backend, trained without labels.

The same records and columns as our import gets, with the light cleaning Splink's tutorials
do (trim, lower case, empty as null, dates of birth written as ISO where they parse, a phone
as its digits). The model, by the columns a data set has:

* first and last name: ``NameComparison`` (Jaro-Winkler levels), term-frequency adjusted;
* date of birth: ``DateOfBirthComparison`` (exact, Damerau-Levenshtein on the text, then
  within a month, a year, ten years; a date that does not parse is compared as text);
* address line 1 and suburb/city: ``LevenshteinAtThresholds``; postcode: ``ExactMatch``, term
  frequency adjusted; email: ``EmailComparison``; phone: ``ExactMatch``. Address line 2 and
  region (state) are left out, as Splink's own Febrl demos leave them out.

Blocking rules for the predictions: first + last name, last name + date of birth, first name +
date of birth, date of birth + postcode, postcode + the first two letters of the last name,
address line 1 + postcode, email, phone (those the data set has). Training: the probability
that two records match from deterministic rules (first + last name + date of birth, email)
with recall 0.7, u by random sampling (``--splink-max-pairs``, default 1e7, seed 1), m by EM
in two sessions (blocked on date of birth, then on first + last name), as the Splink
tutorials do. Then every blocked pair is scored (no threshold): the pair completeness of the
blocking is the share of true pairs among them, and the metrics are computed at any threshold.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import date

from peers_data import Dataset

_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def clean_dob(value: str, *, day_first: bool = True) -> str | None:
    """ISO date where the text parses (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY), else the text."""
    text = value.strip()
    if not text:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text).isoformat()
        if re.fullmatch(r"\d{8}", text):
            return date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
        if match := _DMY.match(text):
            a, b, year = int(match[1]), int(match[2]), int(match[3])
            day, month = (a, b) if day_first else (b, a)
            return date(year, month, day).isoformat()
    except ValueError:
        pass
    return text


def frame(dataset: Dataset):
    import pandas as pd

    def text(value: str) -> str | None:
        value = " ".join((value or "").split()).lower()
        return value or None

    rows = []
    for r in dataset.records:
        rows.append(
            {
                "unique_id": r["external_id"],
                "first_name": text(r.get("first_name", "")),
                "last_name": text(r.get("last_name", "")),
                "dob": clean_dob(r.get("date_of_birth", ""), day_first=dataset.region != "US"),
                "address_line1": text(r.get("address_line1", "")),
                "city": text(r.get("city", "")),
                "postal_code": text(r.get("postal_code", "")),
                "email": text(r.get("email", "")),
                "phone": "".join(filter(str.isdigit, r.get("phone", ""))) or None,
            }
        )
    df = pd.DataFrame(rows)
    # drop the columns the data set does not have at all: Splink cannot train on them
    return df[[c for c in df.columns if c == "unique_id" or df[c].notna().any()]]


def _model(columns: set[str]):
    import splink.comparison_library as cl
    from splink import block_on

    comparisons = []
    if "first_name" in columns:
        comparisons.append(
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True)
        )
    if "last_name" in columns:
        comparisons.append(
            cl.NameComparison("last_name").configure(term_frequency_adjustments=True)
        )
    if "dob" in columns:
        comparisons.append(
            cl.DateOfBirthComparison(
                "dob",
                input_is_string=True,
                datetime_format="%Y-%m-%d",
                invalid_dates_as_null=False,
            )
        )
    if "address_line1" in columns:
        comparisons.append(cl.LevenshteinAtThresholds("address_line1", [1, 3]))
    if "city" in columns:
        comparisons.append(cl.LevenshteinAtThresholds("city", [1, 2]))
    if "postal_code" in columns:
        comparisons.append(cl.ExactMatch("postal_code").configure(term_frequency_adjustments=True))
    if "email" in columns:
        comparisons.append(cl.EmailComparison("email"))
    if "phone" in columns:
        comparisons.append(cl.ExactMatch("phone"))

    rules = [block_on("first_name", "last_name")]
    if "dob" in columns:
        rules += [block_on("last_name", "dob"), block_on("first_name", "dob")]
    if "postal_code" in columns:
        if "dob" in columns:
            rules.append(block_on("dob", "postal_code"))
        rules.append(block_on("postal_code", "substr(last_name, 1, 2)"))
        if "address_line1" in columns:
            rules.append(block_on("address_line1", "postal_code"))
    elif "city" in columns:
        rules.append(block_on("city", "substr(last_name, 1, 2)"))
    if "email" in columns:
        rules.append(block_on("email"))
    if "phone" in columns:
        rules.append(block_on("phone"))

    deterministic = [block_on("first_name", "last_name", "dob")] if "dob" in columns else []
    if "email" in columns:
        deterministic.append(block_on("email"))
    if not deterministic:
        deterministic = [block_on("first_name", "last_name")]
    em_rules = [block_on("first_name", "last_name")]
    if "dob" in columns:
        em_rules.insert(0, block_on("dob"))
    return comparisons, rules, deterministic, em_rules


def run(dataset: Dataset, *, max_pairs: float = 1e7, threads: int | None = None) -> dict:
    """Train and predict; every blocked pair with its match probability, and the timings."""
    import duckdb
    from splink import DuckDBAPI, Linker, SettingsCreator

    df = frame(dataset)
    columns = set(df.columns)
    comparisons, rules, deterministic, em_rules = _model(columns)
    started = time.perf_counter()
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    db_api = DuckDBAPI(connection=con)
    sdf = db_api.register(df)
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
    )
    linker = Linker(sdf, settings, log_level=logging.WARNING)
    logging.getLogger("splink").setLevel(logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=1)
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    trained = time.perf_counter()
    predictions = linker.inference.predict()
    scored = (
        predictions.as_duckdbpyrelation()
        .select("unique_id_l, unique_id_r, match_probability")
        .fetchall()
    )
    done = time.perf_counter()
    con.close()
    return {
        "pairs": [(a, b, float(p)) for a, b, p in scored],
        "seconds": done - started,
        "train_seconds": trained - started,
        "predict_seconds": done - trained,
        "columns": sorted(columns - {"unique_id"}),
        "blocking_rules": [r.get_blocking_rule("duckdb").blocking_rule_sql for r in rules],
    }


def metrics(dataset: Dataset, result: dict, *, threshold: float = 0.99) -> dict:
    import pairwise

    truth = pairwise.pairs_of_groups(pairwise.groups_of(dataset.entity))
    edges = [(pairwise.pair(a, b), p) for a, b, p in result["pairs"]]
    blocked = {e for e, _ in edges}
    at = {e for e, p in edges if p >= threshold}
    best = pairwise.best_f1([(p, e in truth) for e, p in edges], len(truth))
    out = {
        "at_threshold": pairwise.prf(at, truth),
        "at_threshold_clustered": pairwise.prf(pairwise.closure(at), truth),
        "best": best,
        "pair_completeness": pairwise.pair_completeness(truth, blocked),
        "blocked_pairs": len(blocked),
        "threshold": threshold,
    }
    if dataset.household:
        household, entity = dataset.household, dataset.entity
        out["households_at_threshold"] = sum(
            1 for a, b in at if entity[a] != entity[b] and household[a] == household[b]
        )
    return out
