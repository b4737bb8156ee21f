"""Identity resolution against the generator's ground truth, on the default messy company.

The company's CRM is loaded into the sandbox org, crm360 extracts and lands three days and builds
the dbt project; every record crm360 stitched is compared with truth/identity.csv (the true person
of every source record). Pairwise precision and recall: of the record pairs crm360 put in one
person, how many are one person; of the record pairs that are one person, how many crm360 joined.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from crm360 import tasks
from crm360.rundate import RunWindow
from crm360.settings import Settings
from sandbox.evaluate import pairwise, truth_by_record_key
from tests.integration.conftest import land_company

pytestmark = pytest.mark.integration

DAYS = ("2026-11-18", "2026-11-19", "2026-11-20")
# Targets of the customer-360 issue: precision >= 0.99, recall >= 0.97 on the default messy data.
PRECISION_FLOOR = 0.99
RECALL_FLOOR = 0.97


@pytest.fixture(scope="module")
def stitched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[tuple[str, str]], Path]]:
    root = tmp_path_factory.mktemp("identity")
    with pytest.MonkeyPatch.context() as mp:
        company = land_company(root, DAYS, mp, customers=2000, seed=7)
        tasks.dbt_build(RunWindow.for_day(DAYS[-1]), Settings.from_env())
        con = duckdb.connect(str(root / "warehouse" / "crm360.duckdb"))
        rows = con.execute("select record_key, customer_id from intermediate.int_customers_stitched").fetchall()
        linkable = {r[0] for r in con.execute("select distinct record_key from intermediate.int_identity_identifiers")
                    .fetchall()}
        con.close()
        yield rows, company, linkable


def test_pairwise_precision_and_recall_against_ground_truth(stitched: tuple) -> None:
    rows, company, linkable = stitched
    # A web visitor who never identified (no email, user id) carries nothing to link by: recall is
    # measured over records that carry at least one identifier.
    score = pairwise(rows, truth_by_record_key(company), linkable)
    assert score.records > 0.85 * len(rows), "nearly every stitched record is linkable and in the ground truth"
    print(f"identity: {score.records} records, precision {score.precision:.4f}, recall {score.recall:.4f}")
    assert score.precision >= PRECISION_FLOOR, score
    assert score.recall >= RECALL_FLOOR, score


def test_shared_and_placeholder_addresses_never_join_people(stitched: tuple) -> None:
    rows, company, _ = stitched
    truth = truth_by_record_key(company)
    manifest = json.loads((company / "manifest.json").read_text())
    shared = {entry["email"].strip().lower() for entry in manifest.get("shared_emails", [])}
    assert shared, "the default company plants shared addresses"
    people_per_customer: dict[str, set[str]] = defaultdict(set)
    for key, customer in rows:
        if key in truth:
            people_per_customer[customer].add(truth[key])
    assert sum(1 for people in people_per_customer.values() if len(people) > 1) <= 0.002 * len(people_per_customer)
