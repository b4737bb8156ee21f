"""Diff-based push of publish models into Salesforce fields: only what changed, never blindly.

* The plan is computed in the warehouse (SQL, so it scales to millions of records): each published
  value in its canonical form (rounded to the field's declared scale, dates as ISO text) against
  `crm360_ops.sync_state`, the values Salesforce acknowledged last time. Only new and changed
  records are sent, and only their changed fields; a record that failed before is still different
  from its state, so it is sent again.
* Ownership per field (the mapping): `overwrite`; `fill_empty` (only while the CRM field is empty);
  `respect_edits` (left alone once its CRM value differs from what crm360 last wrote). Current CRM
  values come from the landing zone: the newest landed version of each record, which carries the
  values crm360 wrote (the push echo) and any edit a person made since.
* A null is sent only for fields whose mapping allows `null_overwrites`.
* Records crm360 wrote that are no longer published get the mapping's `on_removed` action.
* Never blind: backfill, dry and unrequested manual runs only plan; the fields must exist and be
  writable (preflight), the org must not be production unless allowed, the API budget must hold,
  and a change touching more than a share of the records stops unless overridden.
* Every record sent gets a row in `crm360_ops.sync_history` (what was sent, the outcome); state
  moves only on success; permanent failures go to `crm360_ops.sync_dead_letters` and are retried
  by later runs until they succeed or a person resolves them (`crm360 sync resolve`).
* After the push the written fields are read back (Bulk API 2.0 query) and compared; mismatches
  (a flow or trigger rewrote the value) go to `crm360_ops.sync_verification`.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from crm360 import warehouse
from crm360.activation.mapping import FieldMap, PublishMap
from crm360.activation.writer import RecordOutcome, WriteFailed, WriteOptions, choose_method, write_records
from crm360.warehouse import OPS_SCHEMA

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

    from crm360.salesforce.client import SalesforceSession

log = logging.getLogger(__name__)

GONE_ERRORS = {"ENTITY_IS_DELETED", "CANNOT_UPDATE_CONVERTED_LEAD", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"}
SAMPLE_SIZE = 5
DEFAULT_OPTIONS = WriteOptions()


class PushRefused(RuntimeError):
    """The push was stopped before any write; the message says why and how to proceed."""


@dataclass(frozen=True)
class Change:
    sobject: str
    record_id: str
    values: dict[str, str | None]
    operation: str = "update"  # update | clear | rollback


@dataclass
class PushPlan:
    model: str = ""
    total_records: int = 0
    synced_before: int = 0
    changes: list[Change] = field(default_factory=list)
    # (sobject, field, action) -> records; field '*' is the whole record
    actions: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    resolved_skipped: int = 0

    @property
    def unchanged(self) -> int:
        return self.total_records - sum(1 for c in self.changes if c.operation in ("update", "create"))

    @property
    def creates(self) -> int:
        return sum(1 for c in self.changes if c.operation == "create")

    @property
    def removals(self) -> int:
        return sum(n for (_, f, a), n in self.actions.items() if f == "*" and a == "remove")

    @property
    def fields_changed(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for (_, name, action), n in self.actions.items():
            if name != "*" and action in ("update", "clear"):
                counts[name] += n
        return dict(counts)

    def summary(self) -> dict[str, Any]:
        """The plan as a person reads it: per object and field, and a sample of the changes."""
        per_object: dict[str, dict[str, Any]] = {}
        for (sobject, name, action), n in sorted(self.actions.items()):
            entry = per_object.setdefault(sobject, {"records": {}, "fields": {}})
            if name == "*":
                entry["records"][action] = n
            else:
                entry["fields"].setdefault(name, {})[action] = n
        sample = [{"sobject": c.sobject, "record_id": c.record_id, "operation": c.operation,
                   "fields": sorted(c.values)} for c in self.changes[:SAMPLE_SIZE]]
        return {"records": self.total_records, "updates": len([c for c in self.changes if c.operation == "update"]),
                "unchanged": self.unchanged, "removals": self.removals, "creates": self.creates,
                "dead_letters_resolved_skipped": self.resolved_skipped, "objects": per_object, "sample": sample}


@dataclass
class PushResult:
    mode: str  # pushed | planned
    reason: str
    plan: PushPlan
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    dead_lettered: int = 0
    api_calls: int = 0
    method: str = ""  # collections | bulk | mixed (see methods)
    methods: dict[str, str] = field(default_factory=dict)  # sobject -> collections | bulk
    errors: dict[str, int] = field(default_factory=dict)
    verified: int = 0
    mismatches: int = 0
    created: int = 0
    # (sobject, record_id) -> values Salesforce acknowledged in this run (what the read-back checks)
    acknowledged: dict[tuple[str, str], dict[str, str | None]] = field(default_factory=dict)


def canonical_sql(expression: str, fmap: FieldMap) -> str:
    """SQL giving the canonical text of `expression` for the field's declared type: numbers rounded to
    the field's scale (so noise below it never counts as a change), dates as YYYY-MM-DD."""
    kind = fmap.type.kind if fmap.type else None
    if kind in ("number", "currency", "percent"):
        scale = fmap.type.scale or 0  # type: ignore[union-attr]
        return (f"cast(cast(round(try_cast({expression} as double), {scale}) as decimal(38, {scale})) "
                "as varchar)")
    if kind == "date":
        return f"strftime(try_cast({expression} as date), '%Y-%m-%d')"
    if kind == "datetime":
        return f"strftime(timezone('UTC', try_cast({expression} as timestamptz)), '%Y-%m-%dT%H:%M:%S.000Z')"
    if kind == "checkbox":
        flag = f"try_cast({expression} as boolean)"
        return f"case when {flag} then 'true' when not {flag} then 'false' end"
    return f"nullif(cast({expression} as varchar), '')"


