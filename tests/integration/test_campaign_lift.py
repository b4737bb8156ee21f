"""Campaign lift, end to end: crm360 measures the lift the market was given.

A generated company goes through `crm360_nightly` for 2026-11-18 with push (crm360 creates the segment
campaigns and adds their sendable members; holdouts are never added). Then the sandbox's market
simulator (`sandbox.generator.response`) plays 2026-11-19 through the org's API: members of the RFM
campaigns respond, and members and holdouts buy (Closed Won Opportunities) with a planted lift -
members of two campaigns at twice the holdouts' rate (lift 1.0), of one at the same rate (lift 0).
The holdouts are read from crm360's warehouse (`marts.customer_segments`), as the simulator needs
them. The run for 2026-11-19 lands the statuses and Opportunities and builds `marts.campaign_lift`.

Tolerance (also in the README): the simulator's exact draws realise the planted rates up to
rounding, so `conversion_lift` must be within 0.15 of the planted lift for a segment with at least
10 expected holdout conversions (base rate x holdouts; rounding alone moves the lift by at most
(1 + lift) x 0.5 / that), and the 95% interval must contain the planted lift; a lift of 1.0 must be
detected (interval above 0) and a lift of 0 must not (interval containing 0).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sandbox import localrun
from sandbox.generator.response import SegmentPlan, population_from_rows, simulate
from tests.conftest import require

pytestmark = pytest.mark.integration

DAYS = ("2026-11-18", "2026-11-19")
CUSTOMERS = 13_000
HISTORY_DAYS = 180
SEED = 11
BASE_RATE = 0.4
RESPONSE_RATE = 0.25
TOLERANCE = 0.15  # absolute, on the relative lift
MIN_EXPECTED_HOLDOUT_CONVERSIONS = 10
# one exclusivity group (rfm): no person is in two of these segments, so their lifts do not mix
PLANS = (
    SegmentPlan("rfm_champions", "RFM - Champions", RESPONSE_RATE, BASE_RATE, lift=1.0),
    SegmentPlan("rfm_loyal_customers", "RFM - Loyal customers", RESPONSE_RATE, BASE_RATE, lift=0.0),
    SegmentPlan("rfm_at_risk", "RFM - At risk win-back", RESPONSE_RATE, BASE_RATE, lift=1.0),
)

# every member and every holdout of the planned segments whose consent allows the campaign's channel
POPULATION_SQL = """
select
    segments.segment_name,
    segments.customer_id as person_id,
    records.record_id,
    segments.is_holdout
from marts.customer_segments as segments
inner join marts.segment_definitions as definitions on segments.segment_name = definitions.segment_name
inner join marts.customer_360 as customers on segments.customer_id = customers.customer_id
inner join intermediate.int_customers_stitched as records
    on segments.customer_id = records.customer_id and records.source in ('salesforce_contact', 'salesforce_lead')
where
    segments.segment_name in ({names})
    and (
        not segments.is_holdout
        or (definitions.campaign_channel = 'email' and not coalesce(customers.has_opted_out_of_email, true))
        or (definitions.campaign_channel = 'phone' and not coalesce(customers.is_do_not_call, true))
    )
