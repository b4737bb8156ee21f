"""The DuckDB warehouse file: connections and crm360's own state tables.

State lives in the warehouse (schema `crm360_ops`): watermarks, stage metrics, quality results,
quarantine counts, sync state and sync history are tables a data engineer can query.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

OPS_SCHEMA = "crm360_ops"

OPS_DDL = f"""
create schema if not exists {OPS_SCHEMA};
create table if not exists {OPS_SCHEMA}.landed_partitions (
    source varchar not null,
    entity varchar not null,
    ds date not null,
    mode varchar not null,            -- incremental | current_state | files
    window_start timestamptz,
    window_end timestamptz,
    rows_landed bigint not null,
    rows_quarantined bigint not null default 0,
    path varchar not null,
    run_id varchar not null,
    landed_at timestamptz not null,
    primary key (source, entity, ds)
);
create table if not exists {OPS_SCHEMA}.sf_extracts (
    run_id varchar not null,
    ds date not null,
    sobject varchar not null,
    mode varchar not null,            -- incremental | current_state
    method varchar not null,          -- rest | bulk
    window_start timestamptz,
    window_end timestamptz,
    rows_expected bigint,             -- SOQL COUNT() over the same window
    rows_landed bigint not null,
    rows_deleted bigint not null,
    newest_systemmodstamp timestamptz, -- the watermark reached
    fields integer not null,
    fields_added varchar,             -- JSON list, vs the previous partition
    fields_removed varchar,
    extracted_at timestamptz not null
);
create table if not exists {OPS_SCHEMA}.channel_files (
    source varchar not null,
    file varchar not null,            -- relative to the inbox: <source>/<YYYY-MM-DD>/<name>
    ds date not null,
    sha256 varchar not null,
    bytes bigint not null,
    records_read bigint not null,     -- = records_landed + records_quarantined + records_suppressed
    records_landed bigint not null,
    records_quarantined bigint not null,
    run_id varchar not null,
    landed_at timestamptz not null,
    records_suppressed bigint default 0, -- of forgotten people (crm360.privacy), dropped
    primary key (source, file)
);
create table if not exists {OPS_SCHEMA}.stage_metrics (
    run_id varchar not null,
    ds date not null,
    stage varchar not null,
    metric varchar not null,
    value double,
    detail varchar,
    recorded_at timestamptz not null,
    primary key (run_id, stage, metric)
);
create table if not exists {OPS_SCHEMA}.quality_results (
    run_id varchar not null,
    ds date not null,
    suite varchar not null,
    severity varchar not null,
    success boolean not null,
    expectations_evaluated integer not null,
    expectations_failed integer not null,
    first_failure varchar,
    validated_at timestamptz not null,
    primary key (run_id, suite)
);
create table if not exists {OPS_SCHEMA}.sync_state (
    sobject varchar not null,
    record_id varchar not null,
    field_values json not null,       -- field -> the value crm360 last wrote and Salesforce acknowledged
    run_id varchar not null,
    ds date not null,                 -- the run date of that write
    written_at timestamptz not null,
    primary key (sobject, record_id)
);
create table if not exists {OPS_SCHEMA}.sync_history (
    run_id varchar not null,
    ds date not null,
    sobject varchar not null,
    record_id varchar not null,
    operation varchar not null,       -- update | clear | rollback
    success boolean not null,
    error_code varchar,
    error varchar,
    sent_values json,                 -- field -> value sent (what Salesforce was asked to hold)
    method varchar,                   -- collections | bulk
    attempts integer,
    attempted_at timestamptz not null
);
create table if not exists {OPS_SCHEMA}.sync_dead_letters (
    sobject varchar not null,
    record_id varchar not null,
    operation varchar not null,
    sent_values json,
    error_code varchar,
    error varchar,
    failed_runs integer not null,     -- runs in which the record failed permanently
    first_run_id varchar not null,
    first_ds date not null,
    last_run_id varchar not null,
    last_ds date not null,
    status varchar not null,          -- open | succeeded | resolved
    resolution varchar,               -- why a person resolved it
    updated_at timestamptz not null,
    primary key (sobject, record_id)
);
create table if not exists {OPS_SCHEMA}.sync_created (
    model varchar not null,           -- a creation model of the mapping (create: <Object>)
    create_key varchar not null,      -- its key (e.g. customer_id): one record per key, created once
    sobject varchar not null,
    record_id varchar not null,       -- the Id Salesforce gave the new record
    run_id varchar not null,
    ds date not null,
    created_at timestamptz not null,
    primary key (model, create_key)
);
create table if not exists {OPS_SCHEMA}.sync_plans (
    run_id varchar not null,
    ds date not null,
    model varchar not null,
    sobject varchar not null,
    field varchar not null,           -- '*' for whole records
    action varchar not null,          -- update | unchanged | remove | clear | left_alone_edited | ...
    records bigint not null,
    planned_at timestamptz not null
);
create table if not exists {OPS_SCHEMA}.sync_verification (
    run_id varchar not null,
    ds date not null,
    sobject varchar not null,
    record_id varchar not null,
    field varchar not null,
    sent varchar,
    found varchar,
    checked_at timestamptz not null
);
create table if not exists {OPS_SCHEMA}.campaign_state (
    campaign_id varchar not null,     -- Campaigns crm360 sends segments to, found by name or created
    campaign_name varchar not null,
    channel varchar not null,         -- email | phone
    created_by_crm360 boolean not null,
    run_id varchar not null,          -- the run that first found or created it
    ds date not null,
    recorded_at timestamptz not null,
    primary key (campaign_id)
);
create table if not exists {OPS_SCHEMA}.campaign_member_state (
    campaign_id varchar not null,     -- the CampaignMembers crm360 knows of in those Campaigns
    campaign_name varchar not null,
    record_id varchar not null,       -- the Contact or Lead Id
    sobject varchar not null,         -- Contact | Lead
    member_id varchar not null,       -- the CampaignMember Id
    created_by_crm360 boolean not null, -- false: a person added it; crm360 never removes it
    ds date not null,                 -- the run that added it (or first found it)
    run_id varchar not null,
    recorded_at timestamptz not null,
    primary key (campaign_id, record_id)
);
create table if not exists {OPS_SCHEMA}.campaign_member_history (
    run_id varchar not null,
    ds date not null,
    campaign_id varchar not null,
    campaign_name varchar not null,
    record_id varchar not null,
    sobject varchar not null,
    operation varchar not null,       -- add | remove
    success boolean not null,
    member_id varchar,
    error_code varchar,               -- DUPLICATE_VALUE with success: a member already; NOT_CONFIRMED:
    error varchar,                    -- the call failed, so Salesforce may or may not have done it
    attempted_at timestamptz not null
);
create table if not exists {OPS_SCHEMA}.campaign_sync_summary (
    run_id varchar not null,
    ds date not null,
    mode varchar not null,            -- synced | planned
    campaign_name varchar not null,
    campaign_id varchar,
    channel varchar,
    status varchar not null,          -- existing | created | to_create | missing | ambiguous | create_failed | retired
    wanted bigint not null,
    to_add bigint not null,
    to_remove bigint not null,
    unchanged bigint not null,
    not_ours bigint not null,         -- members crm360 did not add and does not want: left alone
    added bigint not null,
    removed bigint not null,
    failed bigint not null,
    message varchar,
    recorded_at timestamptz not null
);
"""


def ensure_ops_tables(con: duckdb.DuckDBPyConnection) -> None:
    _migrate_sync_tables(con)
    con.execute(OPS_DDL)
    # columns added after a table was first created (DuckDB appends them: insert by name)
    con.execute(f"alter table {OPS_SCHEMA}.channel_files add column if not exists records_suppressed bigint "
                "default 0")


def _migrate_sync_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Warehouses written before sync state was kept per record (one row per field) are converted."""
    columns = {(t, c) for t, c in con.execute(
        "select table_name, column_name from information_schema.columns where table_schema = ?",
        [OPS_SCHEMA]).fetchall()}
    if ("sync_state", "field") in columns:
        con.execute(f"alter table {OPS_SCHEMA}.sync_state rename to sync_state_v1")
        con.execute(OPS_DDL)
        con.execute(f"""insert into {OPS_SCHEMA}.sync_state
            select sobject, record_id, to_json(map(list(field order by field), list(value order by field))),
                   max(run_id), max(ds), max(written_at)
            from {OPS_SCHEMA}.sync_state_v1 group by sobject, record_id""")
        con.execute(f"drop table {OPS_SCHEMA}.sync_state_v1")
    if ("sync_history", "fields") in columns:
        con.execute(f"alter table {OPS_SCHEMA}.sync_history rename to sync_history_v1")
        con.execute(OPS_DDL)
        con.execute(f"""insert into {OPS_SCHEMA}.sync_history
            select run_id, ds, sobject, record_id, operation, success, null, error, null, 'collections', 1,
                   attempted_at from {OPS_SCHEMA}.sync_history_v1""")
        con.execute(f"drop table {OPS_SCHEMA}.sync_history_v1")


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (creating the file and the ops tables on first use) and close it after."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        if not read_only:
            ensure_ops_tables(con)
        yield con
    finally:
        con.close()


