"""Identity observation: merges and splits between run dates, metrics, the runaway-cluster alarm, explain."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from crm360 import warehouse
from crm360.identity import IdentityAlarm, explain, observe


def _graph(con: duckdb.DuckDBPyConnection, mapping: dict[str, str]) -> None:
    con.execute("create schema if not exists intermediate")
    con.execute("create or replace table intermediate.int_customers_stitched (record_key varchar, source varchar, "
                "record_id varchar, customer_id varchar, anchor_record_key varchar, email_normalized varchar, "
                "created_at timestamp)")
    for key, customer in mapping.items():
        source, rid = key.split(":", 1)
        email = rid if "@" in rid else None
        con.execute("insert into intermediate.int_customers_stitched values (?, ?, ?, ?, ?, ?, now())",
                    [key, source, rid, customer, key, email])
    con.execute("create or replace table intermediate.int_identity_identifiers as select record_key, "
                "'email' as identifier_type, email_normalized as identifier_value, true as is_joinable, "
                "cast(null as varchar) as excluded_reason from intermediate.int_customers_stitched "
                "where email_normalized is not null")


@pytest.fixture()
def con(tmp_path: Path):
    with warehouse.connect(tmp_path / "w.duckdb") as connection:
        yield connection


def test_merges_and_splits_between_dates_are_logged(con: duckdb.DuckDBPyConnection) -> None:
    _graph(con, {"c:1": "cus_a", "c:2": "cus_b", "c:3": "cus_c", "c:4": "cus_c"})
    first = observe(con, "2026-11-19", "r1", max_cluster=10)
    assert (first.records, first.customers, first.multi_record_customers, first.largest_cluster) == (4, 3, 1, 2)
    assert first.compared_with is None
    # next day: 1 and 2 turn out to be one person; 3 and 4 turn out to be two
    _graph(con, {"c:1": "cus_a", "c:2": "cus_a", "c:3": "cus_c", "c:4": "cus_d", "c:5": "cus_e"})
    second = observe(con, "2026-11-20", "r2", max_cluster=10)
    assert (second.merges, second.splits, second.compared_with) == (1, 1, "2026-11-19")
    logged = con.execute("select kind, customer_id, other_customer_ids, records from crm360_ops.identity_changes "
                         "order by kind").fetchall()
    assert logged == [("merge", "cus_a", '["cus_b"]', 2), ("split", "cus_c", '["cus_d"]', 2)]
    # re-running a date replaces its snapshot and its changes, it does not add to them
    observe(con, "2026-11-20", "r3", max_cluster=10)
    assert con.execute("select count(*) from crm360_ops.identity_changes").fetchone()[0] == 2


def test_a_runaway_cluster_raises_the_alarm(con: duckdb.DuckDBPyConnection) -> None:
    _graph(con, {f"c:{i}": "cus_big" for i in range(12)})
    with pytest.raises(IdentityAlarm, match=r"largest identity cluster has 12 records, more than the 5 allowed"):
        observe(con, "2026-11-20", "r1", max_cluster=5)


def test_explain_shows_records_and_edges_with_emails_masked(con: duckdb.DuckDBPyConnection) -> None:
    _graph(con, {"salesforce_contact:003A": "cus_a", "sendgrid_recipient:jane.doe@example.com": "cus_a"})
    con.execute("update intermediate.int_customers_stitched set email_normalized = 'jane.doe@example.com'")
    con.execute("create or replace table intermediate.int_identity_identifiers as select record_key, "
                "'email' as identifier_type, email_normalized as identifier_value, true as is_joinable, "
                "cast(null as varchar) as excluded_reason from intermediate.int_customers_stitched")
    by_email = explain(con, " Jane.Doe@example.com ")
    assert by_email["customer_id"] == "cus_a"
    masked = ["salesforce_contact:003A", "sendgrid_recipient:ja***@example.com"]
    assert [r["record"] for r in by_email["records"]] == masked
    assert by_email["edges"] == [{"identifier": "email:ja***@example.com", "joins": True, "excluded_because": None,
                                  "records": masked}]
    assert explain(con, "cus_missing") is None


def test_a_day_without_changes_logs_none(con: duckdb.DuckDBPyConnection) -> None:
    _graph(con, {"c:1": "cus_a", "c:2": "cus_a"})
    observe(con, "2026-11-19", "r1", max_cluster=10)
    report = observe(con, "2026-11-20", "r2", max_cluster=10)
    assert (report.merges, report.splits, report.compared_with) == (0, 0, "2026-11-19")
