"""Recommendations on generated companies, built point in time at a cutoff and scored after it.

Two small companies go through crm360 (Salesforce extract, channel landing, dbt) exactly as the
offline evaluation does it (bench/recommendations.py): one with the generator's co-purchase
structure (baskets often pair a product with its companion), one without it. The tests check what
a marketer would notice: the "Often bought with" pairs are the ones customers really buy together
and complete later baskets, no one is offered what they already bought, every suggestion carries
a reason, the last-order cross-sell and upsell follow their rules, nothing after the cutoff leaks
into the models, and the evaluation scores the model against the popularity baseline.

The issue's next-best lift claim (>= 20% hit rate at 5 over popularity with co-purchase, none
without) is not asserted: at bench size (`make bench`, bench/results/recommendations-*.md) it does
not hold on this generator, whose co-purchase structure lives inside a basket and barely carries
to the next one, while category affinity (present in both companies) gives the lift.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from bench import recommendations as evaluation
from sandbox.generator.catalog import build_catalog

pytestmark = pytest.mark.integration

CUSTOMERS = 2500
DAYS = 75
EVAL_DAYS = 20
SEED = 5


@dataclass
class Company:
    root: Path
    split: evaluation.Split
    result: dict

    @property
    def cutoff_warehouse(self) -> Path:
        return self.root / "warehouse" / "cutoff.duckdb"

    def query(self, sql: str) -> list[tuple]:
        con = duckdb.connect(str(self.cutoff_warehouse))
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


@pytest.fixture(scope="module")
def companies(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Company]:
    """co_purchase -> the company generated with (True) or without (False) companion products."""
    split = evaluation.Split.of(DAYS, EVAL_DAYS)
    out = {}
    for co_purchase in (True, False):
        root = tmp_path_factory.mktemp(f"recs-{'co' if co_purchase else 'control'}")
        out[co_purchase] = Company(root, split, evaluation.evaluate(root, CUSTOMERS, split, SEED, co_purchase))
    return out


def _companions() -> dict[str, str]:
    catalog = build_catalog()
    return {str(int(catalog.product_id[i])): str(int(catalog.product_id[int(catalog.companion[i])]))
            for i in range(catalog.size)}


def _share_of_top_partners_that_are_companions(company: Company) -> tuple[int, float]:
    companions = _companions()
    top = company.query("""
        select product_id, paired_product_id from (
            select product_id, paired_product_id,
                   row_number() over (partition by product_id order by lift desc, pair_orders desc) as partner_rank
            from intermediate.int_product_pairs where lift > 1
        ) where partner_rank = 1""")
    together = sum(1 for a, b in top if companions.get(a) == b or companions.get(b) == a)
    return len(top), together / len(top) if top else 0.0


def test_often_bought_with_finds_the_products_customers_buy_together(companies: dict[bool, Company]) -> None:
    products, share = _share_of_top_partners_that_are_companions(companies[True])
    assert products >= 30, f"only {products} products have a partner with lift > 1"
    assert share >= 0.9, f"the strongest partner is the generator's companion for only {share:.0%} of products"
    _, control_share = _share_of_top_partners_that_are_companions(companies[False])
    assert control_share < 0.5, f"without co-purchase structure {control_share:.0%} still look like companions"


def test_the_top_partner_completes_baskets_only_with_co_purchase_structure(companies: dict[bool, Company]) -> None:
    with_co, without = companies[True].result["basket_completion"], companies[False].result["basket_completion"]
    assert with_co["items"] > 100 and without["items"] > 100
    assert with_co["cross_sell_hit_rate"] >= 0.3, with_co
    assert with_co["cross_sell_hit_rate"] >= 3 * with_co["popular_hit_rate"], with_co
    assert without["cross_sell_hit_rate"] < 0.2, without


def test_no_one_is_offered_what_they_already_bought(companies: dict[bool, Company]) -> None:
    company = companies[True]
    repeats = company.query("""
        select count(*) from marts.customer_next_best_products as recs
        inner join intermediate.int_order_lines_attributed as lines
            on recs.customer_id = lines.customer_id and recs.product_id = lines.product_id""")
    assert repeats == [(0,)]
    cross_sell_repeats = company.query("""
        select count(*) from marts.customer_last_order_recommendations as recs
        inner join intermediate.int_order_lines_attributed as lines
            on recs.customer_id = lines.customer_id
           and lines.product_id in (recs.cross_sell_product_id, recs.upsell_product_id)""")
    assert cross_sell_repeats == [(0,)]


def test_every_person_gets_five_explained_products(companies: dict[bool, Company]) -> None:
    company = companies[True]
    people, short = company.query("""
        with per_person as (
            select stitched.customer_id, count(recs.product_id) as products
            from (select distinct customer_id from intermediate.int_customers_stitched) as stitched
            left join marts.customer_next_best_products as recs on stitched.customer_id = recs.customer_id
            group by stitched.customer_id
        )
        select count(*), count(*) filter (where products < 5) from per_person""")[0]
    assert people > CUSTOMERS / 2 and short == 0
    sources = dict(company.query("select source, count(*) from marts.customer_next_best_products group by source"))
    assert set(sources) == {"co_purchase", "popular_in_segment", "popular"}
    # a co-purchase reason names something the person bought
    unexplained = company.query("""
        select count(*) from marts.customer_next_best_products as recs
        where source = 'co_purchase' and not exists (
            select 1 from intermediate.int_order_lines_attributed as lines
            inner join intermediate.int_product_popularity as product on lines.product_id = product.product_id
            where lines.customer_id = recs.customer_id
              and recs.reason = 'Often bought with ' || product.product_title)""")
    assert unexplained == [(0,)]


def test_last_order_upsell_is_a_pricier_product_of_the_same_category(companies: dict[bool, Company]) -> None:
    company = companies[True]
    orders, cross_sells, upsells, wrong = company.query("""
        with anchors as (
            select customer_id, product_id,
                   row_number() over (partition by customer_id order by line_value desc, order_line_id) as value_rank
            from intermediate.int_order_lines_attributed as lines
            where order_id in (select order_id from marts.customer_last_order_recommendations)
        )
        select count(*), count(recs.cross_sell_product_id), count(recs.upsell_product_id),
               count(*) filter (where recs.upsell_product_id is not null
                                and (upsell.product_category <> anchor.product_category
                                     or upsell.price <= anchor.price))
        from marts.customer_last_order_recommendations as recs
        left join anchors on recs.customer_id = anchors.customer_id and anchors.value_rank = 1
        left join intermediate.int_product_popularity as anchor on anchors.product_id = anchor.product_id
        left join intermediate.int_product_popularity as upsell on recs.upsell_product_id = upsell.product_id""")[0]
    assert orders > 0 and wrong == 0
    assert cross_sells > 0.6 * orders and upsells > 0.5 * orders


def test_models_built_at_the_cutoff_see_nothing_after_it(companies: dict[bool, Company]) -> None:
    company = companies[True]
    cutoff_end = f"{company.split.cutoff} 23:59:59.999999+00"
    later = company.query(f"""
        select (select count(*) from intermediate.int_order_lines_attributed where ordered_at > '{cutoff_end}')
             + (select count(*) from marts.customer_last_order_recommendations where ordered_at > '{cutoff_end}')
             + (select count(*) from intermediate.int_customer_category_affinity
                where last_signal_at > '{cutoff_end}')""")
    assert later == [(0,)]


def test_the_evaluation_scores_the_model_against_popularity(companies: dict[bool, Company]) -> None:
    for co_purchase, company in companies.items():
        scored = company.result["all"]
        assert scored["customers"] > 100, f"co_purchase={co_purchase}: only {scored['customers']} people scored"
        assert 0 < scored["baseline_hit_rate"] < 1 and 0 < scored["model_hit_rate"] < 1
        assert scored["lift_ci95"][0] <= scored["relative_lift"] <= scored["lift_ci95"][1]
        assert company.result["with_history"]["customers"] < scored["customers"]
    verdict = evaluation.verdict(companies[True].result, companies[False].result)
    assert set(verdict) >= {"claim_holds", "lift_with_co_purchase", "lift_without_co_purchase"}
