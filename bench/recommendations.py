"""Offline evaluation of next-best products on generated data, with a time split.

    python -m bench.recommendations [--customers 20000] [--days 180] [--eval-days 30] [--seed 7]

For each of two companies from the sandbox generator, one with its co-purchase structure (baskets
often pair a product with its companion) and one without (``--no-co-purchase``, the control): land
the company through crm360 (Salesforce extract at the cutoff, channel exports for every day), build
the recommendation models as of the cutoff date (``ds`` = the last day before the evaluation
window; the models are point in time), build the order history again as of the last day, and score
the recommendations against what each person bought after the cutoff.

Scored: every person known at the cutoff who bought at least one product after it that they had
not bought before (both the model and the baseline exclude what was already bought, so a repeat
purchase can be no one's hit). hit rate at k = the share of them for whom at least one of the top
k recommendations is among those new products. The baseline is the k most popular products
overall (int_product_popularity, the model's own popularity), excluding what the person bought.
Reported for everyone scored and for the people with purchases before the cutoff (the only ones
co-purchase can help), each with a bootstrap 95% interval of the relative lift.

The issue's claim: a relative lift of at least 20% with co-purchase structure, and no such lift
without it. `make bench` runs this (bench/run.py) and records it in bench/results/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import environment

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = Path(os.environ.get("CRM360_DBT_PROJECT", REPO_ROOT / "dbt_project"))
END_DATE = "2026-11-20"
K = 5
CLAIMED_LIFT = 0.20
# The size `make bench` evaluates at: long enough for histories before the cutoff and purchases after.
DEFAULTS = {"customers": 20_000, "days": 180, "eval_days": 30, "seed": 7}
BOOTSTRAP_SAMPLES = 1000
# What the builds need: the recommendations and everything upstream (the end build needs only the
# order lines, but dbt's eager test selection would then run the recommendations' relationship tests).
SELECT = "+customer_next_best_products +customer_last_order_recommendations"


@dataclasses.dataclass(frozen=True)
class Split:
    """The dates of one evaluation: history up to `cutoff` (inclusive), evaluation after it."""

    first_day: str
    cutoff: str
    end: str

    @classmethod
    def of(cls, days: int, eval_days: int, end: str = END_DATE) -> Split:
        if not 0 < eval_days < days:
            raise ValueError(f"eval_days must be between 1 and days - 1 ({days - 1}), got {eval_days}")
        last = date.fromisoformat(end)
        return cls(first_day=(last - timedelta(days=days - 1)).isoformat(),
                   cutoff=(last - timedelta(days=eval_days)).isoformat(), end=end)

    def days(self) -> list[str]:
        first, last = date.fromisoformat(self.first_day), date.fromisoformat(self.end)
        return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def land(company: Path, root: Path, split: Split) -> Path:
    """Land `company` under `root` the way the nightly job would, and return the landing zone.

    Salesforce is extracted once, at the cutoff (a first partition is filled from current state:
    the records created by then); identities are all the models need from it. Channel exports are
    landed for every day, so that the end build sees the orders placed after the cutoff.
    """
    from crm360 import tasks
    from crm360.rundate import RunWindow
    from crm360.settings import Settings
    from sandbox import localrun
    from sandbox.generator import load
    from sandbox.salesforce.process import start_sandbox

    with start_sandbox(root / "sandbox") as sandbox:
        server = json.loads(sandbox.server_file.read_text())
        # AIRFLOW_HOME: the Salesforce hook reads the connection through Airflow, which would
        # otherwise create ~/airflow
        env = {"REQUESTS_CA_BUNDLE": sandbox.ca_path, "AIRFLOW_HOME": str(root / "airflow"),
               "CRM360_HOME": str(root), "CRM360_INBOX": str(company / "inbox"),
               "CRM360_WAREHOUSE": str(root / "warehouse" / "landing.duckdb"),
               "CRM360_LANDING": str(root / "data" / "landing"),
               "AIRFLOW_CONN_SALESFORCE_DEFAULT": localrun.salesforce_connection(server)}
        with environment(env):
            load(company, sandbox.server_file)
            localrun.set_sandbox_clock(server, split.cutoff)
            settings = Settings.from_env()
            tasks.extract_salesforce(RunWindow.for_day(split.cutoff, run_id=f"bench__{split.cutoff}"), settings)
            for ds in split.days():
                tasks.land_channels(RunWindow.for_day(ds, run_id=f"bench__{ds}"), settings)
    return root / "data" / "landing"


def build(landing: Path, warehouse: Path, ds: str, select: str) -> None:
    """dbt build (models and their tests) of `select` as of `ds` into its own warehouse file."""
    from crm360.transform.dbt import run_build

    warehouse.parent.mkdir(parents=True, exist_ok=True)
    warehouse.unlink(missing_ok=True)
    run_build(DBT_PROJECT, warehouse, landing, ds, select=select)


# What scoring reads from each warehouse (small: ids only).
# What scoring reads from each warehouse (small: ids only).
_CUTOFF_TABLES = {
    "customers": "select distinct customer_id from intermediate.int_customers_stitched",
    "bought": "select distinct customer_id, product_id from intermediate.int_order_lines_attributed "
              "where customer_id is not null",
    "recent": "select distinct customer_id, product_id from intermediate.int_order_lines_attributed "
              "where customer_id is not null "
              "and ordered_at >= cast($cutoff_end as timestamptz) - to_days(cast($window_days as integer))",
    "favourite": "select customer_id, product_category as interest from intermediate.int_customer_category_affinity "
                 "where affinity_rank = 1",
    "recommended": "select customer_id, product_id, recommendation_rank from marts.customer_next_best_products",
    "popularity": "select product_id, popularity_rank from intermediate.int_product_popularity",
    "pairs": "select product_id, paired_product_id, lift, pair_orders from intermediate.int_product_pairs",
}
_END_TABLES = {
    "later": "select distinct customer_id, product_id from intermediate.int_order_lines_attributed "
             "where customer_id is not null and ordered_at >= cast($cutoff_end as timestamptz)",
    "later_baskets": "select distinct order_id, product_id from intermediate.int_order_lines_attributed "
                     "where ordered_at >= cast($cutoff_end as timestamptz)",
}

# Per person scored: has history, and whether the model, the popularity baseline and the segment
# baseline (the model's own fallbacks alone: popular in the interest segment, then overall, i.e. the
# model without co-purchase) hit one of the products bought for the first time after the cutoff.
_OUTCOMES_SQL = """
with
new_products as (
    select later.* from later
    semi join customers using (customer_id)
    anti join bought using (customer_id, product_id)
),
scored as (select distinct customer_id from new_products),
model as (select customer_id, product_id from recommended where recommendation_rank <= $k),
popular_ranked as (
    select scored.customer_id, popularity.product_id, popularity.popularity_rank,
           row_number() over (partition by scored.customer_id order by popularity.popularity_rank) as rank
    from scored
    cross join popularity
    anti join bought on bought.customer_id = scored.customer_id and bought.product_id = popularity.product_id
),
popular as (select customer_id, product_id from popular_ranked where rank <= $k),
segment_sales as (
    select favourite.interest, recent.product_id, count(distinct recent.customer_id) as buyers
    from recent inner join favourite using (customer_id)
    group by favourite.interest, recent.product_id
),
segment_candidates as (
    select scored.customer_id, segment_sales.product_id, 1 as priority, -segment_sales.buyers as position
    from scored
    inner join favourite using (customer_id)
    inner join segment_sales using (interest)
    semi join popularity using (product_id)
    anti join bought on bought.customer_id = scored.customer_id and bought.product_id = segment_sales.product_id
    union all
    select customer_id, product_id, 2 as priority, popularity_rank as position from popular_ranked
),
segment_ranked as (
    select customer_id, product_id,
           row_number() over (partition by customer_id order by priority, position, product_id) as rank
    from (select *, row_number() over (partition by customer_id, product_id order by priority) as copy
          from segment_candidates)
    where copy = 1
),
segment as (select customer_id, product_id from segment_ranked where rank <= $k),
model_hits as (select distinct customer_id from model semi join new_products using (customer_id, product_id)),
popular_hits as (select distinct customer_id from popular semi join new_products using (customer_id, product_id)),
segment_hits as (select distinct customer_id from segment semi join new_products using (customer_id, product_id))
select
    scored.customer_id in (select customer_id from bought) as has_history,
    scored.customer_id in (select customer_id from model_hits) as model_hit,
    scored.customer_id in (select customer_id from popular_hits) as popular_hit,
    scored.customer_id in (select customer_id from segment_hits) as segment_hit
