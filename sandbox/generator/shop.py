"""Shopify orders from a buy-till-you-die process.

Each living customer buys at their own rate (scaled by season and weekday), at hours typical for
their local time; after each order they may leave for good. Baskets follow category affinity and
climate (winter coats in cold places and months) and often pair a product with its companion: in the
same basket, or as the first item of the buyer's next order (completing the earlier purchase).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox.generator import reference as ref
from sandbox.generator.catalog import CATEGORIES, season_coldness
from sandbox.generator.context import SimContext, hour_seconds
from sandbox.generator.formats import e164
from sandbox.generator.timeutil import iso_offset

# Relative demand by local hour (0..23) and weekday (Monday..Sunday).
ORDER_HOURS = np.array([0.3, 0.15, 0.1, 0.08, 0.08, 0.15, 0.4, 0.8, 1.1, 1.2, 1.3, 1.4,
                        1.6, 1.5, 1.3, 1.2, 1.2, 1.4, 1.7, 2.0, 2.2, 2.0, 1.4, 0.7])
WEEKDAY = np.array([1.0, 0.95, 0.97, 1.0, 0.95, 0.9, 1.15])
MONTH = {1: 0.85, 2: 0.8, 3: 0.9, 4: 0.92, 5: 0.95, 6: 0.9, 7: 0.88, 8: 0.92, 9: 1.0, 10: 1.05,
         11: 1.3, 12: 1.45}
# Share of next orders that start with the companion of something bought without it before.
FOLLOW_UP_SHARE = 0.4
CANCEL_REASONS = ("customer", "inventory", "fraud", "declined")
CATEGORY_CLIMATE = np.array([c.climate for c in CATEGORIES])


def season(day: dt.date) -> float:
    """Demand multiplier for a day: month, plus Black Friday week and Cyber Monday."""
    factor = MONTH[day.month]
    nov1 = dt.date(day.year, 11, 1)
    thanksgiving = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7 + 21)
    black_friday = thanksgiving + dt.timedelta(days=1)
    if day == black_friday:
        factor *= 2.6
    elif day == black_friday + dt.timedelta(days=3):
        factor *= 1.9
    elif black_friday - dt.timedelta(days=5) <= day < black_friday + dt.timedelta(days=3):
        factor *= 1.3
    return factor


@dataclass
class Purchase:
    person: int
    epoch: int
    order: dict[str, Any]


def _money(value: float) -> str:
    return f"{value:.2f}"


def product_weights(ctx: SimContext, people: np.ndarray, day: dt.date) -> np.ndarray:
    """(len(people), products) probabilities from affinity and how cold it is where they live."""
    p = ctx.persons
    southern = np.array([ref.COUNTRIES[c].southern for c in p.country[people]])
    city_cold = np.array([ref.CITIES[c].cold for c in p.city[people]])
    month_cold = np.where(southern, season_coldness(day.month, True), season_coldness(day.month, False))
    cold = month_cold * (0.3 + 0.7 * city_cold)
    cat_weight = p.affinity[people] * np.exp(np.outer(cold - 0.5, CATEGORY_CLIMATE) * 2.5)
    weights = cat_weight[:, ctx.catalog.category]
    return weights / weights.sum(axis=1, keepdims=True)


def _address(ctx: SimContext, i: int) -> dict[str, Any]:
    p = ctx.persons
    city = ref.CITIES[p.city[i]]
    country = ref.COUNTRIES[p.country[i]]
    return {
        "first_name": ctx.shop_first_name[i] if ctx.shop_first_name else p.first_name[i],
        "last_name": p.last_name[i],
        "address1": p.street[i],
        "city": city.name,
        "province": city.state,
        "zip": p.postal_code[i],
        "country": country.name,
        "country_code": country.code,
        "phone": ctx.shop_phone[i],
    }


def build_order(ctx: SimContext, rng: np.random.Generator, i: int, epoch: int, weights: np.ndarray) -> dict:
    """One Shopify order object for person ``i`` placed at ``epoch``."""
    p, cat = ctx.persons, ctx.catalog
    country = ref.COUNTRIES[p.country[i]]
    target = float(p.order_value_usd[i] * np.exp(rng.normal(0.0, 0.3)))
    follow_up = ctx.follow_ups.pop(i, None) if ctx.options.co_purchase else None
    if follow_up is not None and rng.random() < FOLLOW_UP_SHARE:
        chosen = [follow_up]  # completing an earlier purchase (the parka's beanie, a month later)
    else:
        chosen = [int(rng.choice(cat.size, p=weights))]
    subtotal_usd = float(cat.price_usd[chosen[0]])
    while len(chosen) < 5:
        if rng.random() < 0.35 and ctx.options.co_purchase and int(cat.companion[chosen[-1]]) not in chosen:
            chosen.append(int(cat.companion[chosen[-1]]))
        elif subtotal_usd < 0.7 * target:
            pick = int(rng.choice(cat.size, p=weights))
            if pick in chosen:
                break
            chosen.append(pick)
        else:
            break
        subtotal_usd += float(cat.price_usd[chosen[-1]])

    if ctx.options.co_purchase:
        missing = [int(cat.companion[k]) for k in chosen if int(cat.companion[k]) not in chosen]
        if missing:
            ctx.follow_ups[i] = missing[0]
    lines, subtotal = [], 0.0
    for k in chosen:
        variant = int(rng.integers(0, len(cat.variant_ids[k])))
        quantity = 1 if rng.random() < 0.9 else int(rng.integers(2, 4))
        price = round(float(cat.price_usd[k]) * country.fx_from_usd, 2)
        subtotal += price * quantity
        sku = cat.skus[k][variant]
        size = sku.rsplit("-", 1)[-1]
        lines.append(
            {
                "id": 14_300_000_000_000 + ctx.next("line_item") * 7,
                "product_id": int(cat.product_id[k]),
                "variant_id": cat.variant_ids[k][variant],
                "title": cat.title[k],
                "variant_title": None if size == "OS" else size,
                "name": cat.title[k] if size == "OS" else f"{cat.title[k]} - {size}",
                "sku": sku,
                "vendor": cat.vendor[k],
                "quantity": quantity,
                "price": _money(price),
            }
        )
    subtotal = round(subtotal, 2)
    tax = round(subtotal * country.tax_rate, 2)
    seq = ctx.next("order")
    number = ctx.counters.setdefault("order_number_base", 1001) + seq
    order_id = 5_710_400_000_000 + seq * 1_009
    created = iso_offset(epoch, ref.SHOP_TIME_ZONE)
    updated_epoch = epoch + int(rng.integers(5, 600))
    customer_id = int(p.shopify_customer_id[i])
    order: dict[str, Any] = {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}",
        "order_number": number,
        "email": ctx.shop_email[i],
        "phone": ctx.shop_phone[i],
        "created_at": created,
        "processed_at": created,
        "updated_at": None,
        "currency": country.currency,
        "presentment_currency": country.currency,
        "subtotal_price": _money(subtotal),
        "total_line_items_price": _money(subtotal),
        "total_discounts": "0.00",
        "total_tax": _money(tax),
        "total_price": _money(subtotal + tax),
        "taxes_included": False,
        "financial_status": "paid",
        "fulfillment_status": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "source_name": "web",
        "browser_ip": ctx.device_ip(i, 0),
        "landing_site": "/",
        "tags": "",
        "test": False,
        "customer": {
            "id": customer_id,
            "email": ctx.shop_email[i],
            "first_name": ctx.shop_first_name[i] if ctx.shop_first_name else p.first_name[i],
            "last_name": p.last_name[i],
            "phone": ctx.shop_phone[i],
        },
        "billing_address": _address(ctx, i),
        "shipping_address": _address(ctx, i),
        "line_items": lines,
        "refunds": [],
    }
    u = rng.random()
    if u < 0.015:
        updated_epoch = epoch + int(rng.integers(1_800, 12 * 3_600))
        order["cancelled_at"] = iso_offset(updated_epoch, ref.SHOP_TIME_ZONE)
        order["cancel_reason"] = CANCEL_REASONS[int(rng.integers(0, len(CANCEL_REASONS)))]
        order["financial_status"] = "voided"
    elif u < 0.055:
        updated_epoch = epoch + int(rng.integers(3_600, 20 * 3_600))
        line = lines[int(rng.integers(0, len(lines)))]
        order["refunds"] = [
            {
                "id": 980_100_000_000 + ctx.next("refund") * 13,
                "order_id": order_id,
                "created_at": iso_offset(updated_epoch, ref.SHOP_TIME_ZONE),
                "note": "Returned by customer",
                "refund_line_items": [
                    {
                        "id": 410_200_000_000 + ctx.next("refund_line") * 11,
                        "line_item_id": line["id"],
                        "quantity": line["quantity"],
                        "subtotal": _money(float(line["price"]) * line["quantity"]),
                    }
                ],
            }
        ]
        order["financial_status"] = "refunded" if len(lines) == 1 else "partially_refunded"
    order["updated_at"] = iso_offset(updated_epoch, ref.SHOP_TIME_ZONE)
    return order


def simulate_orders(
    ctx: SimContext, rng: np.random.Generator, day: dt.date, day_index: int, midnights: np.ndarray
) -> list[Purchase]:
    """The day's orders (by local date); queues them and returns them for web sessions."""
    p = ctx.persons
    rate = p.purchase_rate / 365.0 * season(day) * WEEKDAY[day.weekday()]
    counts = rng.poisson(rate) * p.alive
    buyers = np.flatnonzero(counts)
    if len(buyers) == 0:
        return []
    weights = product_weights(ctx, buyers, day)
    planned = []
    for row, i in enumerate(buyers.tolist()):
        midnight = ctx.local_midnight(midnights, i, day_index)
        for sec in hour_seconds(rng, ORDER_HOURS, int(counts[i])).tolist():
            planned.append((midnight + int(sec), i, row))
    planned.sort()
    purchases: list[Purchase] = []
    for epoch, i, row in planned:
        if not p.alive[i]:
            continue
        order = build_order(ctx, rng, i, epoch, weights[row])
        p.has_shop_account[i] = True
        arrival, lateness = ctx.arrival(rng, epoch)
        if ctx.options.history_days and ctx.first_day is not None and arrival < ctx.first_day:
            arrival, lateness = ctx.first_day, 0  # history: part of the initial export
        landed = ctx.emit("shopify", arrival, epoch, order, lateness, i,
                          (("shopify_customer", str(order["customer"]["id"]), 0),))
        if landed and ctx.window_orders is not None:
            ctx.window_orders[i] += 1
        purchases.append(Purchase(i, epoch, order))
        if rng.random() < p.dropout_prob[i]:
            p.alive[i] = False
    return purchases


