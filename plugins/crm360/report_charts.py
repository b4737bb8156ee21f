"""The run report's charts as Altair (Vega-Lite) specs, one function per chart, data in, chart out.

`crm360.report_html` renders them to inline SVG. Each bar carries its number as a label, so the
picture reads without hovering (the SVG has no script); a mark's aria-label names its fields too.
"""

from __future__ import annotations

from typing import Any

import altair as alt

# colours a person reads without a legend: good, bad, neutral, warning, muted
GOOD, BAD, NEUTRAL, WARN, MUTED = "#2f855a", "#c53030", "#2b6cb0", "#dd6b20", "#a0aec0"
OUTCOMES = ("created", "updated", "removed", "failed", "dead_lettered")  # what a push did to records
OUTCOME_COLOURS = (GOOD, NEUTRAL, "#718096", BAD, WARN)
WIDTH = 560  # pixels of a chart's plot area
STEP = 18  # pixels per bar (or group of bars)
# Vega lays text out with the widths of this font (vl-convert measures it); the page's CSS asks for
# the same font, so labels fit where it is installed and have room to spare where it is not.
FONT = "DejaVu Sans"


def configured(chart: Any) -> Any:
    """The look every chart shares: one font, no frame around the plot, room for wide labels."""
    return (chart.configure(font=FONT, padding={"left": 8, "right": 16, "top": 4, "bottom": 4})
            .configure_view(stroke=None).configure_axis(labelFontSize=11, titleFontSize=11, titleFontWeight="normal")
            .configure_legend(labelFontSize=11, labelLimit=320, symbolType="square"))


def _bars(rows: list[dict[str, Any]], y: str, x: str, x_title: str, colour: Any, sort: Any = "-x",
          label_format: str = ",") -> alt.LayerChart:
    """Horizontal bars with their value at the end of each bar (left of a negative one). `sort` "-x"
    is resolved here: Vega-Lite cannot sort a scale shared by layers with different transforms."""
    if sort == "-x":
        sort = [r[y] for r in sorted(rows, key=lambda r: (-r[x], r[y]))]
    base = alt.Chart(alt.Data(values=rows)).encode(
        y=alt.Y(f"{y}:N", title=None, sort=sort, axis=alt.Axis(labelLimit=300)),
        # room for the labels left of negative bars; positive ones may run past the plot's end
        x=alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(padding=28) if any(r[x] < 0 for r in rows) else alt.Undefined),
    )
    bars = base.mark_bar().encode(color=colour, tooltip=[f"{y}:N", alt.Tooltip(f"{x}:Q", format=label_format)])
    text = alt.Text(f"{x}:Q", format=label_format)
    right = base.transform_filter(f"datum['{x}'] >= 0").mark_text(align="left", dx=3, fontSize=10).encode(text=text)
    left = base.transform_filter(f"datum['{x}'] < 0").mark_text(align="right", dx=-3, fontSize=10).encode(text=text)
    return alt.layer(bars, right, left).properties(width=WIDTH, height=alt.Step(STEP))


def segment_sizes(segments: list[dict[str, Any]]) -> alt.LayerChart:
    rows = [{"segment": s["segment_name"], "members": int(s["members"]),
             "status": "below minimum size (not sent)" if s.get("is_below_min_size") else "sent"} for s in segments]
    colour = alt.Color("status:N", title=None, legend=alt.Legend(orient="bottom"),
                       scale=alt.Scale(domain=["sent", "below minimum size (not sent)"], range=[NEUTRAL, WARN]))
    return _bars(rows, "segment", "members", "members", colour)


def segment_changes(segments: list[dict[str, Any]]) -> alt.LayerChart:
    rows = [{"segment": s["segment_name"], "change": int(s["change"]),
             "direction": "grew" if s["change"] > 0 else "shrank" if s["change"] < 0 else "unchanged"}
            for s in segments]
    colour = alt.Color("direction:N", title=None, legend=alt.Legend(orient="bottom"),
                       scale=alt.Scale(domain=["grew", "shrank", "unchanged"], range=[GOOD, BAD, MUTED]))
    return _bars(rows, "segment", "change", "members, change since the day before", colour, label_format="+,")


