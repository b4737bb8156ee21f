"""Behaviour with signal: co-purchase structure (and its control switch), heavy-tailed spend, local-time hours."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sandbox.generator import generate
from sandbox.generator import reference as ref
from sandbox.generator.catalog import build_catalog
from tests.unit.sandbox.test_generator import read_ndjson

END = dt.date(2026, 11, 20)
DAYS = 8


def orders(company: Path) -> list[dict[str, Any]]:
    rows = []
    for k in range(DAYS):
        day = (END - dt.timedelta(days=k)).isoformat()
        rows += read_ndjson(company / "inbox" / "shopify" / day / "orders.ndjson.gz")
    return [r for r in rows if isinstance(r.get("line_items"), list) and isinstance(r.get("created_at"), str)
            and isinstance(r.get("total_price"), str)]


def companion_share(rows: list[dict[str, Any]]) -> float:
    catalog = build_catalog()
    index = {int(pid): k for k, pid in enumerate(catalog.product_id.tolist())}
    multi = [r for r in rows if len(r["line_items"]) > 1]
    paired = 0
    for r in multi:
        bought = {index[li["product_id"]] for li in r["line_items"]}
        paired += any(int(catalog.companion[k]) in bought for k in bought)
    return paired / len(multi)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    on, off = tmp_path_factory.mktemp("on"), tmp_path_factory.mktemp("off")
    generate(customers=5000, days=DAYS, end_date=END, seed=5, out=on, malformed_rate=0, duplicate_rate=0)
    generate(customers=5000, days=DAYS, end_date=END, seed=5, out=off, malformed_rate=0, duplicate_rate=0,
             co_purchase=False)
    return orders(on), orders(off)


def test_baskets_pair_companion_products_unless_switched_off(both: tuple[list, list]) -> None:
    with_pairs, without = both
    assert len(with_pairs) > 100 and len(without) > 100
    # companions appear in about half the multi-item baskets, and by chance (~1/60 per pair) without
    assert companion_share(with_pairs) > 0.4
    assert companion_share(without) < 0.15


def test_spend_is_heavy_tailed_and_orders_come_in_local_evening_hours(both: tuple[list, list]) -> None:
    rows, _ = both
    totals = sorted(float(r["total_price"]) for r in rows)
    assert totals[int(0.99 * len(totals))] > 3 * totals[len(totals) // 2]
    zones = {(c.country, c.name): ZoneInfo(c.time_zone) for c in ref.CITIES}
    local_hours = [dt.datetime.fromisoformat(r["created_at"]).astimezone(
        zones[(r["shipping_address"]["country_code"], r["shipping_address"]["city"])]).hour for r in rows]
    evening = sum(17 <= h <= 22 for h in local_hours) / len(local_hours)
    night = sum(1 <= h <= 5 for h in local_hours) / len(local_hours)
    assert evening > 2 * night
    assert {r["currency"] for r in rows} == {"USD", "GBP", "EUR", "AUD"}
