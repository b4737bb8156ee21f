"""Customer value end to end: the dbt Python models build in process on a landed company, and the
models rank future buyers above non-buyers on a generated shop with a time split."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from bench import value as value_bench
from crm360.settings import Settings
from crm360.transform.dbt import run_build
from tests.integration.conftest import land_company

pytestmark = pytest.mark.integration

DAYS = ("2026-11-19", "2026-11-20")


def test_dbt_builds_customer_value_for_every_buyer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    land_company(tmp_path, DAYS, monkeypatch, customers=1500, seed=21, history_days=180)
    settings = Settings.from_env()
    # the value models and everything upstream, with the tests of those models only (cautious)
    monkeypatch.setenv("DBT_INDIRECT_SELECTION", "cautious")
    result = run_build(settings.dbt_project_dir, settings.warehouse_path, settings.landing_root, DAYS[-1],
                       select="+customer_value +customer_360")
    assert result.ok and result.counts.get("success", 0) > 0

    con = duckdb.connect(str(settings.warehouse_path))  # as dbt opened it (in this process)
    try:
        buyers = con.execute("select count(distinct customer_id) from intermediate.int_orders_attributed "
                             "where customer_id is not null and not is_cancelled").fetchone()[0]
        fit = con.execute("select ds, customers, r, alpha, a, b from marts.customer_value_model_fit").fetchall()
        rows = con.execute(
            "select count(*), count(distinct customer_id), min(probability_alive), max(probability_alive), "
            "min(churn_risk), max(churn_risk), min(probability_purchase_90d), max(probability_purchase_90d), "
            "min(expected_purchases_90d), count(expected_purchases_90d) from marts.customer_value").fetchone()
        one_timers = con.execute("select distinct probability_alive from marts.customer_value "
                                 "where frequency = 0").fetchall()
    finally:
        con.close()
    assert buyers > 0
    assert len(fit) == 1 and fit[0][0] == date.fromisoformat(DAYS[-1]) and fit[0][1] == buyers
    assert all(value is not None and value > 0 for value in fit[0][2:])
    count, distinct, alive_min, alive_max, risk_min, risk_max, buy_min, buy_max, expected_min, expected_n = rows
    assert count == distinct == buyers == expected_n
    assert 0 <= alive_min <= alive_max <= 1 and 0 <= risk_min <= risk_max <= 1 and 0 <= buy_min <= buy_max <= 1
    assert expected_min >= 0
    assert one_timers == [(1.0,)]  # BG/NBD: no repeat purchase, no chance yet to leave


def test_value_models_rank_future_buyers_above_non_buyers(tmp_path: Path) -> None:
    holdout = 90
    value_bench.generate_company(tmp_path / "company", customers=5000, days=365, seed=5)
    orders = value_bench.read_orders(tmp_path / "company")
    cutoff = date.fromisoformat(value_bench.END_DATE).toordinal() - holdout
    result = value_bench.evaluate(orders, date.fromordinal(cutoff), holdout)
    assert result["bgnbd"]["converged"]
    assert result["customers_scored"] > 300
    assert result["auc"]["expected_purchases"] > 0.65
    assert result["auc"]["probability_purchase"] > 0.65
    assert result["auc_repeat_customers_only"]["probability_alive"] > 0.6
    predicted, actual = result["purchases_in_holdout"]["predicted"], result["purchases_in_holdout"]["actual"]
    assert actual * 0.7 < predicted < actual * 1.3