def entries_exits(segments: list[dict[str, Any]]) -> alt.LayerChart:
    """People who entered (to the right) and left (to the left) each segment on the run date."""
    rows = []
    for s in segments:
        rows.append({"segment": s["segment_name"], "event": "entered", "people": int(s.get("entered") or 0),
                     "signed": int(s.get("entered") or 0)})
        rows.append({"segment": s["segment_name"], "event": "left", "people": int(s.get("left") or 0),
                     "signed": -int(s.get("left") or 0)})
    base = alt.Chart(alt.Data(values=rows)).encode(
        y=alt.Y("segment:N", title=None, sort=[s["segment_name"] for s in segments], axis=alt.Axis(labelLimit=300)),
        x=alt.X("signed:Q", title="people: ← left · entered →", scale=alt.Scale(padding=28)),
    )
    bars = base.mark_bar().encode(
        color=alt.Color("event:N", title=None, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=["entered", "left"], range=[GOOD, BAD])),
        tooltip=["segment:N", "event:N", alt.Tooltip("people:Q", format=",")])
    entered = base.transform_filter("datum.event == 'entered' && datum.people > 0").mark_text(
        align="left", dx=3, fontSize=10).encode(text=alt.Text("people:Q", format=","))
    left = base.transform_filter("datum.event == 'left' && datum.people > 0").mark_text(
        align="right", dx=-3, fontSize=10).encode(text=alt.Text("people:Q", format=","))
    return alt.layer(bars, entered, left).properties(width=WIDTH, height=alt.Step(STEP))


def identity_counts(identity: dict[str, Any]) -> alt.LayerChart:
    order = ["source records", "customers", "customers with several records"]
    rows = [{"measure": name, "count": int(identity.get(key) or 0)}
            for name, key in zip(order, ("records", "customers", "multi_record_customers"), strict=True)]
    return _bars(rows, "measure", "count", "count", alt.value(NEUTRAL), sort=order).properties(width=360)


def excluded_identifiers(excluded: dict[str, int]) -> alt.LayerChart:
    rows = [{"reason": reason, "identifiers": int(n)} for reason, n in excluded.items()]
    return _bars(rows, "reason", "identifiers", "identifiers", alt.value(WARN)).properties(width=360)


def quality(checks: list[dict[str, Any]]) -> alt.LayerChart:
    """Expectations passed and failed per suite (stacked), the suite's severity in its label."""
    rows = []
    for c in checks:
        name = f"{c['suite']} ({c['severity']})"
        evaluated, failed = int(c.get("evaluated") or 0), int(c.get("failed") or 0)
        rows.append({"suite": name, "outcome": "passed", "expectations": evaluated - failed, "order": 0})
        rows.append({"suite": name, "outcome": "failed", "expectations": failed, "order": 1})
    base = alt.Chart(alt.Data(values=rows)).encode(
        y=alt.Y("suite:N", title=None, sort=[f"{c['suite']} ({c['severity']})" for c in checks],
                axis=alt.Axis(labelLimit=340)),
        x=alt.X("expectations:Q", title="expectations", stack="zero"),
    )
    bars = base.mark_bar().encode(
        color=alt.Color("outcome:N", title=None, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=["passed", "failed"], range=[GOOD, BAD])),
        order=alt.Order("order:Q"), tooltip=["suite:N", "outcome:N", "expectations:Q"])
    totals = alt.Chart(alt.Data(values=[{"suite": f"{c['suite']} ({c['severity']})", "evaluated":
                                         int(c.get("evaluated") or 0), "failed": int(c.get("failed") or 0)}
                                        for c in checks])).transform_calculate(
        label="datum.failed > 0 ? datum.failed + ' of ' + datum.evaluated + ' failed' : datum.evaluated + ' passed'"
    ).mark_text(align="left", dx=3, fontSize=10).encode(y=alt.Y("suite:N", sort=[f"{c['suite']} ({c['severity']})"
                                                                              for c in checks]),
                                                        x="evaluated:Q", text="label:N")
    return alt.layer(bars, totals).properties(width=WIDTH, height=alt.Step(STEP))