def _json_path(name: str) -> str:
    """The SQL literal of the JSON path to key `name` (API names: letters, digits, underscores)."""
    return "'$.\"" + name.replace("'", "''").replace('"', '') + "\"'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _current_values_sql(con: duckdb.DuckDBPyConnection, landing_root: Path | None, mapping: PublishMap,
                        ds: str, *, always: bool = False) -> str | None:
    """A SELECT of the newest version of each target record landed on or before `ds` (sobject,
    record_id, landed_ds and the mapped fields), or None when nothing is landed or (unless `always`)
    no field needs current CRM values."""
    if landing_root is None or (not always and all(f.ownership == "overwrite" for f in mapping.fields)):
        return None
    selects = []
    for sobject in mapping.objects:
        files = sorted((landing_root / "salesforce" / sobject.lower()).glob("ds=*/*.parquet"))
        files = [f for f in files if f.parent.name.removeprefix("ds=") <= ds]
        if not files:
            continue
        source = (f"read_parquet([{', '.join(repr(f.as_posix()) for f in files)}], union_by_name = true, "
                  "hive_partitioning = true)")
        present = {row[0] for row in con.execute(f"describe select * from {source}").fetchall()}
        cols = ", ".join(f"{_quote(f.field)} as {_quote(f.field)}" if f.field in present
                         else f"null as {_quote(f.field)}" for f in mapping.fields)
        selects.append(
            f"select '{sobject}' as sobject, Id as record_id, cast(ds as varchar) as landed_ds, {cols} from {source} "
            "qualify row_number() over (partition by Id order by SystemModstamp desc, ds desc) = 1")
    return " union all ".join(selects) if selects else None


