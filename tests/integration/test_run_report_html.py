"""The HTML run report of the shared end-to-end run, opened in headless Chromium as a person would.

The page Chromium builds from `<reports>/latest.html` (`--dump-dom`) must show rendered SVG charts
with the run's segments, numbers that equal the warehouse's, and no email of the generated company;
`--screenshot` must paint it. The browser is Debian's `chromium` (`.ci/run` installs it): the page
loads nothing, so the browser runs with networking features off.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pytest

from crm360.report import STAGE_ORDER as STAGES
from tests.conftest import require
from tests.integration.conftest import DAYS, NightlyRuns
from tests.report_page import Page, marks, number, read_page

pytestmark = pytest.mark.integration



def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [shutil.which("chromium") or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def browser_page(nightly: NightlyRuns, tmp_path_factory: pytest.TempPathFactory) -> tuple[Page, Path]:
    """The latest report as Chromium built it (its DOM, read), and a screenshot of it."""
    require(shutil.which("chromium") is not None, "Debian's chromium for the HTML report (.ci/run installs it)")
    latest = nightly.paths.reports / "latest.html"
    assert latest.exists(), "the run must write <reports>/latest.html"
    work = tmp_path_factory.mktemp("report-browser")
    dom = _chromium(latest, work / "profile-dom", "--dump-dom").stdout
    shot = work / "latest.png"
    _chromium(latest, work / "profile-shot", "--window-size=1300,6000", "--hide-scrollbars", f"--screenshot={shot}")
    return read_page(dom), shot


@pytest.fixture()
def warehouse(nightly: NightlyRuns) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(nightly.paths.warehouse), read_only=True)
    yield con
    con.close()


def _run_id(warehouse: duckdb.DuckDBPyConnection, ds: str) -> str:
    [(run_id,)] = warehouse.execute("select distinct run_id from crm360_ops.stage_metrics where ds = ?",
                                    [date.fromisoformat(ds)]).fetchall()
    return run_id


def test_latest_report_shows_the_newest_run_with_every_chart_rendered(browser_page: tuple[Page, Path]) -> None:
    page, _ = browser_page
    assert page.title == f"crm360 run report {DAYS[-1]}", "a re-run of an older date must not replace latest.html"
    assert page.scripts == 0 and page.resources == [], "the report loads nothing"
    expected = {"segment-sizes", "segment-changes", "segment-entries-exits", "identity", "quality", "salesforce",
                "stage-seconds"}
    assert expected <= set(page.charts)
    for key in expected:
        chart = page.charts[key]
        assert chart.svg and marks(chart), f"chart {key} has no rendered marks"
    assert set(page.sections) == {"segments", "identity", "quality", "salesforce", "stages", "campaign-lift"}


def test_segment_sizes_and_changes_equal_the_membership_history(browser_page: tuple[Page, Path],
                                                                warehouse: duckdb.DuckDBPyConnection) -> None:
    page, _ = browser_page
    ds = date.fromisoformat(DAYS[-1])
    # who is in each segment after the newest date, replayed from the entry/exit history (independent of
    # segment_summary, which the re-run of day 2 rebuilt for that date)
    members = dict(warehouse.execute(
        """select segment_name, count(*) from (
               select segment_name, customer_id, arg_max(event_type, event_date) as last_event
               from marts.segment_membership_history where event_date <= ? group by all)
           where last_event = 'entered' group by segment_name""", [ds]).fetchall())
    moves = Counter({(s, e): n for s, e, n in warehouse.execute(
        "select segment_name, event_type, count(*) from marts.segment_membership_history where event_date = ? "
        "group by all", [ds]).fetchall()})
    shown = {m["segment"]: number(m["members"]) for m in marks(page.charts["segment-sizes"])}
    assert {k: v for k, v in shown.items() if v} == members
    # every bar carries its number where a person reads it, and the segment names label the axis
    assert set(members) <= set(page.charts["segment-sizes"].texts)
    changes = {m["segment"]: number(m["change"]) for m in marks(page.charts["segment-changes"])}
    assert changes == {s: moves[(s, "entered")] - moves[(s, "left")] for s in shown}
    assert any(changes.values()), "people moved between segments on the third day"
    shown_moves = {(m["segment"], m["event"]): number(m["people"]) for m in marks(page.charts["segment-entries-exits"])}
    assert {k: v for k, v in shown_moves.items() if v} == {k: v for k, v in moves.items() if v}
    table = page.table("segments")
    for name, count in members.items():
        assert number(table[name][1]) == count, name


def test_salesforce_writes_equal_the_sync_history(browser_page: tuple[Page, Path],
                                                  warehouse: duckdb.DuckDBPyConnection) -> None:
    page, _ = browser_page
    run_id = _run_id(warehouse, DAYS[-1])
    expected: dict[str, int] = {}
    for sobject, created, updated, failed in warehouse.execute(
            "select sobject, count(*) filter (where success and operation = 'create'), "
            "count(*) filter (where success and operation <> 'create'), count(*) filter (where not success) "
            "from crm360_ops.sync_history where run_id = ? group by sobject", [run_id]).fetchall():
        expected[f"{sobject} failed"] = failed  # shown even when 0
        expected.update({f"{sobject} {k}": n for k, n in (("created", created), ("updated", updated)) if n})
    for sobject, n in warehouse.execute(
            "select sobject, count(*) from crm360_ops.sync_dead_letters where last_run_id = ? and status = 'open' "
            "group by sobject", [run_id]).fetchall():
        expected[f"{sobject} dead-lettered"] = n
    added, removed, failed = warehouse.execute(
        "select count(*) filter (where operation = 'add' and success), "
        "count(*) filter (where operation = 'remove' and success), count(*) filter (where not success) "
        "from crm360_ops.campaign_member_history where run_id = ?", [run_id]).fetchone()
    expected["CampaignMember failed"] = failed
    expected.update({f"CampaignMember {k}": n for k, n in (("added", added), ("removed", removed)) if n})
    shown = {m["bar"]: number(m["records"]) for m in marks(page.charts["salesforce"])}
    assert expected["Contact updated"] > 0, "day 3 pushed changed Contacts"
    assert shown == expected
    written = warehouse.execute("select count(*) from crm360_ops.sync_history where run_id = ? and success",
                                [run_id]).fetchone()[0]
    assert number(page.tiles["salesforce-records-written"]) == written
    rows = page.table("salesforce")
    assert number(rows["Contact"][2]) == expected["Contact updated"]


def test_identity_quality_and_stage_times_equal_the_warehouse(browser_page: tuple[Page, Path],
                                                              warehouse: duckdb.DuckDBPyConnection) -> None:
    page, _ = browser_page
    run_id = _run_id(warehouse, DAYS[-1])
    identity = dict(warehouse.execute("select metric, value from crm360_ops.stage_metrics where run_id = ? "
                                      "and stage = 'identity'", [run_id]).fetchall())
    counts = {m["measure"]: number(m["count"]) for m in marks(page.charts["identity"])}
    assert counts == {"source records": identity["records"], "customers": identity["customers"],
                      "customers with several records": identity["multi_record_customers"]}
    assert number(page.tiles["largest-cluster-(records)"]) == identity["largest_cluster"]
    suites = warehouse.execute("select suite, severity, expectations_evaluated, expectations_failed "
                               "from crm360_ops.quality_results where run_id = ?", [run_id]).fetchall()
    shown = {(m["suite"], m["outcome"]): number(m["expectations"]) for m in marks(page.charts["quality"])}
    assert shown == {k: v for suite, severity, evaluated, failed in suites
                     for k, v in (((f"{suite} ({severity})", "passed"), evaluated - failed),
                                  ((f"{suite} ({severity})", "failed"), failed))}
    seconds = dict(warehouse.execute("select stage, value from crm360_ops.stage_metrics where run_id = ? "
                                     "and metric = 'seconds'", [run_id]).fetchall())
    assert set(seconds) == set(STAGES)
    bars = {m["stage"]: float(m["seconds"].replace(",", "")) for m in marks(page.charts["stage-seconds"])}
    assert bars == pytest.approx({k: round(v, 1) for k, v in seconds.items()}, abs=0.051)
    assert seconds["dbt_build"] > 0


def test_campaign_lift_section_shows_results_or_says_there_are_none(browser_page: tuple[Page, Path],
                                                                    nightly: NightlyRuns) -> None:
    page, _ = browser_page
    summary = json.loads((nightly.paths.reports / "latest.json").read_text())
    measured = [r for r in summary.get("campaign_lift") or [] if r.get("conversion_lift") is not None]
    if measured:
        points = {m["segment"] for m in marks(page.charts["campaign-lift"])}
        assert points == {r["segment_name"] for r in measured}
    else:
        assert "campaign-lift" not in page.charts
        assert "no campaign results yet" in page.sections["campaign-lift"]


def test_report_shows_no_email_and_is_painted(browser_page: tuple[Page, Path], nightly: NightlyRuns) -> None:
    page, shot = browser_page
    text = " ".join([*page.sections.values(), *(t for c in page.charts.values() for t in c.texts),
                     *(label for c in page.charts.values() for _, label in c.aria)]).lower()
    emails = set()
    for name in ("Contact", "Lead"):
        path = nightly.paths.company_dir / "crm" / f"{name}.ndjson"
        with path.open() as handle:
            emails |= {json.loads(line).get("Email", "").lower() for line in handle} - {""}
    assert emails and "@" not in text and not [e for e in emails if e in text]
    raw = (nightly.paths.reports / "latest.html").read_text().lower()
    assert "@" not in raw
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1300, 6000)
    assert len(png) > 100_000, "a painted page of charts, not a blank one"