from scored
order by scored.customer_id
"""


# Basket completion, the order-confirmation use: for every item of an order placed after the cutoff
# that holds two or more products, is the item's highest-lift partner (int_product_pairs at the
# cutoff, what the last-order cross-sell offers) another product of that order? Against the most
# popular other product.
_BASKETS_SQL = """
with
items as (
    select * from later_baskets
    where order_id in (select order_id from later_baskets group by order_id having count(*) >= 2)
),
top_partner as (
    select product_id, paired_product_id from (
        select *, row_number() over (partition by product_id order by lift desc, pair_orders desc,
                                     paired_product_id) as partner_rank
        from pairs where lift > 1)
    where partner_rank = 1
),
predictions as (
    select items.order_id, top_partner.paired_product_id as cross_sell,
           (select product_id from popularity where popularity.product_id <> items.product_id
            order by popularity_rank limit 1) as popular
    from items left join top_partner using (product_id)
)
select
    count(*) filter (where exists (select 1 from items as other where other.order_id = predictions.order_id
                                   and other.product_id = predictions.cross_sell)) as cross_sell_hit,
    count(*) filter (where exists (select 1 from items as other where other.order_id = predictions.order_id
                                   and other.product_id = predictions.popular)) as popular_hit,
    count(*) as items
from predictions
"""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One person scored: purchases before the cutoff, and which recommendation lists hit."""

    has_history: bool
    model_hit: bool
    popular_hit: bool
    segment_hit: bool


