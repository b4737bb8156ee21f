"""The run summary: what the nightly run did, in numbers a person reads.

Written per run date to `<reports>/<ds>/run_summary.{json,md}` and `run_report.html` (charts, see
`crm360.report_html`) and, for the newest run, to the stable paths `<reports>/latest.{json,md,html}`.
It shows counts and segment names only: no emails, phones or names of people.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from crm360.rundate import RunWindow
from crm360.warehouse import OPS_SCHEMA


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    try:
        row = con.execute(sql).fetchone()
    except duckdb.CatalogException:
        return None
    return row[0] if row else None


# the DAG's stages in run order (time per stage is shown in this order)
STAGE_ORDER = ("privacy_requests", "extract_salesforce", "land_channels", "raw_quality_gate", "dbt_build",
               "publish_quality_gate",
               "push_to_salesforce")
LIFT_COLUMNS = ("segment_name", "campaign_name", "members", "holdouts", "member_response_rate",
                "member_conversion_rate", "holdout_conversion_rate", "conversion_lift", "lift_ci_low", "lift_ci_high")


def _segments(con: duckdb.DuckDBPyConnection, ds: str) -> list[dict[str, Any]]:
    """The run date's segment sizes (marts.segment_summary), or nothing if it holds another date, with
    the date's entries and exits (marts.segment_membership_history) and the change since the day before.

    The size the day before is today's members - entered + left; on the first date of the history
    (everyone "enters") there is no day before, and `change` is None."""
    from crm360.segments import relation_exists, segment_sizes

    sizes = segment_sizes(con)
    rows = [dict(row) for _, row in sorted(sizes.items()) if row["as_of_date"] == ds]
    events: dict[str, dict[str, Any]] = {}
    if relation_exists(con, "marts.segment_membership_history"):
        for name, entered, left, initial in con.execute(
                "select segment_name, count(*) filter (where event_type = 'entered'), "
                "count(*) filter (where event_type = 'left'), bool_or(is_initial) "
                "from marts.segment_membership_history where event_date = cast(? as date) group by segment_name",
                [ds]).fetchall():
            events[name] = {"entered": int(entered), "left": int(left), "initial": bool(initial)}
        first = con.execute("select min(event_date) from marts.segment_membership_history").fetchone()[0]
        first_date = first is None or str(first) >= ds
    else:
        first_date = True
    for row in rows:
        found = events.get(row["segment_name"], {"entered": 0, "left": 0, "initial": first_date})
        row["entered"], row["left"] = found["entered"], found["left"]
        if found["initial"]:
            row["previous_members"] = row["change"] = None
        else:
            row["previous_members"] = row["members"] - found["entered"] + found["left"]
            row["change"] = found["entered"] - found["left"]
    return rows


def _identity(stages: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The identity metrics of the run (stage `identity`, see crm360.identity), excluded identifiers by reason."""
    metrics = stages.get("identity") or {}
    if not metrics:
        return {}
    out: dict[str, Any] = {k: int(v) for k, v in metrics.items() if "." not in k and k != "seconds"}
    out["excluded"] = {k.split(".", 1)[1]: int(v) for k, v in sorted(metrics.items()) if k.startswith("excluded.")}
    return out


def _salesforce_by_object(con: duckdb.DuckDBPyConnection, run_id: str,
                          push: dict[str, float]) -> dict[str, dict[str, int]]:
    """What this run wrote per Salesforce object: created, updated, failed, dead-lettered (sync_history,
    sync_dead_letters), and CampaignMembers added and removed (the push's campaign metrics)."""
    out: dict[str, dict[str, int]] = {}
    for sobject, created, updated, failed in con.execute(
            f"select sobject, count(*) filter (where success and operation = 'create'), "
            f"count(*) filter (where success and operation <> 'create'), count(*) filter (where not success) "
            f"from {OPS_SCHEMA}.sync_history where run_id = ? group by sobject order by sobject", [run_id]).fetchall():
        out[sobject] = {"created": int(created), "updated": int(updated), "removed": 0, "failed": int(failed),
                        "dead_lettered": 0}
    for sobject, n in con.execute(
            f"select sobject, count(*) from {OPS_SCHEMA}.sync_dead_letters where last_run_id = ? and status = 'open' "
            "group by sobject", [run_id]).fetchall():
        out.setdefault(sobject, {"created": 0, "updated": 0, "removed": 0, "failed": 0, "dead_lettered": 0})
        out[sobject]["dead_lettered"] = int(n)
    if any(k.startswith("campaigns.") for k in push):
        out["CampaignMember"] = {"created": int(push.get("campaigns.added", 0)), "updated": 0,
                                 "removed": int(push.get("campaigns.removed", 0)),
                                 "failed": int(push.get("campaigns.failed", 0)), "dead_lettered": 0}
    return out


def _lift_value(column: str, value: Any) -> Any:
    """JSON-able: names as text, counts as int, rates and lifts (DuckDB decimals too) as float."""
    if value is None:
        return None
    if column in ("segment_name", "campaign_name"):
        return str(value)
    return int(value) if column in ("members", "holdouts") else float(value)


