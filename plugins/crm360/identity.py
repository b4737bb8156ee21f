"""Identity resolution, observed: per-run metrics, the change log, and `explain`.

dbt builds the identity graph (`intermediate.int_identity_*`, `int_customers_stitched`). After each
build this module:

* snapshots record -> customer_id for the run date (`crm360_ops.identity_snapshots`, the newest
  `SNAPSHOT_DAYS` dates kept);
* compares it with the newest earlier snapshot and writes merges (a person now made of records
  that were two or more people) and splits (one person's records now two or more people) to
  `crm360_ops.identity_changes`;
* records metrics (`crm360_ops.stage_metrics`, stage `identity`): records, customers, multi-record
  customers, the largest cluster, identifiers excluded from stitching by reason, merges, splits;
* raises `IdentityAlarm` when the largest cluster is larger than allowed (a runaway join).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb

from crm360.warehouse import OPS_SCHEMA, insert_rows

SNAPSHOT_DAYS = 14

DDL = f"""
create table if not exists {OPS_SCHEMA}.identity_snapshots (
    ds date not null,
    record_key varchar not null,
    customer_id varchar not null
);
create table if not exists {OPS_SCHEMA}.identity_changes (
    ds date not null,
    run_id varchar not null,
    kind varchar not null,              -- merge | split
    customer_id varchar not null,       -- merge: the surviving id; split: the id that was split
    other_customer_ids varchar not null, -- JSON list: merge: the ids it absorbed; split: the new ids
    records integer not null,
    recorded_at timestamptz not null
);
"""


class IdentityAlarm(RuntimeError):
    """The identity graph produced a cluster too large to be one person."""


@dataclass
class IdentityReport:
    records: int
    customers: int
    multi_record_customers: int
    largest_cluster: int
    excluded_identifiers: dict[str, int]
    merges: int = 0
    splits: int = 0
    compared_with: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        out = {"records": self.records, "customers": self.customers,
               "multi_record_customers": self.multi_record_customers, "largest_cluster": self.largest_cluster,
               "merges": self.merges, "splits": self.splits}
        out.update({f"excluded.{reason}": n for reason, n in self.excluded_identifiers.items()})
        return {k: float(v) for k, v in out.items()}


def _changes(con: duckdb.DuckDBPyConnection, ds: str, previous: str) -> list[dict[str, Any]]:
    """Merges and splits between the snapshot of `previous` and that of `ds`, over shared records."""
    pairs = con.execute(
        f"""
        select now.customer_id, before.customer_id, count(*)
        from {OPS_SCHEMA}.identity_snapshots as now
        inner join {OPS_SCHEMA}.identity_snapshots as before
            on now.record_key = before.record_key and before.ds = ?
        where now.ds = ?
        group by now.customer_id, before.customer_id
        """, [previous, ds]).fetchall()
    before_of: dict[str, dict[str, int]] = {}
    now_of: dict[str, dict[str, int]] = {}
    for now_id, before_id, n in pairs:
        before_of.setdefault(now_id, {})[before_id] = n
        now_of.setdefault(before_id, {})[now_id] = n
    changes = []
    for now_id, olds in sorted(before_of.items()):
        if len(olds) > 1:
            changes.append({"kind": "merge", "customer_id": now_id,
                            "other": sorted(o for o in olds if o != now_id), "records": sum(olds.values())})
    for before_id, news in sorted(now_of.items()):
        if len(news) > 1:
            changes.append({"kind": "split", "customer_id": before_id,
                            "other": sorted(n for n in news if n != before_id), "records": sum(news.values())})
    return changes


def observe(con: duckdb.DuckDBPyConnection, ds: str, run_id: str, max_cluster: int) -> IdentityReport:
    """Snapshot, compare with the previous date, record metrics inputs; raise on a runaway cluster."""
    con.execute(DDL)
    records, customers, multi, largest = con.execute(
        """
        select sum(n), count(*), count(*) filter (where n > 1), max(n)
        from (select customer_id, count(*) as n from intermediate.int_customers_stitched group by customer_id)
        """).fetchone()
    excluded = dict(con.execute(
        """
        select excluded_reason, count(distinct identifier_type || ':' || identifier_value)
        from intermediate.int_identity_identifiers where not is_joinable group by excluded_reason
        """).fetchall())
    report = IdentityReport(records=int(records or 0), customers=int(customers or 0),
                            multi_record_customers=int(multi or 0), largest_cluster=int(largest or 0),
                            excluded_identifiers={k: int(v) for k, v in excluded.items()})
    con.execute(f"delete from {OPS_SCHEMA}.identity_snapshots where ds = ?", [ds])
    con.execute(f"insert into {OPS_SCHEMA}.identity_snapshots select cast(? as date), record_key, customer_id "
                "from intermediate.int_customers_stitched", [ds])
    previous = con.execute(f"select cast(max(ds) as varchar) from {OPS_SCHEMA}.identity_snapshots where ds < ?",
                           [ds]).fetchone()[0]
    con.execute(f"delete from {OPS_SCHEMA}.identity_changes where ds = ?", [ds])
    if previous:
        report.compared_with = previous
        report.changes = _changes(con, ds, previous)
        report.merges = sum(1 for c in report.changes if c["kind"] == "merge")
        report.splits = sum(1 for c in report.changes if c["kind"] == "split")
        insert_rows(con, "identity_changes", ["ds", "run_id", "kind", "customer_id", "other_customer_ids", "records"],
                    [(ds, run_id, c["kind"], c["customer_id"], json.dumps(c["other"]), c["records"])
                     for c in report.changes])
    con.execute(f"""delete from {OPS_SCHEMA}.identity_snapshots where ds not in (
        select distinct ds from {OPS_SCHEMA}.identity_snapshots order by ds desc limit {SNAPSHOT_DAYS})""")
    if report.largest_cluster > max_cluster:
        raise IdentityAlarm(
            f"ds={ds}: the largest identity cluster has {report.largest_cluster} records, more than the "
            f"{max_cluster} allowed (CRM360_IDENTITY_MAX_CLUSTER): an identifier is probably joining many "
            "people. Run `crm360 explain <customer_id>` on it, add the identifier to "
            "dbt_project/seeds/identity_blocklist.csv or lower identity_max_records_per_identifier, and re-run.")
    return report


def explain(con: duckdb.DuckDBPyConnection, who: str) -> dict[str, Any] | None:
    """The records that make up a person (by customer_id, or by any email of theirs) and what joined them."""
    from crm360.quality.gates import mask

    customer = who if who.startswith("cus_") else None
    if customer is None:
        found = con.execute("select distinct customer_id from intermediate.int_customers_stitched "
                            "where email_normalized = lower(trim(?))", [who]).fetchall()
        if not found:
            return None
        if len(found) > 1:
            return {"ambiguous": sorted(r[0] for r in found)}
        customer = found[0][0]
    records = con.execute(
        """
        select record_key, source, record_id, anchor_record_key = record_key, created_at
        from intermediate.int_customers_stitched where customer_id = ? order by created_at nulls last, record_key
        """, [customer]).fetchall()
    if not records:
        return None
    keys = [r[0] for r in records]
    identifiers = con.execute(
        """
        select identifier_type, identifier_value, list(distinct record_key order by record_key),
               bool_and(is_joinable), max(excluded_reason)
        from intermediate.int_identity_identifiers
        where record_key in (select unnest(?))
        group by identifier_type, identifier_value
        order by identifier_type, identifier_value
        """, [keys]).fetchall()
    return {
        "customer_id": customer,
        "records": [{"record": mask(key), "source": source, "id": mask(rid), "anchor": bool(anchor),
                     "created_at": str(created) if created else None}
                    for key, source, rid, anchor, created in records],
        "edges": [{"identifier": f"{kind}:{mask(value)}", "records": [mask(k) for k in joined], "joins": bool(ok),
                   "excluded_because": reason}
                  for kind, value, joined, ok, reason in identifiers],
    }