def plan_push(con: duckdb.DuckDBPyConnection, mapping: PublishMap, *, landing_root: Path | None = None,
              ds: str = "9999-12-31") -> PushPlan:
    """Compare the publish model with what Salesforce acknowledged last, field by field, in SQL."""
    if mapping.create:
        return plan_creates(con, mapping)
    fields = mapping.fields
    n = len(fields)
    canon = ", ".join(f"{canonical_sql(f'p.{_quote(f.column)}', f)} as v{i}" for i, f in enumerate(fields))
    previous = ", ".join(f"json_extract_string(s.field_values, {_json_path(f.field)}) as s{i}, "
                         f"json_exists(s.field_values, {_json_path(f.field)}) as w{i}"
                         for i, f in enumerate(fields))
    current_sql = _current_values_sql(con, landing_root, mapping, ds)
    if current_sql:
        current = ", ".join(f"{canonical_sql(f'c.{_quote(f.field)}', f)} as c{i}" for i, f in enumerate(fields))
        current += ", c.landed_ds"
        join_current = f"left join ({current_sql}) c on c.sobject = p.sobject and c.record_id = p.record_id"
    else:
        current = ", ".join(f"null as c{i}" for i in range(n)) + ", null as landed_ds"
        join_current = ""
    # per field: what to send (value) and why not (action)
    decisions = []
    for i, f in enumerate(fields):
        changed = f"(v{i} is distinct from s{i})"
        if f.ownership == "fill_empty":
            blocked = (f"when w{i} then 'left_alone_filled' "
                       f"when c{i} is not null then 'left_alone_not_empty' ")
        elif f.ownership == "respect_edits":
            # an edit: a value crm360 never wrote, or one that differs from crm360's, landed after its write
            blocked = (f"when not coalesce(w{i}, false) and c{i} is not null and c{i} is distinct from v{i} "
                       f"then 'left_alone_edited' "
                       f"when w{i} and c{i} is distinct from s{i} and landed_ds > cast(state_ds as varchar) "
                       f"then 'left_alone_edited' ")
        else:
            blocked = ""
        null_rule = "" if f.null_overwrites else f"when v{i} is null then 'null_not_sent' "
        if f.ownership == "respect_edits":  # an edited field is reported as such even when crm360 wants no change
            decisions.append(f"case {blocked}when not {changed} then 'unchanged' {null_rule}else 'update' end as a{i}")
        else:
            decisions.append(f"case when not {changed} then 'unchanged' {null_rule}{blocked}else 'update' end as a{i}")
    # Decided once into a temporary table; counts are aggregated there and only the records with
    # something to send come back to Python, so a nightly diff costs in proportion to what changed.
    con.execute(f"""
        create or replace temp table push_decided as
        with p as (
            select cast({_quote(mapping.key)} as varchar) as record_id, {_quote(mapping.sobject_column)} as sobject, *
            from publish.{_quote(mapping.model)}
        ),
        joined as (
            select p.sobject, p.record_id, s.record_id is not null as synced, s.ds as state_ds, {canon}, {previous},
                   {current}
            from p
            left join {OPS_SCHEMA}.sync_state s on s.sobject = p.sobject and s.record_id = p.record_id
            {join_current}
        )
        select sobject, record_id, synced, {", ".join(f"v{i}" for i in range(n))}, {", ".join(decisions)}
        from joined
    """)
    any_update = " or ".join(f"a{i} = 'update'" for i in range(n)) or "false"
    plan = PushPlan(model=mapping.model)
    for sobject, records, synced, unchanged in con.execute(
            f"select sobject, count(*), count(*) filter (where synced), count(*) filter (where not ({any_update})) "
            "from push_decided group by sobject").fetchall():
        plan.total_records += records
        plan.synced_before += synced
        if unchanged:
            plan.actions[(sobject, "*", "unchanged")] += unchanged
    for i, f in enumerate(fields):
        for sobject, action, records in con.execute(
                f"select sobject, a{i}, count(*) from push_decided group by all").fetchall():
            plan.actions[(sobject, f.field, action)] += records
    rows = con.execute(f"""
        select sobject, record_id, {", ".join(f"v{i}" for i in range(n))}, {", ".join(f"a{i}" for i in range(n))}
        from push_decided where {any_update} order by sobject, record_id
    """).fetchall()
    con.execute("drop table push_decided")
    resolved = _resolved_dead_letters(con)
    for row in rows:
        sobject, record_id = row[0], row[1]
        new_values, actions = row[2:2 + n], row[2 + n:]
        values = {f.field: value for f, value, action in zip(fields, new_values, actions, strict=True)
                  if action == "update"}
        if (sobject, record_id) in resolved and resolved[(sobject, record_id)] == _payload_key(values):
            plan.resolved_skipped += 1
            plan.actions[(sobject, "*", "dead_letter_resolved")] += 1
            continue
        plan.actions[(sobject, "*", "update")] += 1
        plan.changes.append(Change(sobject, record_id, values))
    _plan_removals(con, mapping, plan)
    return plan


