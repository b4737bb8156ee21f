import gzip
import json

import pyarrow.parquet as pq
import pytest

from crm360.channels.land import land_source
from crm360.channels.parsers import RowError, parse_segment, parse_sendgrid, parse_shopify_order


def test_sendgrid_event_is_flattened():
    rows = parse_sendgrid({"email": "A@x.example", "timestamp": 1763600000, "event": "open",
                           "sg_event_id": "e1", "sg_message_id": "m1", "category": ["promo"]})
    (row,) = rows["email_events"]
    assert row["event"] == "open" and row["email"] == "A@x.example"
    assert row["event_at"].year == 2025
    assert row["category"] == '["promo"]'


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"timestamp": 1, "event": "open", "sg_event_id": "e"}, "email"),
        ({"email": "a@x", "timestamp": "yesterday", "event": "open", "sg_event_id": "e"}, "timestamp"),
        ({"email": "a@x", "timestamp": 1, "event": "teleport", "sg_event_id": "e"}, "event"),
    ],
)
def test_bad_sendgrid_records_name_the_field(record, field):
    with pytest.raises(RowError) as info:
        parse_sendgrid(record)
    assert info.value.field == field


def test_segment_needs_an_identity():
    with pytest.raises(RowError, match="anonymousId"):
        parse_segment({"type": "page", "messageId": "m", "timestamp": "2026-11-20T10:00:00Z"})


def test_shopify_order_yields_lines_and_refunds():
    order = {
        "id": 1001, "name": "#1001", "email": "b@x.example", "currency": "USD", "total_price": "30.00",
        "created_at": "2026-11-20T10:00:00-05:00", "customer": {"id": 7, "email": "b@x.example"},
        "line_items": [{"id": 1, "product_id": 9, "quantity": 2, "price": "15.00", "sku": "S"}],
        "refunds": [{"id": 5, "created_at": "2026-11-21T10:00:00Z",
                     "refund_line_items": [{"line_item_id": 1, "quantity": 1, "subtotal": "15.00"}]}],
    }
    parsed = parse_shopify_order(order)
    assert parsed["orders"][0]["total_price"] == 30.0
    assert parsed["orders"][0]["created_at"].hour == 15  # converted to UTC
    assert parsed["order_lines"][0]["quantity"] == 2
    assert parsed["refunds"][0]["subtotal"] == 15.0


