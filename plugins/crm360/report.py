"""The run summary: what the nightly run did, in numbers a person reads.

Written per run date to `<reports>/<ds>/run_summary.{json,md}` and, for the newest run, to the
stable paths `<reports>/latest.{json,md}`. It shows counts only: no emails, phones or names.
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


def _segments(con: duckdb.DuckDBPyConnection, ds: str) -> list[dict[str, Any]]:
    """The run date's segment sizes (marts.segment_summary), or nothing if it holds another date."""
    from crm360.segments import segment_sizes

    sizes = segment_sizes(con)
    return [row for _, row in sorted(sizes.items()) if row["as_of_date"] == ds]


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
        lines += ["", "## Segments", "", "| segment | members | held out | sendable | size guard |",
                  "|---|---:|---:|---:|---|"]
        for s in segments:
            guard = "below minimum size: not sent" if s["is_below_min_size"] else ""
            lines.append(f"| {s['segment_name']} | {s['members']} | {s['holdout_members']} | "
                         f"{s['sendable_members']} | {guard} |")
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
    """Write the day's report; update `latest.*` only when this is the newest date reported."""
    newest = _is_newest(reports_root, summary["ds"])
    day = reports_root / summary["ds"]
    day.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary, indent=2, default=str)
    markdown = render_markdown(summary)
    paths = {"json": day / "run_summary.json", "markdown": day / "run_summary.md",
             "latest_json": reports_root / "latest.json", "latest_markdown": reports_root / "latest.md"}
    paths["json"].write_text(text)
    paths["markdown"].write_text(markdown)
    if newest:
        paths["latest_json"].write_text(text)
        paths["latest_markdown"].write_text(markdown)
    else:
        del paths["latest_json"], paths["latest_markdown"]
    return paths