"""


@dataclass
class LiftRun:
    states: dict[str, str]
    rows_after_first_day: int
    truth: dict[str, dict[str, Any]]  # segment -> the simulator's ground truth
    lift: dict[str, dict[str, Any]]  # segment -> the marts.campaign_lift row


def _query(warehouse: Path, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


@pytest.fixture(scope="module")
def lift_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiftRun]:
    require(shutil.which("airflow", path=str(Path(localrun.sys.executable).parent)) is not None,
            "the airflow CLI of this environment (make venv installs it)")
    from sandbox.generator import generate, load
    from sandbox.salesforce.process import start_sandbox

    root = tmp_path_factory.mktemp("lift")
    paths = localrun.LocalPaths.under(root)
    generate(customers=CUSTOMERS, days=len(DAYS), end_date=DAYS[-1], seed=SEED, out=paths.company_dir,
             history_days=HISTORY_DAYS)
    with start_sandbox(paths.sandbox_dir) as _server, pytest.MonkeyPatch.context() as mp:
        load(paths.company_dir, paths.sandbox_dir / "server.json")
        server = json.loads((paths.sandbox_dir / "server.json").read_text())
        mp.setenv("REQUESTS_CA_BUNDLE", server["ca"])
        env = localrun.airflow_env(paths, server)
        localrun.prepare_airflow(env)
        states = {}
        localrun.set_sandbox_clock(server, DAYS[0])
        states["day1"] = localrun.run_dag(env, DAYS[0], conf={"push": True}, log_file=root / "logs" / "day1.log")
        first_day = _query(paths.warehouse, "select count(*) as n from marts.campaign_lift")[0]["n"]

        names = ", ".join(f"'{p.segment_name}'" for p in PLANS)
        rows = _query(paths.warehouse, POPULATION_SQL.format(names=names))
        population = population_from_rows({**r, "is_holdout": str(r["is_holdout"])} for r in rows)
        truth = simulate(server, PLANS, population, at=dt.datetime(2026, 11, 19, 12, tzinfo=dt.UTC), seed=SEED,
                         out=paths.company_dir / "truth" / "response.json")

        localrun.set_sandbox_clock(server, DAYS[1])
        states["day2"] = localrun.run_dag(env, DAYS[1], log_file=root / "logs" / "day2.log")
        lift = {r["segment_name"]: r for r in _query(paths.warehouse, "select * from marts.campaign_lift")}
        yield LiftRun(states, first_day, {s["segment_name"]: s for s in truth["segments"]}, lift)


def test_both_days_run_and_the_first_has_no_lift_to_report(lift_run: LiftRun) -> None:
    assert lift_run.states == {"day1": "success", "day2": "success"}
    # the first day's build runs before its push: no campaign member of crm360's has landed yet
    assert lift_run.rows_after_first_day == 0


def test_the_compared_people_are_the_ones_the_market_was_played_for(lift_run: LiftRun) -> None:
    for plan in PLANS:
        truth, row = lift_run.truth[plan.segment_name], lift_run.lift[plan.segment_name]
        assert row["campaign_name"] == plan.campaign_name and str(row["as_of_date"]) == DAYS[1]
        # a person's consent or identity may change between the two days: a few may differ
        for arm in ("members", "holdouts"):
            assert abs(row[arm] - truth[arm]) <= max(1, 0.02 * truth[arm]), (plan.segment_name, arm, row, truth)
        assert row["member_response_rate"] == pytest.approx(RESPONSE_RATE, abs=0.02), plan.segment_name


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.segment_name)
def test_the_planted_lift_is_recovered_within_the_tolerance(lift_run: LiftRun, plan: SegmentPlan) -> None:
    row = lift_run.lift[plan.segment_name]
    assert BASE_RATE * row["holdouts"] >= MIN_EXPECTED_HOLDOUT_CONVERSIONS, (
        f"{plan.segment_name}: {row['holdouts']} holdouts are too few for a tolerance of {TOLERANCE}; "
        "generate more customers")
    assert row["holdout_conversion_rate"] == pytest.approx(BASE_RATE, abs=0.05)
    assert row["member_conversion_rate"] == pytest.approx(plan.member_rate, abs=0.05)
    assert row["conversion_lift"] == pytest.approx(plan.lift, abs=TOLERANCE), row
    assert row["lift_ci_low"] <= plan.lift <= row["lift_ci_high"], row
    if plan.lift > 0:
        assert row["lift_ci_low"] > 0, f"{plan.segment_name}: a planted lift of {plan.lift} was not detected: {row}"
    else:
        assert row["lift_ci_low"] < 0 < row["lift_ci_high"], row