def test_landing_quarantines_bad_rows_and_keeps_them(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    day = inbox / "sendgrid" / "2026-11-20"
    day.mkdir(parents=True)
    good = {"email": "a@x.example", "timestamp": 1763600000, "event": "delivered", "sg_event_id": "e1"}
    bad = {"email": "a@x.example", "timestamp": "soon", "event": "delivered", "sg_event_id": "e2"}
    with gzip.open(day / "events.ndjson.gz", "wt") as handle:
        handle.write(json.dumps(good) + "\n" + json.dumps(bad) + "\n{not json\n")
    result = land_source(inbox, landing, "sendgrid", "2026-11-20")
    assert result.rows == {"email_events": 1}
    assert result.quarantined == 2
    kept = pq.read_table(landing / "_quarantine" / "sendgrid" / "events" / "ds=2026-11-20" / "part-00000.parquet")
    assert kept.num_rows == 2
    assert {r["line"] for r in kept.to_pylist()} == {2, 3}
    assert any("timestamp" in r["reason"] for r in kept.to_pylist())


def test_a_day_without_files_lands_an_empty_partition(tmp_path):
    result = land_source(tmp_path / "inbox", tmp_path / "landing", "shopify", "2026-11-20")
    assert result.rows == {"orders": 0, "order_lines": 0, "refunds": 0, "products": 0}
    table = pq.read_table(tmp_path / "landing" / "shopify" / "orders" / "ds=2026-11-20" / "part-00000.parquet")
    assert table.num_rows == 0 and "total_price" in table.column_names


def _sendgrid(n: int) -> list[bytes]:
    return [json.dumps({"email": f"p{i}@x.example", "timestamp": 1763600000 + i, "event": "delivered",
                        "sg_event_id": f"e{i}"}).encode() for i in range(n)]


def test_bad_bytes_and_oversized_lines_cost_one_record_each(tmp_path):
    from crm360.channels.land import MAX_LINE_BYTES

    day = tmp_path / "inbox" / "sendgrid" / "2026-11-20"
    day.mkdir(parents=True)
    lines = _sendgrid(3)
    lines.insert(1, b'{"email": "caf\xe9@x.example", "timestamp": 1, "event": "open", "sg_event_id": "x"}')
    lines.append(json.dumps({"email": "a@x.example", "timestamp": 1, "event": "open", "sg_event_id": "big",
                             "category": "z" * MAX_LINE_BYTES}).encode())
    (day / "events.ndjson").write_bytes(b"\n".join(lines) + b"\n\n")
    result = land_source(tmp_path / "inbox", tmp_path / "landing", "sendgrid", "2026-11-20")
    assert result.rows == {"email_events": 3}
    assert result.quarantine_reasons == {"events.<encoding>": 1, "events.<line>": 1}
    (stats,) = result.file_stats
    assert (stats.file, stats.read, stats.landed, stats.quarantined) == ("sendgrid/2026-11-20/events.ndjson", 5, 3, 2)
    kept = pq.read_table(tmp_path / "landing" / "_quarantine" / "sendgrid" / "events" / "ds=2026-11-20").to_pylist()
    assert [(r["line"], r["field"]) for r in kept] == [(2, "<encoding>"), (5, "<line>")]
    assert "not valid UTF-8 at byte" in kept[0]["reason"]


def test_re_landing_a_day_gives_identical_partitions(tmp_path):
    day = tmp_path / "inbox" / "sendgrid" / "2026-11-20"
    day.mkdir(parents=True)
    (day / "events.ndjson").write_bytes(b"\n".join([*_sendgrid(20), b"{broken"]) + b"\n")

    def snapshot() -> dict:
        return {p.relative_to(tmp_path / "landing").as_posix(): p.read_bytes()
                for p in sorted((tmp_path / "landing").rglob("*.parquet"))}

    land_source(tmp_path / "inbox", tmp_path / "landing", "sendgrid", "2026-11-20")
    first = snapshot()
    land_source(tmp_path / "inbox", tmp_path / "landing", "sendgrid", "2026-11-20")
    assert snapshot() == first and len(first) == 2


def test_exports_are_read_from_an_object_store_uri_and_quarantine_is_queryable(tmp_path, monkeypatch):
    import duckdb
    from upath import UPath

    from crm360 import tasks
    from crm360.rundate import RunWindow
    from crm360.settings import Settings

    day = UPath("memory://crm360-inbox/sendgrid/2026-11-20")
    day.mkdir(parents=True, exist_ok=True)
    with (day / "events.ndjson.gz").open("wb") as handle:
        handle.write(gzip.compress(b"\n".join([*_sendgrid(4), b"{broken"]) + b"\n"))
    monkeypatch.setenv("CRM360_HOME", str(tmp_path))
    monkeypatch.setenv("CRM360_INBOX", "memory://crm360-inbox")
    for name in ("CRM360_WAREHOUSE", "CRM360_LANDING", "CRM360_REPORTS"):
        monkeypatch.delenv(name, raising=False)
    summary = tasks.land_channels(RunWindow.for_day("2026-11-20"), Settings.from_env())
    assert summary["sendgrid"]["rows"] == {"email_events": 4} and summary["sendgrid"]["quarantined"] == 1
    con = duckdb.connect(str(tmp_path / "warehouse" / "crm360.duckdb"), read_only=True)
    rows = con.execute("select source, export, cast(ds as varchar), file, line, field "
                       "from crm360_ops.quarantined_rows").fetchall()
    con.close()
    assert rows == [("sendgrid", "events", "2026-11-20", "sendgrid/2026-11-20/events.ndjson.gz", 5, "<json>")]


def test_quarantine_reasons_redact_emails_and_phones_and_the_raw_line_is_kept(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    day = inbox / "segment" / "2026-11-20"
    day.mkdir(parents=True)
    # a message id sent as an object: the parser's message quotes the value, which names the person
    bad = {"type": "identify", "anonymousId": "a1", "timestamp": "2026-11-20T10:00:00Z",
           "messageId": {"user": "Ada.Lovelace@example.com", "phone": "+44 20 7946 0018"}}
    (day / "events.ndjson").write_text(json.dumps(bad) + "\n")
    result = land_source(inbox, landing, "segment", "2026-11-20")
    assert result.quarantined == 1
    (kept,) = pq.read_table(landing / "_quarantine" / "segment" / "events" / "ds=2026-11-20").to_pylist()
    assert kept["field"] == "messageId" and "expected a string" in kept["reason"]
    assert "lovelace" not in kept["reason"].lower() and "7946" not in kept["reason"]
    assert "<email>" in kept["reason"] and "<phone>" in kept["reason"]
    assert "Ada.Lovelace@example.com" in kept["raw"]  # the record itself is kept to be fixed and replayed
