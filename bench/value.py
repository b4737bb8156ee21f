"""Offline evaluation of the customer value models (BG/NBD + Gamma-Gamma) with a time split.

    python -m bench.value [--customers 20000] [--days 450] [--holdout-days 90] [--seed 7]

The sandbox generator writes a company whose shop follows a buy-till-you-die process (each
customer buys at their own rate and may leave after each order) with ``days`` days of orders. Orders up to
the cutoff (``holdout_days`` before the last day) are summarised exactly as
int_customer_purchase_summary does (a purchase is a UTC day with a live order, values in the
reporting currency through seeds/fx_rates.csv, refunds ignored here), both models are fitted with
crm360.value.scoring as the dbt models call it, and every customer who bought before the cutoff is
scored. Then the holdout answers: did they buy again in the next ``holdout_days`` days?

Reported: the fitted parameters and convergence; ROC AUC for "bought again in the holdout" of
churn risk (1 - P(a purchase in the window)), probability_alive, expected purchases and P(at least one purchase),
beside two naive rankings (fewest days since the last purchase, most repeat purchases); predicted
against actual purchase days in the holdout; AUC of probability_alive against the generator's
ground truth (still a customer at the end); and the time to fit and score 1,000,000 synthetic
customers. `make bench` runs this (bench/run.py) and records it in its results; run alone, it
writes bench/results/value-<timestamp>.json and .md.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
FX_RATES = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / "fx_rates.csv"
END_DATE = "2026-11-20"


def auc(score: np.ndarray, outcome: np.ndarray) -> float | None:
    """ROC AUC (ties count half): the chance a random buyer scores above a random non-buyer."""
    from scipy.stats import rankdata

    positives = int(outcome.sum())
    negatives = len(outcome) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[outcome].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def generate_company(out: Path, customers: int, days: int, seed: int) -> None:
    """``days`` days of shop orders ending on END_DATE: one generated day plus ``days - 1`` days of
    order history (the generator simulates only orders for those, which is fast). No malformed,
    duplicate or late rows: this measures the model, not the landing."""
    from sandbox.generator import generate

    generate(customers, 1, END_DATE, seed, out, malformed_rate=0.0, duplicate_rate=0.0, late_rate=0.0,
             history_days=days - 1)


def read_orders(company: Path) -> dict[str, np.ndarray]:
    """The company's live orders: shop customer id, UTC date, value in the reporting currency."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        rows = con.execute(
            """
            select
                cast(o.customer.id as bigint) as customer_id,
                cast(cast(o.created_at as timestamptz) as date) as ordered_date,
                cast(o.total_price as double) * fx.rate_to_reporting as order_value
            from read_json(?, format = 'newline_delimited', union_by_name = true) as o
            inner join read_csv(?, header = true) as fx on o.currency = fx.currency_code
            where o.cancelled_at is null
            """,
            [str(company / "inbox" / "shopify" / "*" / "orders.ndjson.gz"), str(FX_RATES)],
        ).fetchnumpy()
    finally:
        con.close()
    return {"customer_id": np.asarray(rows["customer_id"]), "date": np.asarray(rows["ordered_date"]),
            "value": np.asarray(rows["order_value"], dtype=np.float64)}


def _truth_alive_at_end(company: Path) -> dict[int, bool]:
    with (company / "truth" / "persons.csv").open(newline="") as handle:
        return {int(row["shopify_customer_id"]): row["alive_at_end"] == "True" for row in csv.DictReader(handle)}


