"""Segment messages (identify / track / page) from browsing sessions on the shop.

A browser has an anonymousId from its first visit; it sends the shop customer id as userId from
the moment the person logs in or checks out (identify), and keeps sending it afterwards. People
without a shop account stay anonymous. Sessions that add to the cart without an order are
abandoned carts; every tracked order ends with Order Completed carrying the Shopify order id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox.generator import reference as ref
from sandbox.generator.catalog import CATEGORIES
from sandbox.generator.context import SimContext, hour_seconds
from sandbox.generator.ids import stable_hex
from sandbox.generator.shop import Purchase, product_weights
from sandbox.generator.timeutil import DAY, day_start, iso_ms_z, utc_day

WEB_HOURS = np.array([0.4, 0.2, 0.1, 0.08, 0.08, 0.2, 0.5, 0.9, 1.1, 1.1, 1.1, 1.2,
                      1.4, 1.3, 1.2, 1.2, 1.2, 1.4, 1.7, 2.0, 2.2, 2.1, 1.6, 0.9])
WEB_WEEKDAY = np.array([1.0, 0.95, 0.95, 1.0, 0.9, 1.0, 1.2])
TRACKED_ORDER_SHARE = 0.85  # the rest buy with tracking blocked
LIBRARY = {"name": "analytics.js", "version": "next-1.72.0"}


@dataclass
class EmailVisit:
    person: int
    epoch: int
    url: str
    product: int
    campaign: str


@dataclass
class _Step:
    offset: int
    kind: str  # identify / page / track
    body: dict[str, Any]
    page: dict[str, Any]


def _page(path: str, title: str, referrer: str = "") -> dict[str, Any]:
    url = f"https://{ref.SHOP_DOMAIN}{path}"
    return {"path": path.split("?")[0], "url": url, "title": title, "referrer": referrer, "search": ""}


def _product_props(ctx: SimContext, k: int, fx: float, currency: str, quantity: int = 1) -> dict[str, Any]:
    cat = ctx.catalog
    return {
        "product_id": str(int(cat.product_id[k])),
        "sku": cat.skus[k][0],
        "category": CATEGORIES[int(cat.category[k])].name,
        "name": cat.title[k],
        "brand": cat.vendor[k],
        "price": round(float(cat.price_usd[k]) * fx, 2),
        "quantity": quantity,
        "currency": currency,
        "url": f"https://{ref.SHOP_DOMAIN}/products/{cat.handles[k]}",
    }


def _session_steps(
    ctx: SimContext,
    rng: np.random.Generator,
    i: int,
    views: list[int],
    adds: list[int],
    purchase: Purchase | None,
    landing: str | None,
    referrer: str,
) -> list[_Step]:
    country = ref.COUNTRIES[ctx.persons.country[i]]
    fx, currency = country.fx_from_usd, country.currency
    cart_id = stable_hex(ctx.seed, "cart", ctx.next("cart"))
    steps: list[_Step] = []
    t = 0

    def step(kind: str, body: dict[str, Any], page: dict[str, Any], gap: tuple[int, int] = (8, 90)) -> None:
        nonlocal t
        steps.append(_Step(t, kind, body, page))
        t += int(rng.integers(*gap))

    home = _page(landing or "/", "Northwind Outfitters", referrer)
    step("page", {"name": "Home" if landing is None else "Landing"}, home)
    for k in views:
        page = _page(f"/products/{ctx.catalog.handles[k]}", ctx.catalog.title[k])
        step("page", {"name": "Product"}, page, (2, 6))
        step("track", {"event": "Product Viewed", "properties": _product_props(ctx, k, fx, currency)}, page,
             (15, 150))
    for k in adds:
        page = _page(f"/products/{ctx.catalog.handles[k]}", ctx.catalog.title[k])
        props = {"cart_id": cart_id, **_product_props(ctx, k, fx, currency)}
        step("track", {"event": "Product Added", "properties": props}, page, (5, 60))
    if not adds:
        return steps
    cart = _page("/cart", "Your cart")
    products = [_product_props(ctx, k, fx, currency) for k in adds]
    value = round(sum(pr["price"] for pr in products), 2)
    if purchase is not None or rng.random() < 0.6:
        step("track", {"event": "Cart Viewed", "properties": {"cart_id": cart_id, "products": products}}, cart)
    if purchase is None and rng.random() >= 0.35:
        return steps
    checkout = _page("/checkout", "Checkout")
    step("track", {"event": "Checkout Started",
                   "properties": {"cart_id": cart_id, "value": value, "revenue": value, "currency": currency,
                                  "products": products}}, checkout, (60, 400))
    if purchase is None:
        return steps
    order = purchase.order
    step("identify", {"traits": {"email": ctx.shop_email[i], "first_name": ctx.persons.first_name[i],
                                 "last_name": ctx.persons.last_name[i]}}, checkout, (1, 4))
    lines = [
        {"product_id": str(li["product_id"]), "sku": li["sku"], "name": li["title"],
         "price": float(li["price"]), "quantity": li["quantity"]}
        for li in order["line_items"]
    ]
    step("track", {"event": "Order Completed",
                   "properties": {"order_id": str(order["id"]), "checkout_id": cart_id,
                                  "total": float(order["total_price"]),
                                  "subtotal": float(order["subtotal_price"]),
                                  "revenue": float(order["subtotal_price"]), "tax": float(order["total_tax"]),
                                  "currency": order["currency"], "products": lines}},
         _page("/checkout/thank_you", "Thank you"))
    return steps


def _emit_session(ctx: SimContext, rng: np.random.Generator, i: int, start: int, steps: list[_Step],
                  campaign: str | None) -> None:
    p = ctx.persons
    assert ctx.identified is not None
    device = int(rng.integers(0, p.devices[i]))
    anon = ctx.anonymous_id(i, device)
    user_id = str(int(p.shopify_customer_id[i]))
    if p.has_shop_account[i] and not ctx.identified[i, device] and rng.random() < 0.3:
        # logs in at the start of the visit
        steps.insert(0, _Step(steps[0].offset, "identify",
                              {"traits": {"email": ctx.shop_email[i]}}, steps[0].page))
    base_context = {
        "ip": ctx.device_ip(i, device),
        "userAgent": ctx.device_agent(i, device),
        "locale": ref.COUNTRIES[p.country[i]].locale,
        "timezone": p.time_zone(i),
        "library": LIBRARY,
    }
    if campaign:
        base_context["campaign"] = {"source": "sendgrid", "medium": "email", "name": campaign}
    for s in steps:
        t = start + s.offset + float(rng.integers(0, 1000)) / 1000.0
        if s.kind == "identify":
            ctx.identified[i, device] = True
        known = bool(ctx.identified[i, device])
        sent = t + float(rng.integers(20, 900)) / 1000.0
        arrival, lateness = ctx.arrival(rng, sent)
        received = sent + float(rng.integers(30, 400)) / 1000.0
        if lateness:  # a phone that was offline: sent and received later than it happened
            sent = day_start(arrival) + float(rng.integers(0, DAY - 60))
            received = sent + 0.2
        message: dict[str, Any] = {
            "type": s.kind,
            "messageId": ctx.message_id(),
            "anonymousId": anon,
            "userId": user_id if known else None,
            "timestamp": iso_ms_z(t),
            "sentAt": iso_ms_z(sent),
            "receivedAt": iso_ms_z(received),
            **s.body,
            "context": {**base_context, "page": s.page},
            "integrations": {},
        }
        if s.kind == "page":
            message["properties"] = {"name": s.body["name"], "url": s.page["url"], "path": s.page["path"],
                                     "title": s.page["title"], "referrer": s.page["referrer"]}
        keys: tuple[tuple[str, str, int], ...] = (("segment_anonymous", anon, device),)
        if known:
            keys += (("shopify_customer", user_id, 0),)
        ctx.emit("segment", utc_day(received), t, message, lateness, i, keys)


def _views(rng: np.random.Generator, weights: np.ndarray, size: int) -> list[int]:
    picks = rng.choice(len(weights), size=size, p=weights).tolist()
    return list(dict.fromkeys(int(k) for k in picks))


def simulate_web(
    ctx: SimContext,
    rng: np.random.Generator,
    day: dt.date,
    day_index: int,
    midnights: np.ndarray,
    purchases: list[Purchase],
    visits: list[EmailVisit],
) -> None:
    """Queue the day's Segment messages: order sessions, email click-throughs and plain browsing."""
    p = ctx.persons
    pid_to_index = {int(v): k for k, v in enumerate(ctx.catalog.product_id.tolist())}
    for purchase in purchases:
        if rng.random() >= TRACKED_ORDER_SHARE:
            continue
        i = purchase.person
        bought = [pid_to_index[li["product_id"]] for li in purchase.order["line_items"]]
        steps = _session_steps(ctx, rng, i, bought, bought, purchase, None, "")
        start = purchase.epoch - steps[-1].offset
        _emit_session(ctx, rng, i, start, steps, None)

    for visit in visits:
        i = visit.person
        steps = _session_steps(ctx, rng, i, [visit.product], [visit.product] if rng.random() < 0.25 else [],
                               None, visit.url.removeprefix(f"https://{ref.SHOP_DOMAIN}"), "")
        _emit_session(ctx, rng, i, visit.epoch + int(rng.integers(1, 5)), steps, visit.campaign)

    rate = p.web_rate / 365.0 * WEB_WEEKDAY[day.weekday()] * np.where(p.alive, 1.0, 0.3)
    counts = rng.poisson(rate)
    browsers = np.flatnonzero(counts)
    if len(browsers) == 0:
        return
    weights = product_weights(ctx, browsers, day)
    for row, i in enumerate(browsers.tolist()):
        midnight = ctx.local_midnight(midnights, i, day_index)
        for sec in hour_seconds(rng, WEB_HOURS, int(counts[i])).tolist():
            views = _views(rng, weights[row], 1 + min(int(rng.geometric(0.45)), 6))
            adds = [k for k in views if rng.random() < 0.2]
            referrer = ("", "https://www.google.example/", "https://social.example/")[int(rng.integers(0, 3))]
            steps = _session_steps(ctx, rng, i, views, adds, None, None, referrer)
            _emit_session(ctx, rng, i, midnight + int(sec), steps, None)