def plan_creates(con: duckdb.DuckDBPyConnection, mapping: PublishMap) -> PushPlan:
    """Rows of a creation model (`create: <Object>`) whose key has no record created yet
    (crm360_ops.sync_created): each becomes one new record. Nulls are not sent."""
    sobject = mapping.create or ""
    key = _quote(mapping.key)
    canon = ", ".join(f"{canonical_sql(f'p.{_quote(f.column)}', f)} as v{i}" for i, f in enumerate(mapping.fields))
    total = con.execute(f"select count(*) from publish.{_quote(mapping.model)}").fetchone()[0]
    rows = con.execute(f"""
        select cast(p.{key} as varchar) as create_key, {canon}
        from publish.{_quote(mapping.model)} p
        where not exists (select 1 from {OPS_SCHEMA}.sync_created c
                          where c.model = ? and c.create_key = cast(p.{key} as varchar))
        order by 1
    """, [mapping.model]).fetchall()
    plan = PushPlan(model=mapping.model, total_records=total)
    plan.actions[(sobject, "*", "already_created")] = total - len(rows)
    resolved = _resolved_dead_letters(con)
    for row in rows:
        values = {f.field: v for f, v in zip(mapping.fields, row[1:], strict=True) if v is not None}
        letter = (sobject, new_record_key(row[0]))
        if letter in resolved and resolved[letter] == _payload_key(values):
            plan.resolved_skipped += 1
            plan.actions[(sobject, "*", "dead_letter_resolved")] += 1
            continue
        plan.changes.append(Change(sobject, row[0], values, operation="create"))
        plan.actions[(sobject, "*", "create")] += 1
        for name in values:
            plan.actions[(sobject, name, "create")] += 1
    return plan


def new_record_key(create_key: str) -> str:
    """How a record not created yet is named in history and dead letters (it has no Id)."""
    return f"new:{create_key}"


def _plan_removals(con: duckdb.DuckDBPyConnection, mapping: PublishMap, plan: PushPlan) -> None:
    """Records crm360 wrote before that the model no longer publishes: leave them, or clear crm360's fields."""
    gone = con.execute(f"""
        select s.sobject, s.record_id, s.field_values from {OPS_SCHEMA}.sync_state s
        where s.sobject in ({", ".join(repr(o) for o in mapping.objects)})
          and not exists (select 1 from publish.{_quote(mapping.model)} p
                          where cast(p.{_quote(mapping.key)} as varchar) = s.record_id)
          -- a record crm360 created is not a removal (it is published once it comes back in an extract)
          and not exists (select 1 from {OPS_SCHEMA}.sync_created c where c.record_id = s.record_id)
        order by s.sobject, s.record_id
    """).fetchall()
    names = {f.field for f in mapping.fields}
    for sobject, record_id, field_values in gone:
        plan.actions[(sobject, "*", "remove")] += 1
        if mapping.on_removed != "clear":
            continue
        written = {k: v for k, v in json.loads(field_values).items() if k in names and v is not None}
        if written:
            plan.changes.append(Change(sobject, record_id, dict.fromkeys(written), operation="clear"))
            for name in written:
                plan.actions[(sobject, name, "clear")] += 1


def _payload_key(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True)