def evaluate(orders: dict[str, np.ndarray], cutoff: date, holdout_days: int,
             alive_at_end: dict[int, bool] | None = None) -> dict[str, Any]:
    """Fit on orders up to ``cutoff`` (inclusive), score, and compare with the next ``holdout_days``."""
    from crm360.value.history import summarise_transactions
    from crm360.value.scoring import ValueSettings, fit_models, score

    dates = orders["date"].astype("datetime64[D]")
    summary = summarise_transactions(orders["customer_id"], dates, orders["value"], observation_end=cutoff)
    settings = ValueSettings(purchase_window_days=float(holdout_days))
    started = time.perf_counter()
    models = fit_models(summary.history, settings)
    fit_s = time.perf_counter() - started
    if models.purchases is None:
        raise RuntimeError("no customers bought before the cutoff: generate more customers or days")
    scores = score(summary.history, models.purchases.params, models.spend.params if models.spend else None,
                   settings)

    end = np.datetime64(cutoff, "D") + np.timedelta64(holdout_days, "D")
    in_holdout = (dates > np.datetime64(cutoff, "D")) & (dates <= end)
    # purchase days per customer in the holdout, matched to the (sorted) scored customers
    pairs = np.unique(np.stack([orders["customer_id"][in_holdout], dates[in_holdout].astype(np.int64)], axis=1),
                      axis=0)
    buyers, days_bought = np.unique(pairs[:, 0], return_counts=True)
    row = np.searchsorted(summary.customer_ids, buyers)
    known = row < len(summary.customer_ids)
    known[known] = summary.customer_ids[row[known]] == buyers[known]
    actual = np.zeros(len(summary.history), dtype=np.int64)
    actual[row[known]] = days_bought[known]
    bought = actual > 0
    history = summary.history
    last_purchase_age = history.tenure - history.recency
    spend = models.spend
    result: dict[str, Any] = {
        "cutoff": cutoff.isoformat(),
        "holdout_days": holdout_days,
        "customers_scored": len(history),
        "repeat_customers_at_cutoff": int((history.frequency > 0).sum()),
        "bought_again_share": round(float(bought.mean()), 4),
        "fit_s": round(fit_s, 3),
        "bgnbd": {**{k: round(v, 4) for k, v in vars(models.purchases.params).items()},
                  "log_likelihood": round(models.purchases.log_likelihood, 2),
                  "converged": models.purchases.converged},
        "gamma_gamma": None if spend is None else {
            **{k: round(v, 4) for k, v in vars(spend.params).items()},
            "log_likelihood": round(spend.log_likelihood, 2), "converged": spend.converged},
        "auc": {
            # churn risk ranks non-buyers first: its AUC for "bought again" is that of -churn_risk
            "churn_risk (reversed)": auc(-scores["churn_risk"], bought),
            "probability_alive": auc(scores["probability_alive"], bought),
            "expected_purchases": auc(scores["expected_purchases"], bought),
            "probability_purchase": auc(scores["probability_purchase"], bought),
            "baseline_recent_last_purchase": auc(-last_purchase_age, bought),
            "baseline_repeat_purchases": auc(history.frequency, bought),
        },
        "auc_repeat_customers_only": {
            "probability_alive": auc(scores["probability_alive"][history.frequency > 0],
                                     bought[history.frequency > 0]),
            "expected_purchases": auc(scores["expected_purchases"][history.frequency > 0],
                                      bought[history.frequency > 0]),
        },
        "purchases_in_holdout": {"predicted": round(float(scores["expected_purchases"].sum()), 1),
                                 "actual": int(actual.sum())},
    }
    if alive_at_end is not None:
        truly_alive = np.array([alive_at_end.get(int(c), False) for c in summary.customer_ids])
        result["auc"]["probability_alive_vs_truth_alive_at_end"] = auc(scores["probability_alive"], truly_alive)
    result["auc"] = {k: None if v is None else round(v, 4) for k, v in result["auc"].items()}
    result["auc_repeat_customers_only"] = {k: None if v is None else round(v, 4)
                                           for k, v in result["auc_repeat_customers_only"].items()}
    return result


def scale_timing(customers: int = 1_000_000, seed: int = 0) -> dict[str, Any]:
    """Fit (on the capped sample) and score synthetic histories in whole days, as the dbt models do."""
    from crm360.value.history import PurchaseHistory
    from crm360.value.scoring import ValueSettings, fit_models, score

    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 1500, customers).astype(np.float64)
    frequency = np.minimum(rng.poisson(rng.gamma(0.8, 1 / 60, customers) * tenure),
                           rng.geometric(rng.beta(1.5, 8.0, customers)) - 1).astype(np.float64)
    recency = np.where(frequency > 0, np.floor(tenure * rng.beta(np.maximum(frequency, 1), 1.0)), 0.0)
    money = np.where(frequency > 0, rng.gamma(4.0, 15.0, customers), np.nan)
    history = PurchaseHistory.from_arrays(frequency, recency, tenure, money)
    settings = ValueSettings(max_fit_customers=200_000)
    started = time.perf_counter()
    models = fit_models(history, settings)
    fitted = time.perf_counter()
    score(history, models.purchases.params if models.purchases else None,
          models.spend.params if models.spend else None, settings)
    return {"customers": customers, "fit_s": round(fitted - started, 2),
            "score_s": round(time.perf_counter() - fitted, 2), "fit_sample": settings.max_fit_customers}