def _fetch(warehouse: Path, queries: dict[str, str], params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Arrow tables out of a warehouse file. A plain connect (not attach): dbt, run in this process,
    may still hold the file, and DuckDB shares one instance per file within a process."""
    import duckdb

    con = duckdb.connect(str(warehouse))
    try:
        out = {}
        for name, sql in queries.items():
            used = {key: value for key, value in (params or {}).items() if f"${key}" in sql}
            out[name] = con.execute(sql, used).to_arrow_table()
        return out
    finally:
        con.close()


def _project_var(name: str) -> Any:
    """A var's default from dbt_project.yml (the models were built with it)."""
    import yaml

    return yaml.safe_load((DBT_PROJECT / "dbt_project.yml").read_text())["vars"][name]


def _scoring_tables(cutoff_warehouse: Path, end_warehouse: Path, split: Split) -> Any:
    """An in-memory DuckDB connection holding what scoring reads from both warehouses."""
    import duckdb

    cutoff_end = f"{(date.fromisoformat(split.cutoff) + timedelta(days=1)).isoformat()} 00:00:00+00"
    params = {"cutoff_end": cutoff_end, "window_days": int(_project_var("recommendations_popularity_window_days"))}
    tables = {**_fetch(cutoff_warehouse, _CUTOFF_TABLES, params), **_fetch(end_warehouse, _END_TABLES, params)}
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    return con


def outcomes(cutoff_warehouse: Path, end_warehouse: Path, split: Split, k: int = K) -> list[Outcome]:
    """Every person scored, with which lists hit."""
    con = _scoring_tables(cutoff_warehouse, end_warehouse, split)
    try:
        rows = con.execute(_OUTCOMES_SQL, {"k": k}).fetchall()
    finally:
        con.close()
    return [Outcome(*(bool(v) for v in row)) for row in rows]


def basket_completion(cutoff_warehouse: Path, end_warehouse: Path, split: Split) -> dict[str, Any]:
    """Hit rates of the top-lift partner and of the most popular product as "the other item" of an
    order after the cutoff (see _BASKETS_SQL)."""
    con = _scoring_tables(cutoff_warehouse, end_warehouse, split)
    try:
        cross_sell_hits, popular_hits, items = con.execute(_BASKETS_SQL).fetchone()
    finally:
        con.close()
    return {"items": items,
            "cross_sell_hit_rate": round(cross_sell_hits / items, 4) if items else None,
            "popular_hit_rate": round(popular_hits / items, 4) if items else None,
            "relative_lift": None if not items or (lift := _lift(cross_sell_hits, popular_hits)) is None
            else round(lift, 4)}


def _lift(model_hits: int, baseline_hits: int) -> float | None:
    return None if baseline_hits == 0 else model_hits / baseline_hits - 1.0


def summarize(pairs: list[tuple[bool, bool]], seed: int = 0) -> dict[str, Any]:
    """Hit rates of the model and the baseline over the same people, their relative lift, and a
    paired bootstrap 95% interval of the lift (people resampled), so a small sample shows as such."""
    import numpy as np

    n = len(pairs)
    model = np.array([p[0] for p in pairs], dtype=float)
    baseline = np.array([p[1] for p in pairs], dtype=float)
    out: dict[str, Any] = {"customers": n, "model_hit_rate": None, "baseline_hit_rate": None,
                           "relative_lift": None, "lift_ci95": None}
    if n == 0:
        return out
    out["model_hit_rate"] = round(float(model.mean()), 4)
    out["baseline_hit_rate"] = round(float(baseline.mean()), 4)
    lift = _lift(int(model.sum()), int(baseline.sum()))
    out["relative_lift"] = None if lift is None else round(lift, 4)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(BOOTSTRAP_SAMPLES, n))
    model_sums, baseline_sums = model[draws].sum(axis=1), baseline[draws].sum(axis=1)
    ok = baseline_sums > 0
    if ok.any():
        lifts = model_sums[ok] / baseline_sums[ok] - 1.0
        low, high = np.percentile(lifts, [2.5, 97.5])
        out["lift_ci95"] = [round(float(low), 4), round(float(high), 4)]
    return out