def _resolved_dead_letters(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    """Dead letters a person resolved: the same payload is not sent again (a changed one is)."""
    return {(s, r): _payload_key(json.loads(v or "{}")) for s, r, v in con.execute(
        f"select sobject, record_id, sent_values from {OPS_SCHEMA}.sync_dead_letters where status = 'resolved'"
    ).fetchall()}


def record_plan(con: duckdb.DuckDBPyConnection, plan: PushPlan, run_id: str, ds: str) -> None:
    """Store the plan (per object, field and action) for the run; re-running replaces it."""
    con.execute(f"delete from {OPS_SCHEMA}.sync_plans where run_id = ? and model = ?", [run_id, plan.model])
    warehouse.insert_rows(con, "sync_plans", ["run_id", "ds", "model", "sobject", "field", "action", "records"],
                          [(run_id, ds, plan.model, s, f, a, n) for (s, f, a), n in sorted(plan.actions.items())])


# ----------------------------------------------------------------------------- checks before writing

def check_blast_radius(plan: PushPlan, max_share: float, override: bool) -> None:
    if override or plan.synced_before == 0:
        return
    share = len(plan.changes) / max(plan.total_records, 1)
    if share > max_share:
        raise PushRefused(
            f"blast-radius check: {len(plan.changes)} of {plan.total_records} records "
            f"({share:.0%}) would change, more than the allowed {max_share:.0%}. Nothing was written. "
            "Inspect the plan (dry run); if the change is intended, re-run with the DAG param "
            "allow_large_push=true or raise CRM360_PUSH_MAX_CHANGE_SHARE.")


def check_org(sf: Salesforce, allow_production: bool) -> None:
    org = sf.query("SELECT IsSandbox FROM Organization LIMIT 1")["records"]
    is_sandbox = bool(org and org[0].get("IsSandbox"))
    if not is_sandbox and not allow_production:
        raise PushRefused(
            "the Salesforce connection points at a production org (Organization.IsSandbox is false) and "
            "does not allow production writes. Set the connection extra allow_production_writes=true "
            "if that is intended.")


def estimate_api_calls(records: int, options: WriteOptions) -> int:
    """Calls a push of `records` costs: collections of 200, or Bulk jobs (about 8 calls each) plus the
    read-back query."""
    if records == 0:
        return 0
    if options.bulk_threshold > 0 and records >= options.bulk_threshold:
        return 8 * math.ceil(records / options.bulk_job_size) + 6
    return math.ceil(records / 200) + 1


def check_api_budget(sf: Salesforce, needed: int, share: float) -> tuple[int, int]:
    from crm360.salesforce.client import api_usage, require_api_budget

    used, allowed = api_usage(sf)
    require_api_budget(used, allowed, needed, share, what="API budget: the push",
                       consequence="Nothing was written.", error_type=PushRefused)
    return used, allowed


# ----------------------------------------------------------------------------- writing

def execute_push(session: SalesforceSession, con: duckdb.DuckDBPyConnection, plan: PushPlan, run_id: str,
                 ds: str, result: PushResult, options: WriteOptions = DEFAULT_OPTIONS) -> PushResult:
    """Send the planned changes (per object and operation) and store every outcome as it arrives."""
    groups: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for change in plan.changes:
        groups[(change.sobject, change.operation)].append(change)
    for (sobject, operation), changes in sorted(groups.items()):
        if operation == "create":
            records = [dict(c.values) for c in changes]
        else:
            records = [{"Id": c.record_id, **c.values} for c in changes]
        method = choose_method(len(records), options.bulk_threshold)
        result.methods[sobject] = method
        result.method = method if not result.method or result.method == method else "mixed"
        written = write_records(session, sobject, "insert" if operation == "create" else "update", records, options,
                                on_chunk=lambda idx, outs, changes=changes: _store_outcomes(
                                    con, [changes[i] for i in idx], outs, run_id, ds, result))
        result.api_calls += written.api_calls
    return result


def _store_outcomes(con: duckdb.DuckDBPyConnection, changes: list[Change], outcomes: list[RecordOutcome],
                    run_id: str, ds: str, result: PushResult) -> None:
    history, state, cleared, failed, succeeded, created = [], [], [], [], [], []
    for change, outcome in zip(changes, outcomes, strict=True):
        sent = json.dumps(change.values, sort_keys=True)
        record_id = change.record_id
        if change.operation == "create":
            record_id = outcome.record_id if outcome.success and outcome.record_id else new_record_key(record_id)
        history.append((run_id, ds, change.sobject, record_id, change.operation, outcome.success,
                        outcome.error_code, _error_text(outcome), sent, result.methods.get(change.sobject),
                        outcome.attempts))
        if outcome.success:
            if change.operation == "create":
                created.append((result.plan.model, change.record_id, change.sobject, record_id, run_id, ds))
                succeeded.append((change.sobject, new_record_key(change.record_id)))
            else:
                succeeded.append((change.sobject, record_id))
            if change.operation != "clear":
                result.acknowledged[(change.sobject, record_id)] = change.values
            (cleared if change.operation == "clear" else state).append((change.sobject, record_id, sent))
        elif change.operation == "clear" and outcome.error_code in GONE_ERRORS:
            cleared.append((change.sobject, change.record_id, sent))  # the record is gone: nothing to clear
        else:
            code = outcome.error_code or "UNKNOWN"
            result.errors[code] = result.errors.get(code, 0) + 1
            failed.append((Change(change.sobject, record_id, change.values, change.operation), outcome, sent))
    result.sent += len(changes)
    result.created += len(created)
    warehouse.insert_rows(con, "sync_created", ["model", "create_key", "sobject", "record_id", "run_id", "ds"],
                          created)
    result.succeeded += len(succeeded)
    result.failed += len(failed)
    warehouse.insert_rows(con, "sync_history", ["run_id", "ds", "sobject", "record_id", "operation", "success",
                                                 "error_code", "error", "sent_values", "method", "attempts"], history)
    if state:
        _merge_state(con, state, run_id, ds)
    if cleared:
        con.executemany(f"delete from {OPS_SCHEMA}.sync_state where sobject = ? and record_id = ?",
                        [(s, r) for s, r, _ in cleared])
    if succeeded:
        _close_dead_letters(con, succeeded, run_id, ds)
    if failed:
        result.dead_lettered += len(failed)
        _dead_letter(con, failed, run_id, ds)


def _error_text(outcome: RecordOutcome) -> str | None:
    if outcome.success:
        return None
    return f"{outcome.error_code}: {outcome.error}"[:1000]


def _merge_state(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str]], run_id: str, ds: str) -> None:
    """New state = old state with the acknowledged fields replaced (a null sent removes the field)."""
    import pyarrow as pa

    batch = pa.table({"sobject": [r[0] for r in rows], "record_id": [r[1] for r in rows],
                      "sent": [r[2] for r in rows]})
    con.register("crm360_acknowledged", batch)
    try:
        con.execute(f"""
            insert or replace into {OPS_SCHEMA}.sync_state
            select a.sobject, a.record_id,
                   cast(json_merge_patch(coalesce(s.field_values, '{{}}'), a.sent) as json), ?, cast(? as date), now()
            from crm360_acknowledged a
            left join {OPS_SCHEMA}.sync_state s on s.sobject = a.sobject and s.record_id = a.record_id
        """, [run_id, ds])
    finally:
        con.unregister("crm360_acknowledged")


