"""The run report as one self-contained HTML page: charts a person would rather look at than read.

`render_html(summary)` turns the run summary (`crm360.report.build_summary`) into a page with
inline CSS and inline SVG charts: Altair (Vega-Lite) specs rendered offline by vl-convert, so the
page loads nothing from anywhere (no JavaScript, no CDN) and opens from a file or a mail
attachment. Sections: segment sizes and their change since the day before, entries and exits,
identity, data quality, what was written to Salesforce, time per stage and campaign lift per
segment. Every chart has its numbers in a table below it. Like the summary, the page holds counts
and segment names only: no emails, phones or names of people.
"""

from __future__ import annotations

from html import escape
from typing import Any

from crm360 import report_charts as charts
from crm360.report_charts import OUTCOMES

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0; color: #1a202c;
       background: #f7fafc; }
header { background: #1a365d; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; opacity: .85; }
main { padding: 16px 32px 48px; max-width: 1280px; }
.status { display: inline-block; margin-top: 10px; padding: 3px 10px; border-radius: 12px; font-weight: 600; }
.status.ok { background: #c6f6d5; color: #22543d; }
.status.failed { background: #fed7d7; color: #742a2a; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.tile { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 12px 16px; min-width: 140px; }
.tile .value { font-size: 26px; font-weight: 700; }
.tile .label { font-size: 13px; color: #4a5568; }
.tile.bad .value { color: #c53030; }
section { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
section h2 { margin: 0 0 8px; font-size: 19px; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
figure { margin: 0; }
figcaption { font-weight: 600; font-size: 14px; margin-bottom: 4px; }
.note { color: #4a5568; font-size: 14px; }
details { margin-top: 10px; }
summary { cursor: pointer; color: #2b6cb0; font-size: 14px; }
table { border-collapse: collapse; font-size: 13px; margin-top: 6px; }
th, td { border-bottom: 1px solid #e2e8f0; padding: 3px 10px; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
svg text { font-family: "DejaVu Sans", Verdana, sans-serif; }
"""


def render_html(summary: dict[str, Any]) -> str:
    """The whole page for one run summary (older summaries without some numbers render too)."""
    failed = summary.get("failed_stages") or []
    status = ('<span class="status ok">all stages succeeded</span>' if not failed else
              f'<span class="status failed">NOT successful: {escape(", ".join(failed))}</span>')
    interval = summary.get("data_interval") or ["", ""]
    body = [
        f"<header><h1>crm360 nightly run — {escape(str(summary['ds']))}</h1>",
        f"<p>Run <code>{escape(str(summary.get('run_id', '')))}</code> ({escape(str(summary.get('run_type', '')))}),"
        f" data interval {escape(str(interval[0]))} → {escape(str(interval[1]))}</p>{status}</header>",
        "<main>",
        _tiles(summary),
        _segments_section(summary.get("segments") or []),
        _identity_section(summary.get("identity") or {}),
        _quality_section(summary.get("checks") or []),
        _salesforce_section(summary.get("salesforce") or {}),
        _stages_section(summary.get("stage_seconds") or {}),
        _lift_section(summary.get("campaign_lift")),
        "</main>",
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>crm360 run report {escape(str(summary['ds']))}</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")


# ----------------------------------------------------------------------------- page parts

def _tiles(summary: dict[str, Any]) -> str:
    sf = summary.get("salesforce") or {}
    segments = summary.get("segments") or []
    tiles = [
        ("customers unified", summary.get("customers_unified"), False),
        ("quality checks passed", summary.get("checks_passed"), False),
        ("quality checks failed", summary.get("checks_failed"), bool(summary.get("checks_failed"))),
        ("segments", len(segments), False),
        ("Salesforce records written", sf.get("records_written"), False),
        ("Salesforce records failed", sf.get("records_failed"), bool(sf.get("records_failed"))),
        ("dead-lettered this run", sf.get("dead_lettered"), bool(sf.get("dead_lettered"))),
    ]
    return '<div class="tiles">' + "".join(_tile(label, value, bad) for label, value, bad in tiles) + "</div>"


def _tile(label: str, value: Any, bad: bool = False) -> str:
    key = label.replace(" ", "-").lower()
    return (f'<div class="tile{" bad" if bad else ""}" data-tile="{escape(key)}"><div class="value">'
            f'{escape(_number(value))}</div><div class="label">{escape(label)}</div></div>')


def _section(key: str, title: str, *parts: str) -> str:
    return f'<section id="{key}" data-section="{key}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def _figure(key: str, caption: str, chart: Any) -> str:
    return (f'<figure class="chart" data-chart="{key}"><figcaption>{escape(caption)}</figcaption>'
            f"{_svg(chart)}</figure>")


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _table(key: str, header: list[str], rows: list[list[Any]], numeric_from: int = 1) -> str:
    head = "".join(f'<th class="{"num" if i >= numeric_from else ""}">{escape(h)}</th>' for i, h in enumerate(header))
    lines = []
    for row in rows:
        cells = "".join(f'<td class="{"num" if i >= numeric_from else ""}">{escape(_number(v))}</td>'
                        for i, v in enumerate(row))
        lines.append(f"<tr>{cells}</tr>")
    return (f'<details><summary>the numbers</summary><table data-table="{key}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(lines)}</tbody></table></details>')


def _segments_section(segments: list[dict[str, Any]]) -> str:
    if not segments:
        return _section("segments", "Segments", _note("no segments were built for this run date"))
    parts = ['<div class="charts">', _figure("segment-sizes", "Members per segment", charts.segment_sizes(segments))]
    changed = [s for s in segments if s.get("change") is not None]
    if changed:
        parts.append(_figure("segment-changes", "Change since the day before", charts.segment_changes(changed)))
    moved = [s for s in segments if s.get("entered") or s.get("left")]
    if moved:
        parts.append(_figure("segment-entries-exits", "Entries and exits", charts.entries_exits(moved)))
    parts.append("</div>")
    if not changed:
        parts.append(_note("The first date of the membership history: there is no day before to compare with, "
                           "and everyone in a segment entered it today."))
    small = [s["segment_name"] for s in segments if s.get("is_below_min_size")]
    if small:
        parts.append(_note(f"Below their minimum size, not sent to their campaigns: {', '.join(small)}"))
    quiet = len(segments) - len(moved)
    if quiet and moved:
        parts.append(_note(f"{quiet} segments had no entries or exits."))
    rows = [[s["segment_name"], s["members"], s.get("holdout_members"), s.get("sendable_members"),
             _signed(s.get("change")), s.get("entered"), s.get("left"),
             "below minimum size: not sent" if s.get("is_below_min_size") else ""] for s in segments]
    parts.append(_table("segments", ["segment", "members", "held out", "sendable", "change", "entered", "left",
                                     "size guard"], rows))
    return _section("segments", "Segments", *parts)


def _identity_section(identity: dict[str, Any]) -> str:
    if not identity:
        return _section("identity", "Identity", _note("no identity metrics for this run"))
    tiles = [("records", identity.get("records")), ("customers", identity.get("customers")),
             ("customers with several records", identity.get("multi_record_customers")),
             ("largest cluster (records)", identity.get("largest_cluster")),
             ("merges since the last date", identity.get("merges")),
             ("splits since the last date", identity.get("splits"))]
    excluded = identity.get("excluded") or {}
    parts = ['<div class="tiles">' + "".join(_tile(label, value) for label, value in tiles) + "</div>",
             '<div class="charts">',
             _figure("identity", "Records stitched into customers", charts.identity_counts(identity))]
    if excluded:
        parts.append(_figure("identity-excluded", "Identifiers kept from joining records, by reason",
                             charts.excluded_identifiers(excluded)))
    parts.append("</div>")
    if not excluded:
        parts.append(_note("No identifier was kept from joining records."))
    rows = [[label, value] for label, value in tiles] + [[f"excluded: {k}", v] for k, v in excluded.items()]
    parts.append(_table("identity", ["metric", "value"], rows))
    return _section("identity", "Identity", *parts)


def _quality_section(checks: list[dict[str, Any]]) -> str:
    if not checks:
        return _section("quality", "Data quality", _note("no quality results for this run"))
    failed = [c for c in checks if not c["success"]]
    parts = [_figure("quality", "Expectations per suite", charts.quality(checks))]
    parts.append(_note("All suites passed." if not failed else
                       "Failed: " + "; ".join(f"{c['suite']} ({c['severity']}): {c.get('first_failure') or ''}"
                                             for c in failed)))
    rows = [[c["suite"], c["severity"], "passed" if c["success"] else "FAILED", c["evaluated"], c["failed"]]
            for c in checks]
    parts.append(_table("quality", ["suite", "severity", "result", "evaluated", "failed"], rows, numeric_from=3))
    return _section("quality", "Data quality", *parts)


def _salesforce_section(sf: dict[str, Any]) -> str:
    by_object = sf.get("by_object") or {}
    mode = sf.get("mode") or "not run"
    parts = [_note(f"Push: {mode}. {_number(sf.get('api_calls', 0))} API calls; "
                   f"{_number(sf.get('read_back', 0))} records read back with {_number(sf.get('mismatches', 0))} "
                   f"mismatches; {_number(sf.get('open_dead_letters', 0))} dead letters open.")]
    if any(any(v.get(o) for o in OUTCOMES) for v in by_object.values()):
        parts.append(_figure("salesforce", "Written to Salesforce, per object", charts.salesforce(by_object)))
    else:
        parts.append(_note("Nothing was written to Salesforce by this run."))
    rows = [[sobject, *(counts.get(o, 0) for o in OUTCOMES)] for sobject, counts in sorted(by_object.items())]
    parts.append(_table("salesforce", ["object", "created", "updated", "removed", "failed", "dead-lettered"], rows))
    return _section("salesforce", "Salesforce", *parts)


def _stages_section(seconds: dict[str, float]) -> str:
    if not seconds:
        return _section("stages", "Time per stage", _note("no stage timings for this run"))
    total = sum(seconds.values())
    parts = [_figure("stage-seconds", "Wall time per stage (seconds)", charts.stage_seconds(seconds)),
             _note(f"{total:,.1f} seconds in all (the report itself not counted)."),
             _table("stages", ["stage", "seconds"], [[k, f"{v:,.1f}"] for k, v in seconds.items()])]
    return _section("stages", "Time per stage", *parts)


def _lift_section(lift: list[dict[str, Any]] | None) -> str:
    measured = [r for r in lift or [] if r.get("conversion_lift") is not None]
    if not measured:
        parts = [_note("no campaign results yet: lift appears once members and holdouts of a segment's campaign "
                       "have converted (marts.campaign_lift)")]
    else:
        parts = [_figure("campaign-lift", "Conversion lift over the holdout (95% interval)",
                         charts.campaign_lift(measured))]
        if len(measured) < len(lift or []):
            parts.append(_note(f"{len(lift or []) - len(measured)} segment campaigns have no lift to show yet "
                               "(no members, no holdouts or no conversions among the holdouts)."))
    if not lift:
        return _section("campaign-lift", "Campaign lift per segment", *parts)
    rows = [[r.get("segment_name"), r.get("campaign_name"), r.get("members"), r.get("holdouts"),
             _pct(r.get("member_conversion_rate")), _pct(r.get("holdout_conversion_rate")),
             _pct(r.get("conversion_lift"), signed=True),
             f"{_pct(r.get('lift_ci_low'), signed=True)} … {_pct(r.get('lift_ci_high'), signed=True)}"] for r in lift]
    parts.append(_table("campaign-lift", ["segment", "campaign", "members", "holdouts", "member conversion",
                                          "holdout conversion", "lift", "95% interval"], rows, numeric_from=2))
    return _section("campaign-lift", "Campaign lift per segment", *parts)


# ----------------------------------------------------------------------------- formatting

def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return str(value)


def _signed(value: int | None) -> str:
    return "–" if value is None else f"{value:+,}"


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value * 100:+.1f}%" if signed else f"{value * 100:.1f}%"


def _svg(chart: Any) -> str:
    """The chart as an inline SVG element (vl-convert renders Vega-Lite offline, no browser)."""
    import vl_convert

    svg = vl_convert.vegalite_to_svg(charts.configured(chart).to_dict())
    return svg[svg.index("<svg"):]
