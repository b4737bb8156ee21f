"""Salesforce extraction against the sandbox org: REST and Bulk API 2.0, change capture, deletes,
completeness, reuse, API budget and recovery from an expired session.

Runs crm360's extract stage for real (`crm360.tasks.extract_salesforce`) through the Airflow
Salesforce connection (from AIRFLOW_CONN_SALESFORCE_DEFAULT) and simple-salesforce over HTTPS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import requests

from crm360 import tasks
from crm360.rundate import RunWindow
from crm360.settings import Settings
from sandbox.salesforce.process import SandboxProcess
from tests.integration.conftest import seed, use_crm360_home

pytestmark = pytest.mark.integration

DS = "2026-11-20"


@pytest.fixture()
def env(sandbox: SandboxProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    requests.post(sandbox.url("/sandbox/reset"), verify=sandbox.ca_path, timeout=30).raise_for_status()
    requests.post(sandbox.url("/sandbox/limits"), json={"daily_api_limit": 100_000, "api_used": 0},
                  verify=sandbox.ca_path, timeout=30).raise_for_status()
    requests.post(sandbox.url("/sandbox/clock"), json={"now": "2026-11-21T00:30:00Z"},
                  verify=sandbox.ca_path, timeout=30).raise_for_status()
    use_crm360_home(monkeypatch, tmp_path, sandbox.info)
    monkeypatch.setenv("CRM360_SF_OBJECTS", "Contact")
    monkeypatch.setenv("CRM360_SF_RETRY_WAIT_SECONDS", "0.05")
    monkeypatch.setenv("CRM360_BULK_WAIT_SECONDS", "0.05")
    return tmp_path


def _contacts(n: int, created: str, stamp: str, start: int = 0, **extra: object) -> list[dict]:
    return [{"Id": f"0035g{i:010d}AAA"[:15], "LastName": f"Person {i}", "FirstName": "Alex",
             "Email": f"p{i}@example.com", "CreatedDate": created, "SystemModstamp": stamp,
             "LastModifiedDate": stamp, **extra} for i in range(start, start + n)]


def _partition(home: Path, ds: str = DS) -> Path:
    return home / "data" / "landing" / "salesforce" / "contact" / f"ds={ds}" / "part-00000.parquet"


def _ops(home: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse" / "crm360.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_first_run_fills_from_current_state_then_captures_changes_and_deletes(
        sandbox: SandboxProcess, env: Path) -> None:
    seed(sandbox, "Contact", _contacts(30, "2026-06-01T10:00:00.000+0000", "2026-10-01T10:00:00.000+0000"))
    first = tasks.extract_salesforce(RunWindow.for_day("2026-11-19"), Settings.from_env())
    assert first["objects"]["Contact"]["mode"] == "current_state"
    assert pq.read_table(_partition(env, "2026-11-19")).num_rows == 30
    # on ds: 3 edited, 1 deleted, 2 created; one edited before the overlap window must not come back
    seed(sandbox, "Contact", _contacts(3, "2026-11-20T00:00:00.000+0000", "2026-11-20T08:00:00.000+0000",
                                        start=100))
    seed(sandbox, "Contact", _contacts(1, "2026-06-01T10:00:00.000+0000", "2026-11-20T09:00:00.000+0000",
                                        start=200, IsDeleted=True))
    seed(sandbox, "Contact", _contacts(1, "2026-06-01T10:00:00.000+0000", "2026-11-19T12:00:00.000+0000",
                                        start=300))
    result = tasks.extract_salesforce(RunWindow.for_day(DS), Settings.from_env())
    info = result["objects"]["Contact"]
    assert (info["mode"], info["method"], info["rows"], info["deleted"]) == ("incremental", "rest", 4, 1)
    table = pq.read_table(_partition(env))
    assert sorted(table.column("Id").to_pylist())[0].startswith("0035g0000000100")
    assert table.filter(table.column("IsDeleted")).num_rows == 1
    watermark = _ops(env, "select mode, method, rows_expected, rows_landed, rows_deleted, "
                          "cast(newest_systemmodstamp as varchar) from crm360_ops.sf_extracts "
                          f"where ds = '{DS}'")
    assert watermark == [("incremental", "rest", 4, 4, 1, "2026-11-20 09:00:00+00")]


def test_bulk_and_rest_land_the_same_partition(sandbox: SandboxProcess, env: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seed(sandbox, "Contact", _contacts(250, "2026-06-01T10:00:00.000+0000", "2026-11-20T03:04:05.000+0000",
                                        Birthdate="1990-02-03", HasOptedOutOfEmail=True))
    rest = tasks.extract_salesforce(RunWindow.for_day(DS), Settings.from_env())
    assert rest["objects"]["Contact"]["method"] == "rest"
    via_rest = pq.read_table(_partition(env)).sort_by("Id")
    monkeypatch.setenv("CRM360_SF_BULK_THRESHOLD", "100")
    bulk = tasks.extract_salesforce(RunWindow.for_day(DS, params={"full_refresh_extract": True}),
                                    Settings.from_env())
    assert bulk["objects"]["Contact"]["method"] == "bulk"
    via_bulk = pq.read_table(_partition(env)).sort_by("Id")
    assert via_bulk.schema == via_rest.schema
    assert via_bulk.equals(via_rest)
    assert via_bulk.column("HasOptedOutOfEmail").to_pylist() == [True] * 250


def test_a_landed_date_is_reused_not_re_extracted(sandbox: SandboxProcess, env: Path) -> None:
    seed(sandbox, "Contact", _contacts(5, "2026-06-01T10:00:00.000+0000", "2026-11-20T03:00:00.000+0000"))
    tasks.extract_salesforce(RunWindow.for_day(DS), Settings.from_env())
    landed = _partition(env).read_bytes()
    seed(sandbox, "Contact", _contacts(2, "2026-06-01T10:00:00.000+0000", "2026-11-20T05:00:00.000+0000",
                                        start=50))
    again = tasks.extract_salesforce(RunWindow.for_day(DS), Settings.from_env())
    assert again["objects"]["Contact"]["mode"] == "reused"
    assert _partition(env).read_bytes() == landed
    forced = tasks.extract_salesforce(RunWindow.for_day(DS, params={"full_refresh_extract": True}),
                                      Settings.from_env())
    assert forced["objects"]["Contact"]["rows"] == 7


def test_run_over_the_api_budget_stops_before_extracting(sandbox: SandboxProcess, env: Path) -> None:
    seed(sandbox, "Contact", _contacts(5, "2026-06-01T10:00:00.000+0000", "2026-11-20T03:00:00.000+0000"))
    requests.post(sandbox.url("/sandbox/limits"), json={"daily_api_limit": 1000, "api_used": 499},
                  verify=sandbox.ca_path, timeout=30).raise_for_status()
    with pytest.raises(tasks.ApiBudgetExceeded, match=r"needs about \d+ API calls; \d+ of 1000"):
        tasks.extract_salesforce(RunWindow.for_day(DS), Settings.from_env())
    assert not _partition(env).exists()


def test_an_expired_session_is_recovered_by_logging_in_again(sandbox: SandboxProcess, env: Path) -> None:
    from crm360.salesforce import client, extract

    seed(sandbox, "Contact", _contacts(5, "2026-06-01T10:00:00.000+0000", "2026-11-20T03:00:00.000+0000"))
    session = extract.SalesforceSession(lambda: client.connect("salesforce_default"))
    assert session.sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 5
    expired = requests.post(sandbox.url("/sandbox/expire-sessions"), verify=sandbox.ca_path, timeout=30).json()
    assert expired["expired"] >= 1
    result = extract.extract_object(session, "Contact", RunWindow.for_day(DS), env / "landing",
                                    extract.timedelta(minutes=15), retry_wait_seconds=0.01)
    assert result.rows == 5
    # simple-salesforce logs in again by itself on INVALID_SESSION_ID (password flow): one new session
    stats = requests.get(sandbox.url("/sandbox/stats"), verify=sandbox.ca_path, timeout=30).json()
    assert stats["sessions"] == 1


def _fault(sandbox: SandboxProcess, rule: dict) -> None:
    response = requests.post(sandbox.url("/sandbox/faults"), json=rule, verify=sandbox.ca_path, timeout=30)
    assert response.status_code == 201, response.text


@pytest.fixture()
def no_faults(sandbox: SandboxProcess) -> Iterator[None]:
    yield
    requests.delete(sandbox.url("/sandbox/faults"), verify=sandbox.ca_path, timeout=30).raise_for_status()


def test_server_errors_are_retried_with_backoff(sandbox: SandboxProcess, env: Path, no_faults: None) -> None:
    seed(sandbox, "Contact", _contacts(5, "2026-06-01T10:00:00.000+0000", "2026-11-20T03:00:00.000+0000"))
    _fault(sandbox, {"kind": "error", "status": 503, "path": "/queryAll", "times": 2})
    result = tasks.extract_salesforce(RunWindow.for_day(DS), Settings.from_env())
    assert result["objects"]["Contact"]["rows"] == 5


def test_a_failed_bulk_job_is_retried(sandbox: SandboxProcess, env: Path, no_faults: None,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seed(sandbox, "Contact", _contacts(150, "2026-06-01T10:00:00.000+0000", "2026-11-20T03:00:00.000+0000"))
    monkeypatch.setenv("CRM360_SF_BULK_THRESHOLD", "100")
    _fault(sandbox, {"kind": "fail_job", "object": "Contact", "jobType": "V2Query", "times": 1,
                     "message": "InternalServerError"})
    result = tasks.extract_salesforce(RunWindow.for_day(DS), Settings.from_env())
    assert (result["objects"]["Contact"]["method"], result["objects"]["Contact"]["rows"]) == ("bulk", 150)


def test_an_org_that_stays_down_fails_clearly_and_lands_nothing(sandbox: SandboxProcess, env: Path,
                                                                no_faults: None) -> None:
    seed(sandbox, "Contact", _contacts(5, "2026-06-01T10:00:00.000+0000", "2026-11-20T03:00:00.000+0000"))
    _fault(sandbox, {"kind": "error", "status": 503, "path": "/queryAll"})
    from crm360.salesforce.extract import ExtractError

    with pytest.raises(ExtractError, match=r"ds=2026-11-20: gave up after 3 attempts.*SERVER_UNAVAILABLE"):
        tasks.extract_salesforce(RunWindow.for_day(DS), Settings.from_env())
    assert not _partition(env).exists()
