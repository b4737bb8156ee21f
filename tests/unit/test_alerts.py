"""Alert messages (crm360.alerts) and the freshness rule (crm360.freshness), without Airflow running."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import SimpleNamespace

import duckdb
import pytest

from crm360 import alerts, freshness, warehouse
from crm360.rundate import RunWindow


def test_failure_alert_names_stage_date_run_first_error_and_log():
    error = RuntimeError("Salesforce login to https://127.0.0.1:9/login failed after 1 attempt\nTraceback ...")
    alert = alerts.stage_failed_alert(dag_id="crm360_nightly", stage="extract_salesforce", ds="2026-11-20",
                                      run_id="manual__2026-11-21T00:00:00+00:00", error=error, try_number=1,
                                      log_url="http://localhost:8080/dags/crm360_nightly/runs/x/tasks/extract_salesforce",
                                      log_path="/logs/attempt=1.log")
    assert alert.subject == "[crm360] crm360_nightly: extract_salesforce failed for ds=2026-11-20"
    assert alert.lines[0] == "Stage extract_salesforce of crm360_nightly failed for ds=2026-11-20."
    assert "DAG run: manual__2026-11-21T00:00:00+00:00 (try 1)" in alert.lines
    assert ("First error: RuntimeError: Salesforce login to https://127.0.0.1:9/login failed after 1 attempt"
            in alert.lines)
    assert "Traceback" not in alert.text
    assert "Log: http://localhost:8080/dags/crm360_nightly/runs/x/tasks/extract_salesforce" in alert.lines
    assert "/logs/attempt=1.log" in alert.text
    assert "<p>Stage extract_salesforce of crm360_nightly failed for ds=2026-11-20.</p>" in alert.html()


def test_first_error_line_redacts_personal_data_and_is_short():
    error = ValueError("record 003xx: email anna.smith+vip@example.com, phone +44 20 7946 0958 rejected")
    line = alerts.first_error_line(error)
    assert line == "ValueError: record 003xx: email <email>, phone <phone> rejected"
    assert alerts.first_error_line(RuntimeError("x" * 2000)).endswith("…")
    assert len(alerts.first_error_line(RuntimeError("x" * 2000))) == alerts.MAX_ERROR_CHARS
    assert alerts.first_error_line(KeyError()) == "KeyError"
    assert alerts.first_error_line(None).startswith("(no exception")


@pytest.mark.parametrize("phone", ["+44 20 7946 0958", "(415) 555-0100", "415.555.0100", "1-415-555-0100",
                                   "020 7946 0958", "0151/2345678", "0033 1 23 45 67 89", "+14155550100"])
def test_phones_in_the_generators_formats_are_redacted(phone):
    assert alerts.redact(f"bad value {phone} in line 3") == "bad value <phone> in line 3"


@pytest.mark.parametrize("text", ["ds=2026-11-20 failed", "window 2026-11-20 00:00:00+00:00 to 2026-11-21T00:00:00Z",
                                  "https://127.0.0.1:40123/login", "12 of 1500000 records", "id 003000000000123AAA"])
def test_dates_addresses_and_counts_are_not_redacted(text):
    assert alerts.redact(text) == text


def test_without_a_connection_the_alert_is_logged(caplog, capsys, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_CRM360_ALERTS_SMTP", raising=False)
    alert = alerts.stage_failed_alert(dag_id="d", stage="dbt_build", ds="2026-11-20", run_id="r", error="boom")
    with caplog.at_level(logging.WARNING, logger="crm360.alerts"):
        assert alerts.send(alert, alerts.AlertConfig(conn_id="crm360_alerts_smtp")) == "log"
    logged = caplog.text + capsys.readouterr().out  # once airflow.sdk is imported, structlog prints it
    assert alerts.NO_CONNECTION in logged
    assert "dbt_build failed for ds=2026-11-20" in logged


def test_alert_config_from_env(monkeypatch):
    monkeypatch.setenv("CRM360_ALERT_TO", "ops@example.org; data@example.org,")
    monkeypatch.setenv("CRM360_ALERT_CONN_ID", "my_smtp")
    config = alerts.AlertConfig.from_env()
    assert config == alerts.AlertConfig(conn_id="my_smtp", to=("ops@example.org", "data@example.org"))


def test_run_summary_failing_because_a_stage_failed_sends_nothing(monkeypatch):
    from crm360.tasks import RunFailed

    sent = []
    monkeypatch.setattr(alerts, "send", lambda alert, config=None: sent.append(alert))
    ti = SimpleNamespace(task_id="run_summary", dag_id="crm360_nightly", run_id="r", try_number=1, map_index=-1,
                         log_url="u")
    alerts.on_task_failure({"ti": ti, "exception": RunFailed("stages not successful: dbt_build")})
    assert sent == []
    context = {"ti": ti, "exception": RuntimeError("report broke"), "run_id": "r",
               "data_interval_start": datetime(2026, 11, 20, tzinfo=UTC),
               "data_interval_end": datetime(2026, 11, 21, tzinfo=UTC)}
    alerts.on_task_failure(context)
    assert [a.subject for a in sent] == ["[crm360] crm360_nightly: run_summary failed for ds=2026-11-20"]


# --- freshness -------------------------------------------------------------------------------------

END = datetime(2026, 11, 21, tzinfo=UTC)


def test_assess_counts_hours_to_the_interval_end_never_the_clock():
    fresh = freshness.assess("sendgrid", "2026-11-20", datetime(2026, 11, 21, tzinfo=UTC).timestamp(), END, 36)
    assert (fresh.hours_since, fresh.is_stale) == (0.0, False)
    stale = freshness.assess("shopify", "2026-11-18", datetime(2026, 11, 19, tzinfo=UTC).timestamp(), END, 36)
    assert (stale.hours_since, stale.is_stale) == (48.0, True)
    never = freshness.assess("segment", None, None, END, 36)
    assert never.is_stale and never.hours_since is None
    later = freshness.assess("salesforce", "2026-11-22", datetime(2026, 11, 23, tzinfo=UTC).timestamp(), END, 36)
    assert later.hours_since == 0.0  # capped at the interval end


def test_freshness_config(monkeypatch):
    monkeypatch.setenv("CRM360_FRESHNESS_MAX_HOURS", "48")
    monkeypatch.setenv("CRM360_FRESHNESS_MAX_HOURS_SHOPIFY", "72")
    monkeypatch.setenv("CRM360_FRESHNESS_FAIL", "true")
    config = freshness.FreshnessConfig.from_env(["sendgrid", "shopify"])
    assert (config.limit("sendgrid"), config.limit("shopify"), config.fail) == (48.0, 72.0, True)
    monkeypatch.setenv("CRM360_FRESHNESS_MAX_HOURS", "soon")
    with pytest.raises(ValueError, match="CRM360_FRESHNESS_MAX_HOURS='soon'"):
        freshness.FreshnessConfig.from_env()


def _files(con, source, ds, landed):
    con.execute(f"insert into {warehouse.OPS_SCHEMA}.channel_files (source, file, ds, sha256, bytes, records_read, "
                "records_landed, records_quarantined, run_id, landed_at) values (?, ?, ?, 'h', 1, ?, ?, 0, 'r', now())",
                [source, f"{source}/{ds}/x.ndjson", ds, landed, landed])


def test_check_and_record_from_the_ops_tables(caplog, capsys, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_CRM360_ALERTS_SMTP", raising=False)
    con = duckdb.connect()
    warehouse.ensure_ops_tables(con)
    for ds in ("2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"):
        _files(con, "sendgrid", ds, 5)
    _files(con, "shopify", "2026-11-18", 3)
    _files(con, "shopify", "2026-11-19", 0)  # a file with nothing new in it is no delivery
    con.execute(f"insert into {warehouse.OPS_SCHEMA}.sf_extracts values ('r', '2026-11-20', 'Contact', 'incremental', "
                "'rest', null, null, 2, 2, 0, '2026-11-20 18:00:00+00', 10, '[]', '[]', now())")
    window = RunWindow.for_day("2026-11-20", run_id="scheduled__2026-11-20")
    with caplog.at_level(logging.WARNING):
        results = freshness.check_and_alert(con, window, ["sendgrid", "segment", "shopify"],
                                            freshness.FreshnessConfig(max_hours=36))
    by_source = {r.source: r for r in results}
    assert by_source["sendgrid"].hours_since == 0.0  # the 2026-11-21 delivery is after this run's date
    assert by_source["shopify"].hours_since == 48.0 and by_source["shopify"].is_stale
    assert by_source["segment"].is_stale and by_source["segment"].hours_since is None
    assert by_source["salesforce"].hours_since == 6.0 and not by_source["salesforce"].is_stale
    stored = con.execute(f"select source, hours_since, is_stale from {warehouse.OPS_SCHEMA}.source_freshness "
                         "order by source").fetchall()
    assert stored == [("salesforce", 6.0, False), ("segment", None, True), ("sendgrid", 0.0, False),
                      ("shopify", 48.0, True)]
    logged = caplog.text + capsys.readouterr().out
    assert alerts.NO_CONNECTION in logged and "stale sources for ds=2026-11-20: segment, shopify" in logged
    assert freshness.metrics(results)["freshness.stale_sources"] == 2.0
    with pytest.raises(freshness.SourcesStale, match="shopify: last delivered rows on 2026-11-18, 48 hours"):
        freshness.require_fresh(window, results, freshness.FreshnessConfig(fail=True))
    freshness.require_fresh(window, results, freshness.FreshnessConfig(fail=False))
