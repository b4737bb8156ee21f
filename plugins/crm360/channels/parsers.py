"""Vendor record shapes -> flat landing rows.

Each parser takes one decoded export record and returns `{entity: [rows]}`, or raises `RowError`
naming the field and what is wrong; the caller quarantines that record and keeps going.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa


class RowError(ValueError):
    """A record that does not fit its vendor schema."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field '{field}': {problem}")
        self.field = field


def _require(record: dict[str, Any], key: str) -> Any:
    value = record.get(key)
    if value is None or value == "":
        raise RowError(key, "required but missing")
    return value


def _ts_epoch(value: Any, key: str) -> datetime:
    # The vendor sends a JSON number. A string here means the export changed shape upstream:
    # quarantine it rather than guess, so the change is seen.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(key, f"expected a unix timestamp as a JSON number, got {type(value).__name__} {value!r}")
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError) as exc:
        raise RowError(key, f"not a unix timestamp: {value!r}") from exc


def _ts_iso(value: Any, key: str, required: bool = True) -> datetime | None:
    if value in (None, ""):
        if required:
            raise RowError(key, "required but missing")
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise RowError(key, f"not an ISO-8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise RowError(key, f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


def _money(value: Any, key: str) -> float | None:
    """Shopify sends amounts as decimal strings ("19.99"); a JSON number is a changed export shape."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RowError(key, f"expected a decimal string such as \"19.99\", got {type(value).__name__} {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise RowError(key, f"not a decimal amount: {value!r}") from exc


def _int(value: Any, key: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise RowError(key, f"not an integer: {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise RowError(key, f"not an integer: {value!r}") from exc


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise RowError(key, f"expected a string, got {type(value).__name__} {value!r}")
    return value


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


TS = pa.timestamp("us", tz="UTC")

SENDGRID_EVENTS = {
    "processed", "delivered", "open", "click", "bounce", "dropped", "spamreport", "unsubscribe",
    "deferred", "group_unsubscribe", "group_resubscribe",
}

SCHEMAS: dict[tuple[str, str], pa.Schema] = {
    ("sendgrid", "email_events"): pa.schema([
        ("sg_event_id", pa.string()), ("sg_message_id", pa.string()), ("email", pa.string()),
        ("event", pa.string()), ("event_at", TS), ("category", pa.string()), ("url", pa.string()),
        ("reason", pa.string()), ("status", pa.string()), ("bounce_type", pa.string()),
        ("useragent", pa.string()), ("ip", pa.string()), ("marketing_campaign_id", pa.string()),
        ("marketing_campaign_name", pa.string()),
    ]),
    ("segment", "events"): pa.schema([
        ("message_id", pa.string()), ("type", pa.string()), ("anonymous_id", pa.string()),
        ("user_id", pa.string()), ("event", pa.string()), ("name", pa.string()),
        ("event_at", TS), ("sent_at", TS), ("received_at", TS), ("traits", pa.string()),
        ("properties", pa.string()), ("context", pa.string()),
    ]),
    ("shopify", "orders"): pa.schema([
        ("order_id", pa.string()), ("order_name", pa.string()), ("email", pa.string()),
        ("customer_id", pa.string()), ("customer_first_name", pa.string()),
        ("customer_last_name", pa.string()), ("customer_phone", pa.string()),
        ("created_at", TS), ("updated_at", TS), ("processed_at", TS), ("cancelled_at", TS),
        ("cancel_reason", pa.string()), ("financial_status", pa.string()), ("currency", pa.string()),
        ("total_price", pa.float64()), ("subtotal_price", pa.float64()), ("total_tax", pa.float64()),
        ("billing_city", pa.string()), ("billing_zip", pa.string()), ("billing_country_code", pa.string()),
    ]),
    ("shopify", "order_lines"): pa.schema([
        ("order_id", pa.string()), ("line_id", pa.string()), ("product_id", pa.string()),
        ("variant_id", pa.string()), ("sku", pa.string()), ("title", pa.string()),
        ("quantity", pa.int64()), ("price", pa.float64()), ("created_at", TS),
    ]),
    ("shopify", "refunds"): pa.schema([
        ("refund_id", pa.string()), ("order_id", pa.string()), ("created_at", TS),
        ("line_id", pa.string()), ("quantity", pa.int64()), ("subtotal", pa.float64()),
    ]),
    ("shopify", "products"): pa.schema([
        ("product_id", pa.string()), ("title", pa.string()), ("product_type", pa.string()),
        ("vendor", pa.string()), ("tags", pa.string()), ("price", pa.float64()),
        ("sku", pa.string()), ("created_at", TS), ("updated_at", TS),
    ]),
}


def parse_sendgrid(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    event = _require(record, "event")
    if event not in SENDGRID_EVENTS:
        raise RowError("event", f"unknown SendGrid event type {event!r}")
    email = _require(record, "email")
    if not isinstance(email, str) or "@" not in email:
        raise RowError("email", "not an email address")
    return {"email_events": [{
        "sg_event_id": str(_require(record, "sg_event_id")),
        "sg_message_id": _str(record.get("sg_message_id")),
        "email": email,
        "event": event,
        "event_at": _ts_epoch(_require(record, "timestamp"), "timestamp"),
        "category": _str(record.get("category")),
        "url": _str(record.get("url")),
        "reason": _str(record.get("reason")),
        "status": _str(record.get("status")),
        "bounce_type": _str(record.get("type")),
        "useragent": _str(record.get("useragent")),
        "ip": _str(record.get("ip")),
        "marketing_campaign_id": _str(record.get("marketing_campaign_id")),
        "marketing_campaign_name": _str(record.get("marketing_campaign_name")),
    }]}


SEGMENT_TYPES = {"identify", "track", "page", "screen", "alias", "group"}


def parse_segment(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    kind = _require(record, "type")
    if kind not in SEGMENT_TYPES:
        raise RowError("type", f"unknown Segment message type {kind!r}")
    if not record.get("anonymousId") and not record.get("userId"):
        raise RowError("anonymousId", "a Segment message needs anonymousId or userId")
    if kind == "track":
        _require(record, "event")
    return {"events": [{
        "message_id": _text(_require(record, "messageId"), "messageId"),
        "type": kind,
        "anonymous_id": _str(record.get("anonymousId")),
        "user_id": _str(record.get("userId")),
        "event": _str(record.get("event")),
        "name": _str(record.get("name")),
        "event_at": _ts_iso(_require(record, "timestamp"), "timestamp"),
        "sent_at": _ts_iso(record.get("sentAt"), "sentAt", required=False),
        "received_at": _ts_iso(record.get("receivedAt"), "receivedAt", required=False),
        "traits": _str(record.get("traits")),
        "properties": _str(record.get("properties")),
        "context": _str(record.get("context")),
    }]}


def parse_shopify_order(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    order_id = str(_require(record, "id"))
    created = _ts_iso(record.get("created_at"), "created_at")
    customer = record.get("customer") or {}
    billing = record.get("billing_address") or {}
    lines = []
    for i, item in enumerate(record.get("line_items") or []):
        quantity = _int(item.get("quantity"), f"line_items[{i}].quantity")
        if quantity is None or quantity < 0:
            raise RowError(f"line_items[{i}].quantity", f"must be a non-negative integer, got {quantity!r}")
        lines.append({
            "order_id": order_id, "line_id": _str(item.get("id")), "product_id": _str(item.get("product_id")),
            "variant_id": _str(item.get("variant_id")), "sku": _str(item.get("sku")),
            "title": _str(item.get("title")), "quantity": quantity,
            "price": _money(item.get("price"), f"line_items[{i}].price"), "created_at": created,
        })
    refunds = []
    for refund in record.get("refunds") or []:
        refund_at = _ts_iso(refund.get("created_at"), "refunds.created_at")
        for item in refund.get("refund_line_items") or []:
            refunds.append({
                "refund_id": _str(refund.get("id")), "order_id": order_id, "created_at": refund_at,
                "line_id": _str(item.get("line_item_id")),
                "quantity": _int(item.get("quantity"), "refund_line_items.quantity"),
                "subtotal": _money(item.get("subtotal"), "refund_line_items.subtotal"),
            })
    order = {
        "order_id": order_id,
        "order_name": _str(record.get("name")),
        "email": _str(record.get("email") or customer.get("email")),
        "customer_id": _str(customer.get("id")),
        "customer_first_name": _str(customer.get("first_name")),
        "customer_last_name": _str(customer.get("last_name")),
        "customer_phone": _str(customer.get("phone") or record.get("phone")),
        "created_at": created,
        "updated_at": _ts_iso(record.get("updated_at"), "updated_at", required=False),
        "processed_at": _ts_iso(record.get("processed_at"), "processed_at", required=False),
        "cancelled_at": _ts_iso(record.get("cancelled_at"), "cancelled_at", required=False),
        "cancel_reason": _str(record.get("cancel_reason")),
        "financial_status": _str(record.get("financial_status")),
        "currency": _str(_require(record, "currency")),
        "total_price": _money(_require(record, "total_price"), "total_price"),
        "subtotal_price": _money(record.get("subtotal_price"), "subtotal_price"),
        "total_tax": _money(record.get("total_tax"), "total_tax"),
        "billing_city": _str(billing.get("city")),
        "billing_zip": _str(billing.get("zip")),
        "billing_country_code": _str(billing.get("country_code")),
    }
    return {"orders": [order], "order_lines": lines, "refunds": refunds}


def parse_shopify_product(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    variants = record.get("variants") or [{}]
    first = variants[0]
    return {"products": [{
        "product_id": str(_require(record, "id")),
        "title": _str(_require(record, "title")),
        "product_type": _str(record.get("product_type")),
        "vendor": _str(record.get("vendor")),
        "tags": _str(record.get("tags")),
        "price": _money(first.get("price"), "variants[0].price"),
        "sku": _str(first.get("sku")),
        "created_at": _ts_iso(record.get("created_at"), "created_at", required=False),
        "updated_at": _ts_iso(record.get("updated_at"), "updated_at", required=False),
    }]}


Parser = Callable[[dict[str, Any]], dict[str, list[dict[str, Any]]]]


# (source, file-name prefix) -> (parser, entities it produces)
EXPORTS: dict[str, list[tuple[str, Parser, tuple[str, ...]]]] = {
    "sendgrid": [("events", parse_sendgrid, ("email_events",))],
    "segment": [("events", parse_segment, ("events",))],
    "shopify": [
        ("orders", parse_shopify_order, ("orders", "order_lines", "refunds")),
        ("products", parse_shopify_product, ("products",)),
    ],
}