def _stage_seconds(stages: dict[str, dict[str, float]]) -> dict[str, float]:
    """Wall seconds per stage (each stage's metric `seconds`), in run order."""
    order = {name: i for i, name in enumerate(STAGE_ORDER)}
    timed = [(stage, m["seconds"]) for stage, m in stages.items() if "seconds" in m]
    return {stage: round(float(s), 3) for stage, s in sorted(timed, key=lambda t: (order.get(t[0], 99), t[0]))}


def _campaign_lift(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]] | None:
    """Campaign lift per segment (marts.campaign_lift), or None while that model does not exist."""
    from crm360.segments import relation_exists

    if not relation_exists(con, "marts.campaign_lift"):
        return None
    cursor = con.execute("select * from marts.campaign_lift")
    names = [d[0] for d in cursor.description]
    out = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        out.append({k: _lift_value(k, row[k]) for k in LIFT_COLUMNS if k in row})
    return sorted(out, key=lambda r: (str(r.get("segment_name")), str(r.get("campaign_name"))))


def _personalization(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """How many people got each personal attribute (marts.customer_personalization)."""
    try:
        row = con.execute(
            "select count(*), count(next_best_product_id), count(next_best_offer_id), count(churn_risk), "
            "count(nearest_store_id), count(named_contact_user_id), count(open_cart_id) "
            "from marts.customer_personalization").fetchone()
    except duckdb.CatalogException:
        return {}
    keys = ("customers", "next_best_product", "next_best_offer", "churn_risk", "nearest_store",
            "named_contact", "open_cart")
    return dict(zip(keys, row, strict=True)) if row else {}


def build_summary(con: duckdb.DuckDBPyConnection, window: RunWindow,
                  stage_states: dict[str, str] | None = None) -> dict[str, Any]:
    """The run's numbers from crm360_ops; `stage_states` (task id -> Airflow state) marks failures."""
    stage_states = dict(stage_states or {})
    metrics = con.execute(
        f"select stage, metric, value from {OPS_SCHEMA}.stage_metrics where run_id = ? order by stage, metric",
        [window.run_id]).fetchall()
    stages: dict[str, dict[str, float]] = {}
    for stage, metric, value in metrics:
        stages.setdefault(stage, {})[metric] = value
    checks = con.execute(
        f"select suite, severity, success, expectations_evaluated, expectations_failed, first_failure "
        f"from {OPS_SCHEMA}.quality_results where run_id = ? order by suite", [window.run_id]).fetchall()
    push = stages.get("push_to_salesforce", {})
    return {
        "segments": _segments(con, window.ds_str),
        "identity": _identity(stages),
        "stage_seconds": _stage_seconds(stages),
        "campaign_lift": _campaign_lift(con),
        "personalization": _personalization(con),
        "run_id": window.run_id,
        "run_type": window.run_type,
        "ds": window.ds_str,
        "data_interval": [window.start.isoformat(), window.end.isoformat()],
        "customers_unified": _scalar(con, "select count(*) from marts.customer_360"),
        "source_records_unified": _scalar(con, "select sum(source_record_count) from marts.customer_360"),
        "stage_states": stage_states,
        "failed_stages": [t for t, s in stage_states.items() if s != "success"],
        "stages": stages,
        "checks": [
            {"suite": s, "severity": sev, "success": ok, "evaluated": n, "failed": f, "first_failure": ff}
            for s, sev, ok, n, f, ff in checks
        ],
        "checks_passed": sum(1 for c in checks if c[2]),
        "checks_failed": sum(1 for c in checks if not c[2]),
        "salesforce": {
            "records_written": int(sum(v for k, v in push.items() if k.endswith(".succeeded"))),
            "records_failed": int(sum(v for k, v in push.items() if k.endswith(".failed"))),
            "records_changed": int(sum(v for k, v in push.items() if k.endswith(".changed"))),
            "api_calls": int(sum(v for k, v in push.items() if k.endswith(".api_calls"))),
            "dead_lettered": int(sum(v for k, v in push.items() if k.endswith(".dead_lettered"))),
            "read_back": int(sum(v for k, v in push.items() if k.endswith(".verified"))),
            "mismatches": int(sum(v for k, v in push.items() if k.endswith(".mismatches"))),
            "campaigns_created": int(push.get("campaigns.created", 0)),
            "campaign_members_added": int(push.get("campaigns.added", 0)),
            "campaign_members_removed": int(push.get("campaigns.removed", 0)),
            "open_dead_letters": _scalar(con, f"select count(*) from {OPS_SCHEMA}.sync_dead_letters "
                                              "where status = 'open'"),
            "mode": _push_mode(con, window.run_id),
            "by_object": _salesforce_by_object(con, window.run_id, push),
        },
    }


def _push_mode(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """Why this run did or did not write to Salesforce (the push stage's recorded reason)."""
    row = con.execute(f"select any_value(detail) from {OPS_SCHEMA}.stage_metrics where run_id = ? "
                      "and stage = 'push_to_salesforce'", [run_id]).fetchone()
    return row[0] if row else None


def render_markdown(summary: dict[str, Any]) -> str:
    segments = summary.get("segments") or []  # reports written before segments existed have none
    lines = [
        f"# crm360 nightly run — {summary['ds']}",
        "",
        f"Run `{summary['run_id']}` ({summary['run_type']}), data interval "
        f"{summary['data_interval'][0]} → {summary['data_interval'][1]}.",
        "",
        f"- Customers unified: **{summary['customers_unified']}** "
        f"(from {summary['source_records_unified']} source records)",
        f"- Stages: **{_stages_line(summary['failed_stages'])}**",
        f"- Quality checks: **{summary['checks_passed']} passed, {summary['checks_failed']} failed**",
        f"- Salesforce: **{summary['salesforce']['records_written']} records written**, "
        f"{summary['salesforce']['records_failed']} failed, {summary['salesforce']['records_changed']} changed, "
        f"{summary['salesforce']['api_calls']} API calls ({summary['salesforce'].get('mode') or 'not run'})",
        f"- Salesforce checks: {summary['salesforce'].get('dead_lettered', 0)} dead-lettered this run "
        f"({summary['salesforce'].get('open_dead_letters', 0)} open), "
        f"{summary['salesforce'].get('read_back', 0)} read back with {summary['salesforce'].get('mismatches', 0)} "
        "mismatches",
        f"- Campaigns: {summary['salesforce'].get('campaigns_created', 0)} created, "
        f"{summary['salesforce'].get('campaign_members_added', 0)} members added, "
        f"{summary['salesforce'].get('campaign_members_removed', 0)} removed",
        f"- Segments: **{len(segments)}**, "
        f"{sum(1 for s in segments if s['is_below_min_size'])} below their minimum size (not sent)",
        f"- Personalization: {personalization_line(summary.get('personalization') or {})}",
        "",
        "## Rows per stage",
        "",
        "| stage | metric | value |",
        "|---|---|---:|",
    ]
    for stage, metrics in summary["stages"].items():
        for metric, value in metrics.items():
            lines.append(f"| {stage} | {metric} | {value:g} |")
    lines += ["", "## Quality checks", "", "| suite | severity | result | failed / evaluated | first failure |",
              "|---|---|---|---:|---|"]
    for c in summary["checks"]:
        result = "passed" if c["success"] else "FAILED"
        lines.append(f"| {c['suite']} | {c['severity']} | {result} | {c['failed']} / {c['evaluated']} | "
                     f"{c['first_failure'] or ''} |")
    if segments:
        lines += ["", "## Segments", "", "| segment | members | held out | sendable | change | entered | left | "
                  "size guard |", "|---|---:|---:|---:|---:|---:|---:|---|"]
        for s in segments:
            guard = "below minimum size: not sent" if s["is_below_min_size"] else ""
            change = "" if s.get("change") is None else f"{s['change']:+d}"
            lines.append(f"| {s['segment_name']} | {s['members']} | {s['holdout_members']} | "
                         f"{s['sendable_members']} | {change} | {s.get('entered', '')} | {s.get('left', '')} | "
                         f"{guard} |")
    return "\n".join(lines) + "\n"


def personalization_line(p: dict[str, Any]) -> str:
    """How many people got each personal attribute, in one line (report and demo)."""
    if not p:
        return "not built"
    return (f"{p['customers']} customers: next-best product {p['next_best_product']}, offer {p['next_best_offer']}, "
            f"churn risk {p['churn_risk']}, nearest store {p['nearest_store']}, named contact "
            f"{p['named_contact']}, open cart {p['open_cart']}")


def _is_newest(reports_root: Path, ds: str) -> bool:
    """A backfill of an old date must not replace the report of the newest date as `latest`."""
    if not reports_root.exists():
        return True
    return all(p.name <= ds for p in reports_root.iterdir() if p.is_dir() and len(p.name) == 10)


def _stages_line(failed: list[str]) -> str:
    return "all succeeded" if not failed else "NOT successful: " + ", ".join(failed)


def write_summary(summary: dict[str, Any], reports_root: Path) -> dict[str, Path]:
    """Write the day's report (JSON, Markdown, HTML with charts); update `latest.*` only when this is
    the newest date reported."""
    from crm360.report_html import render_html

    newest = _is_newest(reports_root, summary["ds"])
    day = reports_root / summary["ds"]
    day.mkdir(parents=True, exist_ok=True)
    texts = {"json": json.dumps(summary, indent=2, default=str), "markdown": render_markdown(summary),
             "html": render_html(summary)}
    paths = {"json": day / "run_summary.json", "markdown": day / "run_summary.md", "html": day / "run_report.html"}
    latest = {"latest_json": reports_root / "latest.json", "latest_markdown": reports_root / "latest.md",
              "latest_html": reports_root / "latest.html"}
    if newest:
        paths.update(latest)
    for key, path in paths.items():
        path.write_text(texts[key.removeprefix("latest_")])
    return paths