def run(state: Path, customers: int = 20_000, days: int = 450, holdout_days: int = 90, seed: int = 7,
        timing_customers: int = 1_000_000) -> dict[str, Any]:
    """Generate, split, fit, score, evaluate; plus the scale timing. Returns the record."""
    import shutil

    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    company = state / "company"
    started = time.perf_counter()
    generate_company(company, customers, days, seed)
    orders = read_orders(company)
    generate_s = time.perf_counter() - started
    cutoff = date.fromisoformat(END_DATE) - timedelta(days=holdout_days)
    result = {"customers": customers, "days": days, "seed": seed, "orders": len(orders["date"]),
              "generate_s": round(generate_s, 1),
              **evaluate(orders, cutoff, holdout_days, _truth_alive_at_end(company))}
    result["scale"] = scale_timing(timing_customers) if timing_customers else None
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# Customer value: {result['customers']:,} generated customers x {result['days']} days, "
             f"cutoff {result['cutoff']}, holdout {result['holdout_days']} days",
             "",
             f"{result['customers_scored']:,} customers bought before the cutoff "
             f"({result['repeat_customers_at_cutoff']:,} more than once); "
             f"{result['bought_again_share']:.1%} bought again in the holdout.",
             "",
             "| ranking of \"bought again in the holdout\" | ROC AUC |", "|---|---:|"]
    lines += [f"| {name} | {value if value is not None else '-'} |" for name, value in result["auc"].items()]
    lines += [f"| {name}, repeat customers only | {value if value is not None else '-'} |"
              for name, value in result["auc_repeat_customers_only"].items()]
    lines += ["", "churn_risk is 1 - P(a purchase in the next 90 days); its row ranks future buyers by -churn_risk.",
              "probability_alive is 1 for every customer without a repeat purchase (BG/NBD: "
                  "a customer can only leave right after a purchase), so over all customers it ranks poorly; "
                  "expected purchases and probability_purchase rank everyone."]
    lines += ["", f"Purchase days in the holdout: predicted {result['purchases_in_holdout']['predicted']:,}, "
                  f"actual {result['purchases_in_holdout']['actual']:,}.",
              f"BG/NBD (days): {result['bgnbd']}", f"Gamma-Gamma: {result['gamma_gamma']}"]
    if result.get("scale"):
        s = result["scale"]
        lines.append(f"{s['customers']:,} synthetic customers: fit {s['fit_s']} s (sample of "
                     f"{s['fit_sample']:,}), score {s['score_s']} s.")
    return "\n".join(lines) + "\n"


def summary_line(result: dict[str, Any]) -> str:
    """One line for the `make bench` console."""
    line = (f"customer value ({result['customers']:,} customers x {result['days']} days, holdout "
            f"{result['holdout_days']} d): AUC of bought again: churn risk (reversed) "
            f"{result['auc']['churn_risk (reversed)']}, expected purchases "
            f"{result['auc']['expected_purchases']}, probability alive {result['auc']['probability_alive']} "
            f"(repeat customers: {result['auc_repeat_customers_only']['probability_alive']})")
    if result.get("scale"):
        line += (f"; {result['scale']['customers']:,} customers: fit {result['scale']['fit_s']} s, "
                 f"score {result['scale']['score_s']} s")
    return line


def record(result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"value-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(result))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.value", description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=450)
    parser.add_argument("--holdout-days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--state", type=Path, default=Path(__file__).resolve().parents[1] / ".bench" / "value")
    args = parser.parse_args(argv)
    result = run(args.state, args.customers, args.days, args.holdout_days, args.seed)
    path = record(result)
    print(markdown(result))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
