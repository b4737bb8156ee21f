"""Diff-based push of publish models into Salesforce through sObject Collections.

* Only fields whose value differs from the last value crm360 successfully wrote (the
  `crm360_ops.sync_state` table) are sent.
* Every attempted record gets a row in `crm360_ops.sync_history`; state is updated only for
  successes, so a failed record is sent again by the next run (stored and retried, never lost).
* Never blind: backfill runs, dry runs and manual runs that did not ask to push only plan; a
  production org is refused unless the connection allows it; a change touching more than a
  configurable share of the already-synced records stops before any write.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import duckdb

from crm360 import warehouse
from crm360.activation.mapping import PublishMap
from crm360.warehouse import OPS_SCHEMA

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

log = logging.getLogger(__name__)

COLLECTION_SIZE = 200


class PushRefused(RuntimeError):
    """The push was stopped before any write; the message says why and how to proceed."""


@dataclass(frozen=True)
class Change:
    sobject: str
    record_id: str
    values: dict[str, str | None]


@dataclass
class PushPlan:
    total_records: int = 0
    synced_before: int = 0
    changes: list[Change] = field(default_factory=list)
    fields_changed: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def unchanged(self) -> int:
        return self.total_records - len(self.changes)


@dataclass
class PushResult:
    mode: str  # pushed | planned
    reason: str
    plan: PushPlan
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    api_calls: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def canonical(value: Any) -> str | None:
    """The string crm360 compares and sends: stable across runs for equal values."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def plan_push(con: duckdb.DuckDBPyConnection, mapping: PublishMap) -> PushPlan:
    """Compare the publish model with what crm360 last wrote."""
    columns = ", ".join([mapping.key, mapping.sobject_column] + [f.column for f in mapping.fields])
    rows = con.execute(f"select {columns} from publish.{mapping.model} order by {mapping.key}").fetchall()
    state: dict[tuple[str, str], dict[str, str | None]] = defaultdict(dict)
    for sobject, record_id, field_name, value in con.execute(
            f"select sobject, record_id, field, value from {OPS_SCHEMA}.sync_state").fetchall():
        state[(sobject, record_id)][field_name] = value
    plan = PushPlan(total_records=len(rows))
    for row in rows:
        record_id, sobject = row[0], row[1]
        previous = state.get((sobject, record_id))
        if previous is not None:
            plan.synced_before += 1
        changed: dict[str, str | None] = {}
        for fmap, value in zip(mapping.fields, row[2:], strict=True):
            new = canonical(value)
            if previous is None or fmap.field not in previous or previous[fmap.field] != new:
                changed[fmap.field] = new
        if changed:
            plan.changes.append(Change(sobject, record_id, changed))
            for name in changed:
                plan.fields_changed[name] += 1
    return plan


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


def _payload(change: Change) -> dict[str, Any]:
    body: dict[str, Any] = {"attributes": {"type": change.sobject}, "id": change.record_id}
    body.update(change.values)
    return body


def execute_push(sf: Salesforce, con: duckdb.DuckDBPyConnection, plan: PushPlan, run_id: str,
                 ds: str, result: PushResult) -> PushResult:
    """Send the planned changes in collections of 200 and store every outcome."""
    for start in range(0, len(plan.changes), COLLECTION_SIZE):
        chunk = plan.changes[start:start + COLLECTION_SIZE]
        response = sf.restful("composite/sobjects", method="PATCH",
                              json={"allOrNone": False, "records": [_payload(c) for c in chunk]})
        result.api_calls += 1
        history, state = [], []
        for change, outcome in zip(chunk, response, strict=True):
            ok = bool(outcome.get("success"))
            error = None
            if not ok:
                errors = outcome.get("errors") or [{}]
                error = f"{errors[0].get('statusCode')}: {errors[0].get('message')}"
                code = str(errors[0].get("statusCode"))
                result.errors[code] = result.errors.get(code, 0) + 1
            history.append((run_id, ds, change.sobject, change.record_id, "update", ok, error,
                            json.dumps(sorted(change.values))))
            if ok:
                state.extend((change.sobject, change.record_id, f, v, run_id, ds)
                             for f, v in change.values.items())
        result.sent += len(chunk)
        result.succeeded += sum(1 for h in history if h[5])
        result.failed += sum(1 for h in history if not h[5])
        warehouse.insert_rows(con, "sync_history", ["run_id", "ds", "sobject", "record_id", "operation", "success",
                                                     "error", "fields"], history)
        # values are canonical strings already (see canonical())
        warehouse.insert_rows(con, "sync_state", ["sobject", "record_id", "field", "value", "run_id", "ds"], state,
                              replace=True)
    return result