def evaluate(root: Path, customers: int, split: Split, seed: int, co_purchase: bool) -> dict[str, Any]:
    """Generate, land, build at the cutoff and at the end, and score one company."""
    from sandbox.generator import generate

    timings: dict[str, float] = {}
    t0 = time.monotonic()
    company = root / "company"
    manifest = generate(customers=customers, days=len(split.days()), end_date=split.end, seed=seed, out=company,
                        co_purchase=co_purchase)
    timings["generate_s"] = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    landing = land(company, root, split)
    timings["land_s"] = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    cutoff_wh, end_wh = root / "warehouse" / "cutoff.duckdb", root / "warehouse" / "end.duckdb"
    build(landing, cutoff_wh, split.cutoff, SELECT)
    build(landing, end_wh, split.end, SELECT)
    timings["dbt_s"] = round(time.monotonic() - t0, 1)
    scored = outcomes(cutoff_wh, end_wh, split)
    history = [o for o in scored if o.has_history]
    result = {
        "co_purchase": co_purchase,
        "orders_generated": manifest["counts"]["orders"],
        # the comparison: the model against the most popular products
        "all": summarize([(o.model_hit, o.popular_hit) for o in scored], seed),
        "with_history": summarize([(o.model_hit, o.popular_hit) for o in history], seed),
        # what co-purchase adds: the model against its own fallbacks alone (segment, then overall)
        "vs_segment": {"all": summarize([(o.model_hit, o.segment_hit) for o in scored], seed),
                       "with_history": summarize([(o.model_hit, o.segment_hit) for o in history], seed)},
        # the order-confirmation use: does the top-lift partner complete baskets after the cutoff?
        "basket_completion": basket_completion(cutoff_wh, end_wh, split),
        "sources": _source_mix(cutoff_wh),
        "timings": timings,
    }
    log.info("co_purchase=%s: %s", co_purchase, result["all"])
    return result


def _source_mix(cutoff_warehouse: Path) -> dict[str, int]:
    """How many recommendations came from each source (co_purchase, popular_in_segment, popular)."""
    table = _fetch(cutoff_warehouse, {"mix": "select source, count(*) as n from marts.customer_next_best_products "
                                             "group by source order by source"})["mix"]
    return dict(zip(table.column("source").to_pylist(), table.column("n").to_pylist(), strict=True))


def verdict(with_co: dict[str, Any], without_co: dict[str, Any], claimed: float = CLAIMED_LIFT) -> dict[str, Any]:
    """The issue's claim on everyone scored: >= `claimed` relative lift with co-purchase structure,
    and not without it."""
    lift_with, lift_without = with_co["all"]["relative_lift"], without_co["all"]["relative_lift"]
    holds_with = lift_with is not None and lift_with >= claimed
    absent_without = lift_without is not None and lift_without < claimed
    return {"claimed_relative_lift": claimed, "lift_with_co_purchase": lift_with,
            "lift_without_co_purchase": lift_without, "holds_with_co_purchase": holds_with,
            "absent_without_co_purchase": absent_without, "claim_holds": holds_with and absent_without}


