"""The `crm360` CLI a person uses to look at an installation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crm360 import warehouse
from crm360.cli import app
from crm360.report import write_summary

runner = CliRunner()


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRM360_HOME", str(tmp_path))
    for name in ("CRM360_WAREHOUSE", "CRM360_LANDING", "CRM360_REPORTS", "CRM360_INBOX"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _summary(ds: str) -> dict:
    return {"run_id": f"scheduled__{ds}", "run_type": "scheduled", "ds": ds, "data_interval": [ds, ds],
            "customers_unified": 12, "source_records_unified": 20, "stage_states": {}, "failed_stages": [],
            "stages": {"land_channels": {"sendgrid.email_events.rows": 5.0}}, "checks": [], "checks_passed": 2,
            "checks_failed": 0, "salesforce": {"records_written": 3, "records_failed": 1, "records_changed": 4,
                                              "api_calls": 1}}


def test_partitions_lists_what_was_landed(home: Path) -> None:
    with warehouse.connect(home / "warehouse" / "crm360.duckdb") as con:
        con.execute(f"insert into {warehouse.OPS_SCHEMA}.landed_partitions values "
                    "('sendgrid', 'email_events', '2026-11-20', 'files', null, null, 42, 3, 'p', 'r', now())")
    result = runner.invoke(app, ["partitions"])
    assert result.exit_code == 0, result.output
    assert "email_events" in result.output and "42" in result.output and "1 partitions" in result.output


def test_partitions_without_a_warehouse_says_so(home: Path) -> None:
    result = runner.invoke(app, ["partitions"])
    assert result.exit_code == 1
    assert "no warehouse" in result.output


def test_report_prints_latest_and_a_given_date(home: Path) -> None:
    write_summary(_summary("2026-11-19"), home / "reports")
    write_summary(_summary("2026-11-20"), home / "reports")
    write_summary(_summary("2026-11-18"), home / "reports")  # a backfill: not the latest
    latest = runner.invoke(app, ["report"])
    assert latest.exit_code == 0 and "2026-11-20" in latest.output
    assert "3 records written" in latest.output
    older = runner.invoke(app, ["report", "--ds", "2026-11-18", "--json"])
    assert older.exit_code == 0
    assert json.loads(older.output[: older.output.rindex("}") + 1])["ds"] == "2026-11-18"
    missing = runner.invoke(app, ["report", "--ds", "2020-01-01"])
    assert missing.exit_code == 1 and "no report" in missing.output


def test_stage_rejects_unknown_names_and_bad_params(home: Path) -> None:
    unknown = runner.invoke(app, ["stage", "transmogrify", "--ds", "2026-11-20"])
    assert unknown.exit_code != 0 and "extract_salesforce" in unknown.output
    bad = runner.invoke(app, ["stage", "land_channels", "--ds", "2026-11-20", "--param", "push"])
    assert bad.exit_code != 0 and "key=value" in bad.output


def test_stage_runs_one_stage_for_one_date(home: Path) -> None:
    inbox = home / "data" / "inbox" / "sendgrid" / "2026-11-20"
    inbox.mkdir(parents=True)
    (inbox / "events.ndjson").write_text(
        json.dumps({"email": "a@example.com", "timestamp": 1763640000, "event": "delivered",
                    "sg_event_id": "e1", "sg_message_id": "m1"}) + "\n" + "{not json\n")
    result = runner.invoke(app, ["stage", "land_channels", "--ds", "2026-11-20"])
    assert result.exit_code == 0, result.output
    landed = list((home / "data" / "landing" / "sendgrid").rglob("ds=2026-11-20/*.parquet"))
    assert landed
    assert "land_channels for ds=2026-11-20 finished" in result.output
