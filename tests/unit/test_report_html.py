"""The HTML run report: charts with the run's numbers, self-contained, counts and segment names only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crm360 import warehouse
from crm360.report import build_summary, write_summary
from crm360.report_html import render_html
from crm360.rundate import RunWindow
from tests.report_page import marks, number, read_page

DS = "2026-11-20"


def _segment(name: str, members: int, entered: int, left: int, change: int | None = None,
             small: bool = False) -> dict[str, Any]:
    return {"segment_name": name, "members": members, "holdout_members": members // 10,
            "sendable_members": members - members // 10, "is_below_min_size": small, "as_of_date": DS,
            "entered": entered, "left": left, "change": entered - left if change is None else change,
            "previous_members": members - entered + left}


def _summary(**changes: Any) -> dict[str, Any]:
    summary = {
        "ds": DS, "run_id": f"manual__{DS}", "run_type": "manual", "data_interval": [DS, "2026-11-21"],
        "customers_unified": 1432, "source_records_unified": 2900, "stage_states": {}, "failed_stages": [],
        "stages": {}, "checks_passed": 1, "checks_failed": 1,
        "segments": [_segment("champions", 120, 10, 4), _segment("lost", 300, 2, 30),
                     _segment("tiny_segment", 3, 0, 0, small=True)],
        "identity": {"records": 2900, "customers": 1432, "multi_record_customers": 800, "largest_cluster": 7,
                     "merges": 2, "splits": 1, "excluded": {"blocklisted": 3, "shared_phone": 12}},
        "checks": [{"suite": "raw.salesforce_contact.critical", "severity": "critical", "success": True,
                    "evaluated": 12, "failed": 0, "first_failure": None},
                   {"suite": "marts.customer_360.warning", "severity": "warning", "success": False,
                    "evaluated": 9, "failed": 2, "first_failure": "expect_column_values_to_not_be_null(email)"}],
        "salesforce": {"records_written": 1200, "records_failed": 3, "records_changed": 1203, "dead_lettered": 3,
                       "api_calls": 14,
                       "mode": "manual run for the newest date",
                       "by_object": {"Contact": {"created": 0, "updated": 1000, "removed": 0, "failed": 2,
                                                 "dead_lettered": 2},
                                     "Lead": {"created": 5, "updated": 195, "removed": 0, "failed": 1,
                                              "dead_lettered": 1},
                                     "CampaignMember": {"created": 340, "updated": 0, "removed": 12, "failed": 0,
                                                        "dead_lettered": 0}}},
        "stage_seconds": {"extract_salesforce": 4.2, "dbt_build": 61.0, "push_to_salesforce": 12.9},
        "campaign_lift": None,
    }
    summary.update(changes)
    return summary


def test_every_section_is_a_rendered_chart_with_the_runs_numbers() -> None:
    page = read_page(render_html(_summary()))
    assert page.title == f"crm360 run report {DS}"
    assert set(page.charts) == {"segment-sizes", "segment-changes", "segment-entries-exits", "identity",
                                "identity-excluded", "quality", "salesforce", "stage-seconds"}
    assert all(chart.svg for chart in page.charts.values())
    sizes = {m["segment"]: int(m["members"]) for m in marks(page.charts["segment-sizes"])}
    assert sizes == {"champions": 120, "lost": 300, "tiny_segment": 3}
    # the value labels a person reads at the end of each bar, and the segment names on the axis
    assert {"120", "300", "3", "champions", "lost", "tiny_segment"} <= set(page.charts["segment-sizes"].texts)
    changes = {m["segment"]: number(m["change"]) for m in marks(page.charts["segment-changes"])}
    assert changes == {"champions": 6, "lost": -28, "tiny_segment": 0}
    assert {"+6", "−28"} <= set(page.charts["segment-changes"].texts)
    moves = {(m["segment"], m["event"]): int(m["people"]) for m in marks(page.charts["segment-entries-exits"])}
    assert moves == {("champions", "entered"): 10, ("champions", "left"): 4, ("lost", "entered"): 2,
                     ("lost", "left"): 30}, "a segment without entries or exits is left out"
    written = {m["bar"]: int(m["records"]) for m in marks(page.charts["salesforce"])}
    assert written == {"Contact updated": 1000, "Contact failed": 2, "Contact dead-lettered": 2,
                       "Lead created": 5, "Lead updated": 195, "Lead failed": 1, "Lead dead-lettered": 1,
                       "CampaignMember added": 340, "CampaignMember removed": 12, "CampaignMember failed": 0}
    quality = {(m["suite"], m["outcome"]): int(m["expectations"]) for m in marks(page.charts["quality"])}
    assert quality[("marts.customer_360.warning (warning)", "failed")] == 2
    assert "2 of 9 failed" in page.charts["quality"].texts
    seconds = [m["stage"] for m in marks(page.charts["stage-seconds"])]
    assert sorted(seconds) == sorted(["extract_salesforce", "dbt_build", "push_to_salesforce"])
    assert page.tiles["customers-unified"] == "1,432" and page.tiles["salesforce-records-written"] == "1,200"
    assert page.tiles["largest-cluster-(records)"] == "7"
    segments = page.table("segments")
    assert [number(v) for v in segments["lost"][1:7]] == [300, 30, 270, -28, 2, 30]
    assert "below minimum size" in segments["tiny_segment"][7]
    assert "no campaign results yet" in page.sections["campaign-lift"]


def test_page_is_self_contained() -> None:
    html = render_html(_summary())
    page = read_page(html)
    assert page.scripts == 0 and page.resources == [], "the report must load nothing (no CDN, no network)"
    assert "<style>" in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', "")


def test_campaign_lift_per_segment_with_its_interval() -> None:
    lift = [{"segment_name": "champions", "campaign_name": "Champions", "members": 90, "holdouts": 10,
             "member_response_rate": 0.3, "member_conversion_rate": 0.12, "holdout_conversion_rate": 0.08,
             "conversion_lift": 0.5, "lift_ci_low": 0.1, "lift_ci_high": 0.9},
            {"segment_name": "lost", "campaign_name": "Win back", "members": 300, "holdouts": 30,
             "member_response_rate": 0.1, "member_conversion_rate": 0.02, "holdout_conversion_rate": 0.025,
             "conversion_lift": -0.2, "lift_ci_low": -0.6, "lift_ci_high": 0.3}]
    page = read_page(render_html(_summary(campaign_lift=lift)))
    chart = page.charts["campaign-lift"]
    assert chart.svg and {"+50.0%", "−20.0%", "champions", "lost"} <= set(chart.texts)
    points = {m["segment"]: m["verdict"] for m in marks(chart) if "verdict" in m}
    assert points == {"champions": "higher than holdout", "lost": "not distinguishable"}
    rows = page.table("campaign-lift")
    assert rows["champions"][6] == "+50.0%" and rows["lost"][7] == "-60.0% … +30.0%"
    assert "no campaign results yet" not in page.sections["campaign-lift"]


def test_first_date_and_a_failed_run_say_so() -> None:
    first = [dict(_segment("champions", 120, 120, 0), change=None, previous_members=None)]
    page = read_page(render_html(_summary(segments=first, failed_stages=["push_to_salesforce"])))
    assert "segment-changes" not in page.charts
    assert "no day before to compare with" in page.sections["segments"]
    assert page.table("segments")["champions"][4] == "–"


def test_an_old_summary_without_the_new_numbers_still_renders() -> None:
    old = {"run_id": "scheduled__2026-11-19", "run_type": "scheduled", "ds": "2026-11-19", "data_interval": ["a", "b"],
           "customers_unified": 12, "source_records_unified": 20, "stage_states": {}, "failed_stages": [],
           "stages": {}, "checks": [], "checks_passed": 0, "checks_failed": 0,
           "salesforce": {"records_written": 3, "records_failed": 1, "records_changed": 4, "api_calls": 1}}
    page = read_page(render_html(old))
    assert page.charts == {}
    assert page.tiles["salesforce-records-written"] == "3"
    assert "no campaign results yet" in page.sections["campaign-lift"]


@pytest.fixture()
def con(tmp_path: Path) -> Any:
    with warehouse.connect(tmp_path / "w.duckdb") as c:
        yield c


def test_build_summary_adds_changes_identity_salesforce_objects_and_seconds(con: duckdb.DuckDBPyConnection) -> None:
    window = RunWindow.for_day(DS)
    con.execute("create schema marts")
    con.execute("create table marts.segment_summary as select * from (values "
                "('champions', 10, 1, 9, false, date '2026-11-20'), ('lost', 4, 0, 4, true, date '2026-11-20')) "
                "t(segment_name, members, holdout_members, sendable_members, is_below_min_size, as_of_date)")
    con.execute("create table marts.segment_membership_history as select * from (values "
                "(date '2026-11-19', 'c1', 'champions', 'entered', true), "
                "(date '2026-11-20', 'c2', 'champions', 'entered', false), "
                "(date '2026-11-20', 'c3', 'champions', 'entered', false), "
                "(date '2026-11-20', 'c4', 'champions', 'left', false)) "
                "t(event_date, customer_id, segment_name, event_type, is_initial)")
    warehouse.record_metrics(con, window.run_id, DS, "identity", {"records": 30, "customers": 20,
                                                                  "excluded.shared_phone": 2})
    warehouse.record_metrics(con, window.run_id, DS, "dbt_build", {"nodes.success": 3, "seconds": 42.5})
    warehouse.record_metrics(con, window.run_id, DS, "extract_salesforce", {"seconds": 3.0})
    warehouse.record_metrics(con, window.run_id, DS, "push_to_salesforce",
                             {"contact_attributes.succeeded": 3, "campaigns.added": 7, "campaigns.removed": 1,
                              "seconds": 9.0}, {"contact_attributes.succeeded": "manual run"})
    warehouse.insert_rows(con, "sync_history", ["run_id", "ds", "sobject", "record_id", "operation", "success",
                                                "error_code", "error", "sent_values", "method", "attempts"],
                          [(window.run_id, DS, "Contact", "003A", "update", True, None, None, "{}", "collections", 1),
                           (window.run_id, DS, "Contact", "003B", "update", True, None, None, "{}", "collections", 1),
                           (window.run_id, DS, "Contact", "003C", "update", False, "X", "x", "{}", "collections", 1),
                           (window.run_id, DS, "Lead", "00QA", "create", True, None, None, "{}", "collections", 1),
                           ("other_run", DS, "Lead", "00QB", "update", True, None, None, "{}", "collections", 1)])
    con.execute(f"insert into {warehouse.OPS_SCHEMA}.sync_dead_letters values ('Contact', '003C', 'update', '{{}}', "
                f"'X', 'x', 1, '{window.run_id}', '{DS}', '{window.run_id}', '{DS}', 'open', null, now())")
    summary = build_summary(con, window)
    champions, lost = summary["segments"]
    assert (champions["entered"], champions["left"], champions["change"], champions["previous_members"]) == (2, 1, 1, 9)
    assert (lost["entered"], lost["left"], lost["change"]) == (0, 0, 0), "no events: unchanged since the day before"
    assert summary["identity"] == {"records": 30, "customers": 20, "excluded": {"shared_phone": 2}}
    assert summary["salesforce"]["by_object"] == {
        "Contact": {"created": 0, "updated": 2, "removed": 0, "failed": 1, "dead_lettered": 1},
        "Lead": {"created": 1, "updated": 0, "removed": 0, "failed": 0, "dead_lettered": 0},
        "CampaignMember": {"created": 7, "updated": 0, "removed": 1, "failed": 0, "dead_lettered": 0}}
    assert list(summary["stage_seconds"].items()) == [("extract_salesforce", 3.0), ("dbt_build", 42.5),
                                                      ("push_to_salesforce", 9.0)]
    assert summary["salesforce"]["mode"] == "manual run"
    assert summary["campaign_lift"] is None
    con.execute("create table marts.campaign_lift as select 'champions' as segment_name, 'Champions' as "
                "campaign_name, 9 as members, 1 as holdouts, 0.5 as member_response_rate, "
                "cast(0.2 as decimal(9, 4)) as member_conversion_rate, 0.1 as holdout_conversion_rate, "
                "1.0 as conversion_lift, -0.5 as lift_ci_low, 3.0 as lift_ci_high, 'x@example.com' as contact_email")
    lift = build_summary(con, window)["campaign_lift"]
    assert lift == [{"segment_name": "champions", "campaign_name": "Champions", "members": 9, "holdouts": 1,
                     "member_response_rate": 0.5, "member_conversion_rate": 0.2, "holdout_conversion_rate": 0.1,
                     "conversion_lift": 1.0, "lift_ci_low": -0.5, "lift_ci_high": 3.0}], "only the known columns"
    json.dumps(build_summary(con, window))


def test_first_date_of_the_history_has_no_change(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema marts")
    con.execute("create table marts.segment_summary as select 'champions' as segment_name, 1 as members, "
                "0 as holdout_members, 1 as sendable_members, false as is_below_min_size, "
                "date '2026-11-20' as as_of_date")
    con.execute("create table marts.segment_membership_history as select date '2026-11-20' as event_date, "
                "'c1' as customer_id, 'champions' as segment_name, 'entered' as event_type, true as is_initial")
    [row] = build_summary(con, RunWindow.for_day(DS))["segments"]
    assert (row["entered"], row["left"], row["change"], row["previous_members"]) == (1, 0, None, None)


def test_html_report_is_written_per_date_and_latest_only_for_the_newest(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    write_summary(_summary(ds="2026-11-20"), reports)
    paths = write_summary(_summary(ds="2026-11-18"), reports)  # a backfill of an older date
    assert paths["html"] == reports / "2026-11-18" / "run_report.html" and "latest_html" not in paths
    for ds in ("2026-11-18", "2026-11-20"):
        assert read_page((reports / ds / "run_report.html").read_text()).title == f"crm360 run report {ds}"
    assert read_page((reports / "latest.html").read_text()).title == "crm360 run report 2026-11-20"


def test_campaign_lift_without_any_measure_yet_says_so() -> None:
    unmeasured = [{"segment_name": "champions", "campaign_name": "Champions", "members": 0, "holdouts": 4,
                   "member_response_rate": None, "member_conversion_rate": None, "holdout_conversion_rate": 0.0,
                   "conversion_lift": None, "lift_ci_low": None, "lift_ci_high": None}]
    page = read_page(render_html(_summary(campaign_lift=unmeasured)))
    assert "campaign-lift" not in page.charts
    assert "no campaign results yet" in page.sections["campaign-lift"]
    assert page.table("campaign-lift")["champions"][3] == "4"