def run(state: Path, customers: int, days: int, eval_days: int, seed: int) -> dict[str, Any]:
    """Both companies (with and without co-purchase structure) and the verdict."""
    split = Split.of(days, eval_days)
    result: dict[str, Any] = {"customers": customers, "days": days, "eval_days": eval_days, "seed": seed, "k": K,
                              "cutoff": split.cutoff, "end": split.end,
                              "started_at": datetime.now(UTC).isoformat()}
    for label, co_purchase in (("with_co_purchase", True), ("without_co_purchase", False)):
        root = state / label
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        result[label] = evaluate(root, customers, split, seed, co_purchase)
    result["verdict"] = verdict(result["with_co_purchase"], result["without_co_purchase"])
    return result


def _row(label: str, s: dict[str, Any]) -> str:
    ci = s["lift_ci95"]
    interval = "-" if ci is None else f"{_pct(ci[0], signed=True)} .. {_pct(ci[1], signed=True)}"
    return (f"| {label} | {s['customers']:,} | {_pct(s['model_hit_rate'])} | {_pct(s['baseline_hit_rate'])} | "
            f"{_pct(s['relative_lift'], signed=True)} | {interval} |")


def markdown(result: dict[str, Any]) -> str:
    """The evaluation as Markdown (bench/results/*.md and the console)."""
    head = ("| company (people scored) | people | model | {} | relative lift | 95% interval |\n"
            "|---|---:|---:|---:|---:|---|")
    groups = (("all", "everyone"), ("with_history", "with purchases before"))
    companies = (("with_co_purchase", "co-purchase"), ("without_co_purchase", "no co-purchase"))
    lines = [f"## Next-best products: hit rate at {result['k']}",
             "",
             f"{result['customers']:,} customers x {result['days']} days, models built as of {result['cutoff']}, "
             f"scored on the products each person bought for the first time in the {result['eval_days']} days "
             f"after it (seed {result['seed']}).",
             "",
             "Against the most popular products (the issue's comparison):",
             "",
             head.format("popular")]
    lines += [_row(f"{name}, {group_name}", result[label][group]) for label, name in companies
              for group, group_name in groups]
    lines += ["", "Against the model's own fallbacks alone (popular in the interest segment, then overall), "
              "i.e. what putting co-purchase first adds:", "", head.format("fallbacks")]
    lines += [_row(f"{name}, {group_name}", result[label]["vs_segment"][group]) for label, name in companies
              for group, group_name in groups]
    lines += ["", "Basket completion (the last-order cross-sell): is an item's highest-lift partner another "
              "product of the same order, after the cutoff?", "",
              "| company | items | top-lift partner | most popular | relative lift |", "|---|---:|---:|---:|---:|"]
    for label, name in companies:
        b = result[label]["basket_completion"]
        lines.append(f"| {name} | {b['items']:,} | {_pct(b['cross_sell_hit_rate'])} | {_pct(b['popular_hit_rate'])} "
                     f"| {_pct(b['relative_lift'], signed=True)} |")
    v = result["verdict"]
    lines += ["", f"The issue's claim (>= {v['claimed_relative_lift']:.0%} over popularity with co-purchase, no "
              f"such lift without): {'holds' if v['claim_holds'] else 'does not hold'} "
              f"(with: {_pct(v['lift_with_co_purchase'], signed=True)}, "
              f"without: {_pct(v['lift_without_co_purchase'], signed=True)})."]
    return "\n".join(lines) + "\n"


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def record(result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"recommendations-{result['customers']}-{result['days']}d-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    path.with_suffix(".md").write_text(markdown(result))
    return path


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.markdown import Markdown

    parser = argparse.ArgumentParser(prog="python -m bench.recommendations", description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=DEFAULTS["customers"])
    parser.add_argument("--days", type=int, default=DEFAULTS["days"], help="days generated (history + evaluation)")
    parser.add_argument("--eval-days", type=int, default=DEFAULTS["eval_days"],
                        help="days after the cutoff that are scored")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    parser.add_argument("--state", type=Path, default=REPO_ROOT / ".bench" / "recommendations",
                        help="working folder (default .bench/recommendations, ignored by git)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = run(args.state, args.customers, args.days, args.eval_days, args.seed)
    path = record(result)
    Console().print(Markdown(markdown(result)))
    Console().print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