def shop_contact_points(persons_email: list[str], rng: np.random.Generator, country: np.ndarray,
                        mobile_nsn: list[str], mess: bool = True) -> tuple[list[str], list[str | None]]:
    """The email and phone each person typed at checkout: sometimes a +tag, capitals or stray blanks
    (unless ``mess`` is off); the phone in E.164."""
    n = len(persons_email)
    u = rng.random(n).tolist()
    has_phone = (rng.random(n) < 0.6).tolist()
    emails, phones = [], []
    for i in range(n):
        email = persons_email[i]
        if not mess:
            pass
        elif u[i] < 0.05:
            local, _, domain = email.partition("@")
            email = f"{local}+shop@{domain}"
        elif u[i] < 0.13:
            local, _, domain = email.partition("@")
            email = f"{local.capitalize()}@{domain}"
        elif u[i] < 0.15:
            email = f" {email} " if u[i] < 0.14 else f"{email}\n"
        emails.append(email)
        phones.append(e164(ref.COUNTRIES[country[i]].calling_code, mobile_nsn[i]) if has_phone[i] else None)
    return emails, phones


def shop_first_names(first_names: list[str], rng: np.random.Generator, mess: bool = True) -> list[str]:
    """The first name each person gives at checkout: a nickname for some, when they have one."""
    if not mess:
        return list(first_names)
    u = rng.random(len(first_names)).tolist()
    return [ref.NICKNAMES.get(name, name) if x < 0.15 else name for name, x in zip(first_names, u, strict=True)]