def _dead_letter(con: duckdb.DuckDBPyConnection, failed: list[tuple[Change, RecordOutcome, str]], run_id: str,
                 ds: str) -> None:
    for change, outcome, sent in failed:
        con.execute(f"""
            insert into {OPS_SCHEMA}.sync_dead_letters values (?, ?, ?, ?, ?, ?, 1, ?, cast(? as date), ?,
                cast(? as date), 'open', null, now())
            on conflict (sobject, record_id) do update set
                operation = excluded.operation, sent_values = excluded.sent_values,
                error_code = excluded.error_code, error = excluded.error,
                failed_runs = sync_dead_letters.failed_runs
                    + case when sync_dead_letters.last_run_id = excluded.last_run_id then 0 else 1 end,
                last_run_id = excluded.last_run_id, last_ds = excluded.last_ds,
                status = 'open', resolution = null, updated_at = now()
        """, [change.sobject, change.record_id, change.operation, sent, outcome.error_code, _error_text(outcome),
              run_id, ds, run_id, ds])
        log.warning("push: %s %s failed permanently (%s); dead-lettered, retried by the next run",
                    change.sobject, change.record_id, outcome.error_code)


def _close_dead_letters(con: duckdb.DuckDBPyConnection, done: list[tuple[str, str]], run_id: str, ds: str) -> None:
    if not con.execute(f"select count(*) from {OPS_SCHEMA}.sync_dead_letters where status = 'open'").fetchone()[0]:
        return
    import pyarrow as pa

    con.register("crm360_done", pa.table({"sobject": [d[0] for d in done], "record_id": [d[1] for d in done]}))
    try:
        con.execute(f"""
            update {OPS_SCHEMA}.sync_dead_letters set status = 'succeeded', last_run_id = ?,
                last_ds = cast(? as date), updated_at = now()
            from crm360_done d
            where sync_dead_letters.sobject = d.sobject and sync_dead_letters.record_id = d.record_id
              and sync_dead_letters.status = 'open'
        """, [run_id, ds])
    finally:
        con.unregister("crm360_done")