def salesforce(by_object: dict[str, dict[str, int]]) -> alt.LayerChart:
    """One bar per object and outcome: created (CampaignMembers: added), updated, removed, failed and
    dead-lettered, each shown when it happened; failed always, so "0 failed" is seen too. Dead
    letters are failures kept for the next run, so they are not stacked on top of them."""
    rows = []
    for sobject, counts in sorted(by_object.items()):
        for outcome in OUTCOMES:
            n = int(counts.get(outcome, 0))
            if n or outcome == "failed":
                name = "added" if (sobject, outcome) == ("CampaignMember", "created") else outcome.replace("_", "-")
                rows.append({"bar": f"{sobject} {name}", "object": sobject, "outcome": outcome.replace("_", "-"),
                             "records": n})
    domain = [o.replace("_", "-") for o in OUTCOMES]
    base = alt.Chart(alt.Data(values=rows)).encode(
        y=alt.Y("bar:N", title=None, sort=[r["bar"] for r in rows], axis=alt.Axis(labelLimit=300)),
        x=alt.X("records:Q", title="records"),
    )
    bars = base.mark_bar().encode(
        color=alt.Color("outcome:N", title=None, legend=None, scale=alt.Scale(domain=domain,
                                                                             range=list(OUTCOME_COLOURS))),
        tooltip=["object:N", "outcome:N", alt.Tooltip("records:Q", format=",")])
    text = base.mark_text(align="left", dx=3, fontSize=10).encode(text=alt.Text("records:Q", format=","))
    return alt.layer(bars, text).properties(width=WIDTH, height=alt.Step(STEP))


def stage_seconds(seconds: dict[str, float]) -> alt.LayerChart:
    rows = [{"stage": stage, "seconds": round(float(s), 1)} for stage, s in seconds.items()]
    return _bars(rows, "stage", "seconds", "seconds", alt.value(NEUTRAL), sort=list(seconds), label_format=",.1f")


def campaign_lift(lift: list[dict[str, Any]]) -> alt.LayerChart:
    """Relative conversion lift of members over the holdout per segment, with its interval; the
    line at zero is "no better than not sending"."""
    segments = [r.get("segment_name") for r in lift]
    several = len(set(segments)) < len(segments)
    rows = []
    for r in lift:
        name = f"{r.get('segment_name')} · {r.get('campaign_name')}" if several else str(r.get("segment_name"))
        value = r.get("conversion_lift")
        rows.append({"segment": name, "campaign": str(r.get("campaign_name")), "lift": value,
                     "low": r.get("lift_ci_low"), "high": r.get("lift_ci_high"),
                     "members": r.get("members"), "holdouts": r.get("holdouts"),
                     "verdict": "no measure" if value is None else "higher than holdout" if (r.get("lift_ci_low") or 0)
                     > 0 else "lower than holdout" if (r.get("lift_ci_high") or 0) < 0 else "not distinguishable"})
    data = alt.Data(values=rows)
    y = alt.Y("segment:N", title=None, axis=alt.Axis(labelLimit=340))
    x = alt.X("lift:Q", title="conversion lift over the holdout", axis=alt.Axis(format="+%"))
    interval = alt.Chart(data).mark_rule(color=MUTED, strokeWidth=2).encode(y=y, x=alt.X("low:Q"), x2="high:Q")
    points = alt.Chart(data).mark_point(filled=True, size=70).encode(
        y=y, x=x,
        color=alt.Color("verdict:N", title=None, legend=alt.Legend(orient="bottom", direction="vertical"),
                        scale=alt.Scale(domain=["higher than holdout", "not distinguishable", "lower than holdout",
                                                "no measure"], range=[GOOD, NEUTRAL, BAD, MUTED])),
        tooltip=["segment:N", "campaign:N", alt.Tooltip("lift:Q", format="+.1%"),
                 alt.Tooltip("low:Q", format="+.1%"), alt.Tooltip("high:Q", format="+.1%"), "members:Q", "holdouts:Q"])
    labels = alt.Chart(data).mark_text(align="left", dx=8, dy=-7, fontSize=10).encode(
        y=y, x=x, text=alt.Text("lift:Q", format="+.1%"))
    zero = alt.Chart(alt.Data(values=[{"zero": 0}])).mark_rule(color="#4a5568", strokeDash=[4, 3]).encode(x="zero:Q")
    return alt.layer(zero, interval, points, labels).properties(width=WIDTH, height=alt.Step(22))
