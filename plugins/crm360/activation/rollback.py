"""`crm360 sync rollback --to YYYY-MM-DD`: put crm360's fields back as they were after that date's sync.

For every record crm360 has written, each mapped field's value after date D's sync is the last value
crm360 wrote on or before D (from `crm360_ops.sync_history`); where crm360 had not written the field
by then, it is what the CRM held as of D (the newest Salesforce version landed on or before D), or
null when nothing was landed. The difference to what Salesforce holds now (`sync_state`) is sent like
any push (history operation `rollback`), so a rollback is itself recorded and can be rolled back.

Fields a person owns now are not touched: a `respect_edits` or `fill_empty` field whose current CRM
value differs from crm360's last write was edited, and stays as the person left it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb

from crm360.activation.mapping import PublishMap
from crm360.activation.push import Change, PushPlan, _current_values_sql, _quote, canonical_sql
from crm360.warehouse import OPS_SCHEMA


def _landed_values(con: duckdb.DuckDBPyConnection, landing_root: Path | None, mapping: PublishMap,
                   ds: str) -> dict[tuple[str, str], dict[str, str | None]]:
    """(sobject, record id) -> canonical field values of the newest version landed on or before `ds`."""
    sql = _current_values_sql(con, landing_root, mapping, ds, always=True)
    if sql is None:
        return {}
    canon = ", ".join(canonical_sql(f"c.{_quote(f.field)}", f) for f in mapping.fields)
    found = {}
    for row in con.execute(f"select c.sobject, c.record_id, {canon} from ({sql}) c").fetchall():
        found[(row[0], row[1])] = dict(zip((f.field for f in mapping.fields), row[2:], strict=True))
    return found


def plan_rollback(con: duckdb.DuckDBPyConnection, mapping: PublishMap, to_ds: str, *,
                  landing_root: Path | None = None, today: str = "9999-12-31") -> PushPlan:
    """The changes that make Salesforce hold, for every record crm360 wrote, the values after `to_ds`'s sync."""
    objects = list(mapping.objects)
    placeholders = ", ".join("?" for _ in objects)
    wrote_by: dict[tuple[str, str], dict[str, str | None]] = defaultdict(dict)
    for sobject, record_id, sent in con.execute(f"""
            select sobject, record_id, sent_values from {OPS_SCHEMA}.sync_history
            where success and ds <= cast(? as date) and sobject in ({placeholders})
            order by attempted_at""", [to_ds, *objects]).fetchall():
        values = json.loads(sent or "{}")
        wrote_by[(sobject, record_id)].update(values)
    then = _landed_values(con, landing_root, mapping, to_ds)
    now_landed = _landed_values(con, landing_root, mapping, today)
    plan = PushPlan(model=mapping.model)
    for sobject, record_id, field_values in con.execute(
            f"select sobject, record_id, field_values from {OPS_SCHEMA}.sync_state "
            f"where sobject in ({placeholders}) order by sobject, record_id", objects).fetchall():
        plan.total_records += 1
        plan.synced_before += 1
        current = json.loads(field_values)
        written = wrote_by.get((sobject, record_id), {})
        landed_then = then.get((sobject, record_id), {})
        landed_now = now_landed.get((sobject, record_id), {})
        values: dict[str, Any] = {}
        for fmap in mapping.fields:
            target = written[fmap.field] if fmap.field in written else landed_then.get(fmap.field)
            if target == current.get(fmap.field):
                continue
            if fmap.ownership != "overwrite" and fmap.field in landed_now \
                    and landed_now[fmap.field] != current.get(fmap.field):
                plan.actions[(sobject, fmap.field, "left_alone_edited")] += 1
                continue
            values[fmap.field] = target
            plan.actions[(sobject, fmap.field, "rollback")] += 1
        if values:
            plan.changes.append(Change(sobject, record_id, values, operation="rollback"))
            plan.actions[(sobject, "*", "rollback")] += 1
        else:
            plan.actions[(sobject, "*", "unchanged")] += 1
    return plan
