"""crm360_nightly end to end: generated company -> sandbox Salesforce -> Airflow -> warehouse -> Salesforce.

All tests share one multi-day run (see conftest.py `nightly`). They assert what a data engineer or
marketer would check afterwards: every stage succeeded, the warehouse holds the landed and modelled
data, the bad rows are quarantined and counted, and the Contacts in Salesforce carry the values
crm360 computed.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date

import duckdb
import pytest

from tests.integration.conftest import DAYS, NightlyRuns

pytestmark = pytest.mark.integration

STAGES = ["privacy_requests", "extract_salesforce", "land_channels", "raw_quality_gate", "dbt_build",
          "publish_quality_gate",
          "push_to_salesforce", "run_summary"]


@pytest.fixture()
def warehouse(nightly: NightlyRuns) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(nightly.paths.warehouse), read_only=True)
    yield con
    con.close()


@pytest.mark.parametrize("label", ["day1", "day2", "day3", "rerun_day2"])
def test_every_stage_succeeds(nightly: NightlyRuns, label: str) -> None:
    assert nightly.states[label] == "success", nightly.log_tail(label)
    assert nightly.tasks[label] == dict.fromkeys(STAGES, "success")


def test_salesforce_history_is_landed_per_date(nightly: NightlyRuns, warehouse: duckdb.DuckDBPyConnection) -> None:
    rows = warehouse.execute(
        "select ds, mode, rows_landed from crm360_ops.landed_partitions "
        "where source = 'salesforce' and entity = 'contact' order by ds").fetchall()
    assert [(str(ds), mode) for ds, mode, _ in rows] == [
        (DAYS[0], "current_state"), (DAYS[1], "incremental"), (DAYS[2], "incremental")]
    # the first date is filled from current state: every Contact created before the interval's end
    generated = [json.loads(line) for line in (nightly.paths.company_dir / "crm" / "Contact.ndjson").open()]
    assert rows[0][2] == sum(1 for c in generated if c["CreatedDate"] < f"{DAYS[1]}T00:00:00")
    # Later dates capture changes. A record's SystemModstamp is its last write: the company's own
    # (generated) or crm360's push, which runs at 00:30 after the previous interval and so lands
    # the pushed records again the next day (the push echo).
    pushed = defaultdict(set)
    for ds, record_id in warehouse.execute(
            "select cast(ds as varchar), record_id from crm360_ops.sync_history "
            "where success and sobject = 'Contact'").fetchall():
        pushed[ds].add(record_id)
    for i, ds in enumerate(DAYS[1:], start=1):
        landed = {r[0] for r in warehouse.execute(
            "select Id from read_parquet(?)",
            [str(nightly.paths.landing / "salesforce" / "contact" / f"ds={ds}" / "*.parquet")]).fetchall()}
        pushed_before = set().union(*(pushed[d] for d in DAYS[:i]))
        expected = pushed[DAYS[i - 1]] | {c["Id"] for c in generated
                                          if c["SystemModstamp"].startswith(ds) and c["Id"] not in pushed_before}
        assert landed == expected, (ds, len(landed - expected), len(expected - landed))


def test_rerun_of_an_old_date_reuses_salesforce_and_does_not_push(nightly: NightlyRuns,
                                                                   warehouse: duckdb.DuckDBPyConnection) -> None:
    runs = warehouse.execute(
        "select run_id from crm360_ops.stage_metrics where ds = ? group by run_id order by min(recorded_at)",
        [date.fromisoformat(DAYS[1])]).fetchall()
    assert len(runs) == 2
    rerun = runs[-1][0]
    modes = json.loads((nightly.paths.reports / DAYS[1] / "run_summary.json").read_text())
    assert modes["run_id"] == rerun
    pushed = warehouse.execute(
        "select count(*) from crm360_ops.sync_history where run_id = ?", [rerun]).fetchone()[0]
    assert pushed == 0, "an old date re-run must never write to Salesforce"
    assert nightly.salesforce_after["rerun_day2"] == nightly.salesforce_after["day3"]
    # the reused partition was not re-extracted: still the one landed by the first day-2 run
    landed_by = warehouse.execute(
        "select run_id from crm360_ops.landed_partitions where source = 'salesforce' and entity = 'contact' "
        "and ds = ?", [date.fromisoformat(DAYS[1])]).fetchone()[0]
    assert landed_by == runs[0][0]


def test_channel_rows_landed_and_bad_rows_quarantined(nightly: NightlyRuns,
                                                      warehouse: duckdb.DuckDBPyConnection) -> None:
    files = nightly.manifest["files"]
    for ds in DAYS:
        for source in ("sendgrid", "segment", "shopify"):
            malformed = sum(v.get("malformed", 0) for k, v in files.items() if k.startswith(f"inbox/{source}/{ds}/"))
            quarantined = warehouse.execute(
                "select coalesce(sum(rows_quarantined), 0) from crm360_ops.landed_partitions "
                "where source = ? and ds = ?", [source, date.fromisoformat(ds)]).fetchone()[0]
            assert quarantined == malformed, (source, ds)
            if malformed:
                kept = nightly.paths.landing / "_quarantine" / source
                assert list(kept.glob(f"*/ds={ds}/*.parquet")), f"quarantined {source} rows of {ds} are kept"
    # every export file reconciles: records read = landed + quarantined, as the generator planted them
    reconciled = {f"inbox/{file}": (read, landed, bad) for file, read, landed, bad in warehouse.execute(
        "select file, records_read, records_landed, records_quarantined from crm360_ops.channel_files").fetchall()}
    planted = {k: v for k, v in files.items() if k.startswith("inbox/")}
    assert set(reconciled) == set(planted)
    for file, (read, landed, bad) in reconciled.items():
        assert (read, bad) == (planted[file]["rows"], planted[file].get("malformed", 0)), file
        assert read == landed + bad, file
    sendgrid_rows = sum(v["rows"] - v.get("malformed", 0) for k, v in files.items() if k.startswith("inbox/sendgrid/"))
    landed = warehouse.execute(
        "select sum(rows_landed) from crm360_ops.landed_partitions where source = 'sendgrid'").fetchone()[0]
    assert landed == sendgrid_rows


def test_customer_360_unifies_records_of_the_same_person(nightly: NightlyRuns,
                                                         warehouse: duckdb.DuckDBPyConnection) -> None:
    customers, records = warehouse.execute(
        "select count(*), sum(source_record_count) from marts.customer_360").fetchone()
    assert 0 < customers < records
    truth: dict[tuple[str, str], str] = {}
    with (nightly.paths.company_dir / "truth" / "identity.csv").open() as handle:
        for row in csv.DictReader(handle):
            truth[(row["source"], row["record_key"])] = row["person_id"]
    stitched = warehouse.execute(
        "select source, record_id, customer_id from intermediate.int_customers_stitched "
        "where source in ('salesforce_contact', 'salesforce_lead')").fetchall()
    people_per_customer: dict[str, set[str]] = defaultdict(set)
    for source, record_id, customer_id in stitched:
        person = truth.get((source, record_id))
        assert person is not None, f"{source} {record_id} is not in the generator's ground truth"
        people_per_customer[customer_id].add(person)
    merged_wrongly = sum(1 for people in people_per_customer.values() if len(people) > 1)
    # email-only stitching may merge people who share an inbox (office addresses); nearly never otherwise
    assert merged_wrongly <= len(nightly.manifest["office_inboxes"]) + 0.01 * len(people_per_customer)


def test_quality_gates_recorded(warehouse: duckdb.DuckDBPyConnection) -> None:
    suites = {row[0]: row[1] for row in warehouse.execute(
        "select suite, bool_and(success) from crm360_ops.quality_results group by suite").fetchall()}
    assert {"raw.salesforce_contact.critical", "publish.contact_attributes.critical"} <= set(suites)
    assert suites["raw.salesforce_contact.critical"] and suites["publish.contact_attributes.critical"]


def test_contacts_in_salesforce_carry_what_crm360_computed(nightly: NightlyRuns) -> None:
    published = nightly.published["day3"]
    contacts = {c["Id"]: c for c in nightly.salesforce_after["day3"]}
    assert published and set(published) <= set(contacts)
    for record_id, (customer_id, ltv, orders, engagement, segments, product, offer, churn, hour) in published.items():
        got = contacts[record_id]
        assert got["Crm360_Customer_Id__c"] == customer_id, record_id
        assert got["Crm360_Lifetime_Value__c"] == pytest.approx(ltv, abs=0.005), record_id
        assert got["Crm360_Order_Count__c"] == orders, record_id
        assert got["Crm360_Email_Engagement__c"] == engagement, record_id
        # the segment of one reaches the CRM: segments, next-best product and offer, churn risk, send hour
        assert (got["Crm360_Segment__c"], got["Crm360_Next_Best_Product__c"], got["Crm360_Next_Best_Offer__c"]) \
            == (segments, product, offer), record_id
        assert got["Crm360_Best_Send_Hour__c"] == hour, record_id
        assert (got["Crm360_Churn_Risk__c"] is None) == (churn is None), record_id
        if churn is not None:
            assert got["Crm360_Churn_Risk__c"] == pytest.approx(churn, abs=0.005), record_id
    buyers = [v for v in published.values() if v[2] and v[2] > 0]
    assert buyers, "some Contacts have orders, so lifetime value reaches Salesforce"
    assert any(v[7] is not None for v in published.values()), "buyers get a churn risk"
    assert all(v[5] for v in published.values()), "everyone gets a next-best product"


def test_a_field_a_rep_edited_is_left_alone(nightly: NightlyRuns, warehouse: duckdb.DuckDBPyConnection) -> None:
    from tests.integration.conftest import REP_CHANNEL

    assert len(nightly.edited_by_rep) == 3
    after = {c["Id"]: c for c in nightly.salesforce_after["day3"]}
    for record_id in nightly.edited_by_rep:
        assert after[record_id]["Crm360_Preferred_Channel__c"] == REP_CHANNEL, record_id
    # the plan says so, and the other records still get crm360's channel
    left_alone = warehouse.execute(
        "select sum(records) from crm360_ops.sync_plans where field = 'Crm360_Preferred_Channel__c' "
        "and action = 'left_alone_edited' and ds = ?", [date.fromisoformat(DAYS[2])]).fetchone()[0]
    assert left_alone == 3
    others = [c for i, c in after.items() if i not in nightly.edited_by_rep and c["Crm360_Preferred_Channel__c"]]
    assert others and all(c["Crm360_Preferred_Channel__c"] != REP_CHANNEL for c in others)


def test_segment_campaigns_hold_exactly_their_sendable_members(nightly: NightlyRuns,
                                                               warehouse: duckdb.DuckDBPyConnection) -> None:
    for label in ("day1", "day2", "day3"):
        wanted, members = nightly.wanted_members[label], nightly.members_after[label]
        assert wanted, f"{label}: some segment campaigns have members"
        for campaign, records in wanted.items():
            assert members.get(campaign) == records, (label, campaign)
    # the generator's own campaigns are untouched: crm360 neither adds nor removes their members
    own = warehouse.execute("select distinct campaign_name from crm360_ops.campaign_state").fetchall()
    for campaign, members in nightly.members_after["day3"].items():
        if (campaign,) not in own:
            assert members == nightly.members_after["day1"][campaign], campaign
    # people leave campaigns as they leave segments, and the history says so
    moves = dict(warehouse.execute(
        "select operation, count(*) from crm360_ops.campaign_member_history where success group by operation"
    ).fetchall())
    assert moves.get("add", 0) >= sum(len(r) for r in nightly.wanted_members["day1"].values())


def test_no_holdout_and_no_opted_out_person_in_a_campaign(nightly: NightlyRuns,
                                                          warehouse: duckdb.DuckDBPyConnection) -> None:
    # the warehouse was last rebuilt by the re-run of day 2: compare with the org after day 2
    members = nightly.members_after["day2"]
    channels = dict(warehouse.execute("select campaign_name, channel from crm360_ops.campaign_state").fetchall())
    records_of = defaultdict(set)
    for record_id, customer_id in warehouse.execute(
            "select record_id, customer_id from intermediate.int_customers_stitched "
            "where source in ('salesforce_contact', 'salesforce_lead')").fetchall():
        records_of[customer_id].add(record_id)

    def records(sql: str) -> set[str]:
        return {r for (c,) in warehouse.execute(sql).fetchall() for r in records_of[c]}

    blocked = {"email": records("select customer_id from marts.customer_360 where has_opted_out_of_email"),
               "phone": records("select customer_id from marts.customer_360 where is_do_not_call")}
    assert blocked["email"] and set(channels.values()) == {"email", "phone"}
    for campaign, channel in channels.items():
        assert not members.get(campaign, set()) & blocked[channel], campaign
    held_out = warehouse.execute(
        "select d.campaign_name, s.customer_id from marts.customer_segments s "
        "join marts.segment_summary d using (segment_name) where s.is_holdout and d.campaign_name is not null "
        "and not exists (select 1 from marts.customer_segments o join marts.segment_summary od using (segment_name) "
        "where o.customer_id = s.customer_id and od.campaign_name = d.campaign_name and o.is_sendable)").fetchall()
    assert held_out, "segments with campaigns have holdouts"
    for campaign, customer_id in held_out:
        assert not records_of[customer_id] & members.get(campaign, set()), (campaign, customer_id)


def test_push_sends_only_changes_and_records_every_attempt(nightly: NightlyRuns,
                                                           warehouse: duckdb.DuckDBPyConnection) -> None:
    per_day = dict(warehouse.execute(
        "select cast(ds as varchar), count(*) from crm360_ops.sync_history group by ds").fetchall())
    assert per_day[DAYS[0]] > 0
    # day 2 and 3 only send records whose values changed since the last successful write
    assert per_day.get(DAYS[1], 0) < per_day[DAYS[0]]
    assert per_day.get(DAYS[2], 0) < per_day[DAYS[0]]
    for ds in DAYS:
        written = warehouse.execute(
            "select count(*) filter (where success), count(*) filter (where not success) "
            "from crm360_ops.sync_history where ds = ?", [date.fromisoformat(ds)]).fetchone()
        summary = json.loads((nightly.paths.reports / ds / "run_summary.json").read_text())
        if ds != DAYS[1]:  # day 2's report was replaced by its (non-pushing) re-run
            assert (summary["salesforce"]["records_written"], summary["salesforce"]["records_failed"]) == written


def test_run_summaries_written_and_latest_is_the_newest_date(nightly: NightlyRuns) -> None:
    reports = nightly.paths.reports
    for ds in DAYS:
        summary = json.loads((reports / ds / "run_summary.json").read_text())
        assert summary["ds"] == ds
        assert summary["failed_stages"] == []
        assert summary["customers_unified"] > 0
        assert (reports / ds / "run_summary.md").read_text().startswith(f"# crm360 nightly run — {ds}")
    latest = json.loads((reports / "latest.json").read_text())
    assert latest["ds"] == DAYS[-1], "re-running an older date must not replace the latest report"


def test_identity_is_observed_every_run(warehouse: duckdb.DuckDBPyConnection) -> None:
    metrics = warehouse.execute(
        "select cast(ds as varchar), metric, max(value) from crm360_ops.stage_metrics where stage = 'identity' "
        "group by all").fetchall()
    by_day: dict[str, dict[str, float]] = defaultdict(dict)
    for ds, metric, value in metrics:
        by_day[ds][metric] = value
    for ds in DAYS:
        assert 0 < by_day[ds]["customers"] < by_day[ds]["records"], ds
        assert 1 < by_day[ds]["largest_cluster"] <= 200, ds
    snapshots = {r[0] for r in warehouse.execute(
        "select distinct cast(ds as varchar) from crm360_ops.identity_snapshots").fetchall()}
    assert set(DAYS) <= snapshots


def test_explain_shows_who_a_customer_is(nightly: NightlyRuns, warehouse: duckdb.DuckDBPyConnection,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from crm360.cli import app

    customer, records = warehouse.execute(
        "select customer_id, count(*) from intermediate.int_customers_stitched group by customer_id "
        "order by count(*) desc, customer_id limit 1").fetchone()
    monkeypatch.setenv("CRM360_WAREHOUSE", str(nightly.paths.warehouse))
    result = CliRunner().invoke(app, ["explain", customer], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"{customer}: {records} records" in result.output
    assert "identifiers (edges)" in result.output and "yes" in result.output