def record_metrics(con: duckdb.DuckDBPyConnection, run_id: str, ds: str, stage: str,
                   metrics: dict[str, float | int], detail: dict[str, str] | None = None) -> None:
    """Record a stage's numbers for the run; re-running the stage replaces them."""
    detail = detail or {}
    con.execute(f"delete from {OPS_SCHEMA}.stage_metrics where run_id = ? and stage = ?", [run_id, stage])
    insert_rows(con, "stage_metrics", ["run_id", "ds", "stage", "metric", "value", "detail"],
                [(run_id, ds, stage, k, float(v), detail.get(k)) for k, v in metrics.items()])


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, names: list[str], rows: list[tuple],
                replace: bool = False) -> None:
    """Insert `rows` (tuples in `names` order) into crm360_ops.`table`, whose last column is a
    timestamp filled with now(), as one Arrow batch: DuckDB's executemany costs milliseconds a row.
    A `ds` column given as 'YYYY-MM-DD' text is cast to a date."""
    if not rows:
        return
    import pyarrow as pa

    columns = zip(*rows, strict=True)
    batch = pa.table({name: list(values) for name, values in zip(names, columns, strict=True)})
    if "ds" in names and pa.types.is_string(batch.schema.field("ds").type):
        batch = batch.set_column(names.index("ds"), "ds", batch.column("ds").cast(pa.date32()))
    con.register("crm360_rows", batch)
    try:
        con.execute(f"insert {'or replace ' if replace else ''}into {OPS_SCHEMA}.{table} "
                    "select *, now() from crm360_rows")
    finally:
        con.unregister("crm360_rows")
