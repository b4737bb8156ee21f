"""Scoring crm360 against the generator's ground truth (used by tests and `make bench`)."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PairwiseScore:
    records: int
    precision: float
    recall: float


def truth_by_record_key(company: Path) -> dict[str, str]:
    """record_key (as crm360 names records, `source:id`) -> true person id.

    SendGrid recipients are keyed by normalized email; a recipient address shared by several
    people (a role or household inbox) has no single true person and is left out.
    """
    truth: dict[str, str] = {}
    recipients: dict[str, set[str]] = defaultdict(set)
    with (company / "truth" / "identity.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["source"] == "sendgrid_email":
                recipients[row["record_key"].strip().lower()].add(row["person_id"])
            else:
                truth[f"{row['source']}:{row['record_key']}"] = row["person_id"]
    for email, people in recipients.items():
        if len(people) == 1:
            truth[f"sendgrid_recipient:{email}"] = next(iter(people))
    return truth


def _pairs(sizes: Counter) -> int:
    return sum(n * (n - 1) // 2 for n in sizes.values())


def pairwise(stitched: Iterable[tuple[str, str]], truth: dict[str, str],
             linkable: set[str] | None = None) -> PairwiseScore:
    """Pairwise precision and recall of (record_key, customer_id) against the truth.

    Of the record pairs put in one person, how many are one person (precision); of the pairs that
    are one person, how many were joined (recall). With `linkable`, only those records count (a
    web visitor who never identified carries nothing to link by).
    """
    judged = [(key, customer, truth[key]) for key, customer in stitched
              if key in truth and (linkable is None or key in linkable)]
    predicted = _pairs(Counter(customer for _, customer, _ in judged))
    actual = _pairs(Counter(person for _, _, person in judged))
    agreed = _pairs(Counter((customer, person) for _, customer, person in judged))
    return PairwiseScore(records=len(judged), precision=agreed / predicted if predicted else 1.0,
                         recall=agreed / actual if actual else 1.0)