# ----------------------------------------------------------------------------- read-back verification

def verify_push(session: SalesforceSession, con: duckdb.DuckDBPyConnection, plan: PushPlan, run_id: str, ds: str,
                result: PushResult, mapping: PublishMap, options: WriteOptions = DEFAULT_OPTIONS) -> PushResult:
    """Read the fields this push wrote back from Salesforce and compare them with what was sent."""
    by_object: dict[str, dict[str, dict[str, str | None]]] = defaultdict(dict)
    for (sobject, record_id), values in result.acknowledged.items():
        by_object[sobject][record_id] = values
    mismatches = []
    fields = {f.field: f for f in mapping.fields}
    external = next((f.field for f in mapping.fields if f.external_id), None)
    for sobject, records in sorted(by_object.items()):
        names = sorted({k for v in records.values() for k in v})
        found = _read_back(session, sobject, sorted(records), names, options, result, external)
        for record_id, values in records.items():
            got = found.get(record_id)
            for name, value in values.items():
                now = None if got is None else _canonical_python(got.get(name), fields[name])
                if now != value:
                    mismatches.append((run_id, ds, sobject, record_id, name, value,
                                       "(record not found)" if got is None else now))
        result.verified += len(records)
    warehouse.insert_rows(con, "sync_verification", ["run_id", "ds", "sobject", "record_id", "field", "sent",
                                                      "found"], mismatches)
    result.mismatches = len({(m[2], m[3]) for m in mismatches})
    return result


def _canonical_python(value: Any, fmap: FieldMap) -> str | None:
    """The canonical text of a value read back from Salesforce (JSON or CSV), as canonical_sql gives it."""
    if value is None or value == "":
        return None
    kind = fmap.type.kind if fmap.type else None
    if kind in ("number", "currency", "percent"):
        from decimal import ROUND_HALF_UP, Decimal

        scale = fmap.type.scale or 0  # type: ignore[union-attr]
        quantum = Decimal(1).scaleb(-scale)
        return str(Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP))
    if kind == "checkbox":
        return "true" if str(value).lower() == "true" else "false"
    if kind == "date":
        return str(value)[:10]
    return str(value)


def _read_back(session: SalesforceSession, sobject: str, ids: list[str], names: list[str], options: WriteOptions,
               result: PushResult, external: str | None) -> dict[str, dict[str, Any]]:
    """Current values of `names` for `ids`: a Bulk API 2.0 query of the records crm360 manages when
    there are many, REST queries by Id when there are few."""
    from crm360.salesforce.client import with_retries

    columns = ", ".join(["Id", *names])
    wanted = set(ids)
    found: dict[str, dict[str, Any]] = {}
    if options.bulk_threshold > 0 and len(ids) >= options.bulk_threshold:
        import csv
        import io

        def bulk(sf: Salesforce) -> None:
            found.clear()
            # the records crm360 manages carry its external id; without one, the whole object
            query = f"SELECT {columns} FROM {sobject}" + (f" WHERE {external} != null" if external else "")
            for page in getattr(sf.bulk2, sobject).query(query, max_records=50_000, wait=options.bulk_wait_seconds):
                result.api_calls += 1
                for row in csv.DictReader(io.StringIO(page)):
                    if row["Id"] in wanted:
                        found[row["Id"]] = row

        with_retries(session, f"read-back of {len(ids)} {sobject} records", bulk, attempts=options.attempts,
                     wait_seconds=options.retry_wait_seconds, error_type=WriteFailed)
        result.api_calls += 3
        return found
    for start in range(0, len(ids), 200):
        chunk = ids[start:start + 200]
        quoted = ", ".join(f"'{i}'" for i in chunk)

        def rest(sf: Salesforce, quoted: str = quoted) -> list[dict[str, Any]]:
            return sf.query_all(f"SELECT {columns} FROM {sobject} WHERE Id IN ({quoted})")["records"]

        for row in with_retries(session, f"read-back of {len(chunk)} {sobject} records", rest,
                                attempts=options.attempts, wait_seconds=options.retry_wait_seconds,
                                error_type=WriteFailed):
            found[row["Id"]] = row
        result.api_calls += 1
    return found
