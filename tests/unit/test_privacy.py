"""Right to be forgotten, the pure parts: normalisation and hashing, and the landing filter."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crm360 import landing, privacy
from crm360.channels.land import land_source
from crm360.channels.parsers import SCHEMAS


def test_email_is_trimmed_and_lower_cased() -> None:
    assert privacy.normalize("email", "  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    assert privacy.normalize("email", "not an email") is None
    assert privacy.normalize("email", "") is None


@pytest.mark.parametrize("written", ["+44 20 7946 0018", "020 7946 0018", "0044 20 7946 0018", "+442079460018",
                                     "(020) 7946-0018"])
def test_every_way_of_writing_a_phone_number_is_one_number(written: str) -> None:
    assert privacy.normalize("phone", written) == "079460018"


def test_short_numbers_and_placeholders_identify_nobody() -> None:
    assert privacy.normalize("phone", "12345") is None
    assert privacy.normalize("phone", "000-000-0000") is None
    assert privacy.normalize("phone", "999 999 9999") is None


def test_ids_keep_their_case() -> None:
    assert privacy.normalize("sfdc_id", " 003AbC ") == "003AbC"


def test_the_hash_is_sha256_of_salt_kind_and_normalized_value() -> None:
    expected = hashlib.sha256(b"pepper" + b"email:ada@example.com").hexdigest()
    assert privacy.identifier_hash("email", " ADA@example.com", "pepper") == expected
    assert privacy.identifier_hash("email", "ada@example.com", "salt") != expected
    assert privacy.identifier_hash("phone", "12") is None


def test_the_salt_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(privacy.SALT_CONN_ENV, raising=False)
    monkeypatch.delenv(privacy.SALT_ENV, raising=False)
    assert privacy.load_salt() == ""
    monkeypatch.setenv(privacy.SALT_ENV, "s3cret")
    assert privacy.load_salt() == "s3cret"


def test_sql_phone_normalisation_matches_python() -> None:
    values = ["+44 20 7946 0018", "0044 20 7946 0018", "1-415-555-0100", "000 000 0000", "123", None]
    sql = privacy._phone_sql("v")
    found = [duckdb.execute(f"select {sql} from (select ?::varchar as v)", [v]).fetchone()[0] for v in values]
    assert found == [privacy.normalize("phone", v) for v in values]


def _suppression(*identifiers: tuple[str, str], salt: str = "salt") -> privacy.Suppression:
    return privacy.Suppression(frozenset(privacy.identifier_hash(k, v, salt) for k, v in identifiers), salt)


def test_salesforce_rows_of_a_forgotten_person_and_rows_pointing_at_them_are_dropped() -> None:
    suppression = _suppression(("email", "ada@example.com"), ("sfdc_id", "003000000000001AAA"))
    contacts = pa.table({"Id": ["003000000000001AAA", "003000000000002AAA", "003000000000003AAA"],
                         "Email": ["x@example.com", "other@example.com", " ADA@Example.com"],
                         "Phone": ["+1 415 555 0100", None, None]})
    kept, dropped = suppression.filter(contacts, "salesforce", "contact")
    assert dropped == 2
    assert kept.column("Id").to_pylist() == ["003000000000002AAA"]
    tasks = pa.table({"Id": ["00T1", "00T2"], "WhoId": ["003000000000001AAA", "003000000000002AAA"],
                      "Subject": ["Call", "Call"]})
    kept, dropped = suppression.filter(tasks, "salesforce", "task")
    assert (dropped, kept.column("Id").to_pylist()) == (1, ["00T2"])


def test_an_empty_list_drops_nothing() -> None:
    table = pa.table({"email": ["ada@example.com"]})
    assert privacy.Suppression().filter(table, "sendgrid", "email_events") == (table, 0)


def test_segment_events_by_anonymous_id_user_id_and_traits_email() -> None:
    suppression = _suppression(("email", "ada@example.com"), ("anonymous_id", "anon-1"), ("user_id", "42"))
    events = pa.table({
        "message_id": ["m1", "m2", "m3", "m4", "m5"],
        "anonymous_id": ["anon-1", "anon-2", "anon-3", "anon-4", "anon-5"],
        "user_id": [None, "42", None, None, "43"],
        "traits": [None, None, json.dumps({"email": "Ada@example.com"}), "not json", json.dumps({"email": "b@x.io"})],
    })
    kept, dropped = suppression.filter(events, "segment", "events")
    assert dropped == 3
    assert kept.column("message_id").to_pylist() == ["m4", "m5"]


def test_a_dropped_order_takes_its_lines_and_refunds_with_it() -> None:
    suppression = _suppression(("phone", "+1 415 555 0100"))
    ts = datetime(2026, 11, 20, tzinfo=UTC)
    tables = {
        "orders": pa.Table.from_pylist([
            {"order_id": "1", "email": "a@x.io", "customer_phone": "(415) 555-0100", "created_at": ts},
            {"order_id": "2", "email": "b@x.io", "customer_phone": None, "created_at": ts},
        ], schema=SCHEMAS[("shopify", "orders")]),
        "order_lines": pa.Table.from_pylist([{"order_id": "1", "line_id": "l1"}, {"order_id": "2", "line_id": "l2"}],
                                            schema=SCHEMAS[("shopify", "order_lines")]),
        "refunds": pa.Table.from_pylist([{"order_id": "1", "refund_id": "r1"}], schema=SCHEMAS[("shopify", "refunds")]),
    }
    kept, dropped = privacy.filter_export(tables, "shopify", "orders", suppression)
    assert dropped == [0]
    assert kept["orders"].column("order_id").to_pylist() == ["2"]
    assert kept["order_lines"].column("line_id").to_pylist() == ["l2"]
    assert kept["refunds"].num_rows == 0


def test_quarantined_raw_lines_with_their_email_or_phone_are_dropped() -> None:
    suppression = _suppression(("email", "ada@example.com"), ("phone", "+44 20 7946 0018"))
    bad = pa.table({"file": ["f"] * 3, "line": [1, 2, 3], "field": ["x"] * 3, "reason": ["r"] * 3,
                    "raw": ['{"email": "ADA@example.com", "timestamp": "x"}', '{"phone": "020 7946 0018"}',
                            '{"email": "someone@else.io"}']})
    assert suppression.dropped_rows(bad, landing.QUARANTINE_SOURCE, "events") == [0, 1]


def _write(inbox: Path, ds: str, name: str, records: list[object]) -> None:
    folder = inbox / "sendgrid" / ds
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))


def test_landing_drops_and_counts_suppressed_records_instead_of_quarantining_them(tmp_path: Path) -> None:
    ds = "2026-11-20"
    ts = datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()
    inbox, root = tmp_path / "inbox", tmp_path / "landing"
    _write(inbox, ds, "events.ndjson", [
        {"sg_event_id": "e1", "email": "Ada@Example.com", "event": "open", "timestamp": ts},
        {"sg_event_id": "e2", "email": "bob@example.com", "event": "open", "timestamp": ts},
        {"sg_event_id": "e3", "email": "ada@example.com", "event": "bogus", "timestamp": ts},  # bad and hers
        {"sg_event_id": "e4", "email": "eve@example.com", "event": "bogus", "timestamp": ts},  # bad
    ])
    landed = land_source(inbox, root, "sendgrid", ds, _suppression(("email", "ada@example.com")))
    assert landed.suppressed == 2
    assert landed.rows == {"email_events": 1}
    assert landed.quarantined == 1
    (stats,) = landed.file_stats
    assert (stats.read, stats.landed, stats.quarantined, stats.suppressed) == (4, 1, 1, 2)
    text = json.dumps(pq.read_table(landing.partition_path(root, "sendgrid", "email_events", ds)).to_pylist(),
                      default=str)
    text += json.dumps(pq.read_table(landing.quarantine_path(root, "sendgrid", "events", ds)).to_pylist(), default=str)
    assert "ada@" not in text.lower()
    assert "bob@example.com" in text and "eve@example.com" in text
    # without the list the same files land as before
    assert land_source(inbox, root, "sendgrid", ds).rows == {"email_events": 2}


def test_scrub_landing_rewrites_only_the_partitions_holding_them(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    landing.write_partition(pa.table({"Id": ["003A", "003B"], "Email": ["ada@example.com", "b@x.io"]}), root,
                            "salesforce", "contact", "2026-11-19")
    landing.write_partition(pa.table({"Id": ["003B"], "Email": ["b@x.io"]}), root, "salesforce", "contact",
                            "2026-11-20")
    landing.write_partition(pa.table({"Id": ["00v1"], "ContactId": ["003A"]}), root, "salesforce", "campaignmember",
                            "2026-11-20")
    before = landing.partition_path(root, "salesforce", "contact", "2026-11-20").stat().st_mtime_ns
    counts = privacy.scrub_landing(root, _suppression(("email", "ada@example.com"), ("sfdc_id", "003A")))
    assert counts == {"salesforce.contact": 1, "salesforce.campaignmember": 1, "partitions_rewritten": 2}
    assert pq.read_table(landing.partition_path(root, "salesforce", "contact", "2026-11-19")).column(
        "Id").to_pylist() == ["003B"]
    assert landing.partition_path(root, "salesforce", "contact", "2026-11-20").stat().st_mtime_ns == before


def test_requests_hold_the_identifier_only_until_done_and_the_audit_never(tmp_path: Path) -> None:
    con = duckdb.connect()
    request_id = privacy.record_request(con, "email", " Ada@Example.com ", "ticket-1", salt="")
    status, identifier, hashed = con.execute(
        "select status, identifier, identifier_hash from crm360_ops.privacy_requests").fetchone()
    assert (status, identifier) == ("pending", "Ada@Example.com")
    assert hashed == privacy.identifier_hash("email", "ada@example.com")
    audit = con.execute("select request_id, identifier_hash, step, counts from crm360_ops.privacy_audit").fetchall()
    assert audit == [(request_id, hashed, "requested", "{}")]
    with pytest.raises(ValueError, match="not a valid email"):
        privacy.record_request(con, "email", "nobody", salt="")
    with pytest.raises(ValueError, match="names a person by"):
        privacy.record_request(con, "phone", "+1 415 555 0100", salt="")


def test_the_salt_comes_from_an_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # a real Airflow connection lookup (environment secrets backend), no mock
    monkeypatch.delenv(privacy.SALT_ENV, raising=False)
    monkeypatch.setenv(privacy.SALT_CONN_ENV, "crm360_privacy_salt")
    monkeypatch.setenv("AIRFLOW_CONN_CRM360_PRIVACY_SALT", json.dumps({"conn_type": "generic", "password": "pepper"}))
    assert privacy.load_salt() == "pepper"
    monkeypatch.setenv("AIRFLOW_CONN_CRM360_PRIVACY_SALT", json.dumps({"conn_type": "generic", "password": "rotated"}))
    assert privacy.load_salt() == "rotated"  # read when needed, never cached


def test_a_request_inserted_by_plain_sql_is_hashed_and_a_bad_one_is_rejected_with_a_reason() -> None:
    con = duckdb.connect()
    # a warehouse made before requests could be inserted without a hash
    con.execute("create schema crm360_ops")
    con.execute("create table crm360_ops.privacy_requests (request_id varchar primary key, identifier_type varchar "
                "not null, identifier varchar, identifier_hash varchar not null, requested_by varchar, requested_at "
                "timestamptz not null default now(), status varchar not null default 'pending', attempts integer not "
                "null default 0, error varchar, processed_at timestamptz)")
    privacy.ensure_tables(con)
    con.execute("insert into crm360_ops.privacy_requests (identifier_type, identifier, requested_by) values "
                "('email', ' Ada@Example.com ', 'dpo'), ('email', 'not an email', 'dpo'), ('phone', '0207', 'dpo')")
    assert privacy._hash_inserted_requests(con, "salt") == 3
    rows = con.execute("select request_id, identifier_type, identifier, identifier_hash, status, error "
                       "from crm360_ops.privacy_requests order by identifier_type, status desc").fetchall()
    (ok_id, _, identifier, hashed, status, _), bad_email, bad_kind = rows
    assert ok_id.startswith("prv_") and (identifier, status) == ("Ada@Example.com", "pending")
    assert hashed == privacy.identifier_hash("email", "ada@example.com", "salt")
    assert bad_email[2:5] == (None, None, "invalid") and "not a valid email" in bad_email[5]
    assert bad_kind[4] == "invalid" and "identifier_type must be one of" in bad_kind[5]
    steps = con.execute("select request_id, step from crm360_ops.privacy_audit").fetchall()
    assert steps == [(ok_id, "requested")]
