"""Schema drift: a custom field added in the org on day 2 and removed on day 3.

Nightly extraction, a backfill of days 1-3 and a full dbt refresh all stay green; the field's values
reach the warehouse (landing partition -> source with union_by_name -> staging models, which pass
custom `__c` fields through) while it exists and are null outside it; the run says which fields
changed (a warning in the task log, `crm360_ops.sf_extracts`, the task's summary).
Real sandbox org, real extract, real dbt.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import requests

from crm360 import tasks
from crm360.rundate import RunWindow
from crm360.settings import Settings
from sandbox import localrun
from sandbox.salesforce.process import SandboxProcess
from tests.integration.conftest import seed, use_crm360_home

pytestmark = pytest.mark.integration

DAYS = ("2026-11-18", "2026-11-19", "2026-11-20")


def _post(sandbox: SandboxProcess, path: str, body: object) -> requests.Response:
    response = requests.post(sandbox.url(path), json=body, verify=sandbox.ca_path, timeout=60)
    assert response.status_code < 300, response.text
    return response


def _contact(i: int, stamp: str, **extra: object) -> dict:
    return {"Id": f"0035g{i:010d}AAA"[:15], "LastName": f"Person {i}", "Email": f"p{i}@example.com",
            "CreatedDate": "2026-06-01T10:00:00.000+0000", "SystemModstamp": stamp, "LastModifiedDate": stamp,
            **extra}


def _run(ds: str, run_type: str = "scheduled", **params: object) -> dict:
    window = RunWindow.for_day(ds, run_id=f"{run_type}__{ds}__{len(params)}", run_type=run_type, params=params)
    settings = Settings.from_env()
    extracted = tasks.extract_salesforce(window, settings)
    tasks.land_channels(window, settings)
    tasks.dbt_build(window, settings)
    return extracted["objects"]["Contact"]


def _staged(home: Path) -> dict[str, object]:
    con = duckdb.connect(str(home / "warehouse" / "crm360.duckdb"))  # same config as dbt's open handle
    try:
        return dict(con.execute("select sfdc_contact_id, tier__c from staging.stg_salesforce__contacts").fetchall())
    finally:
        con.close()


def test_a_field_added_then_removed_keeps_every_run_green(sandbox: SandboxProcess, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    server = sandbox.info
    use_crm360_home(monkeypatch, tmp_path, server)

    # day 1: the org without the field
    seed(sandbox, "Contact", [_contact(i, "2026-11-18T09:00:00.000+0000") for i in range(5)])
    localrun.set_sandbox_clock(server, DAYS[0])
    _run(DAYS[0])
    # day 2: an admin adds Tier__c; two Contacts get a value
    _post(sandbox, "/sandbox/schema/Contact/fields", {"name": "Tier__c", "type": "string", "length": 20})
    seed(sandbox, "Contact", [_contact(i, "2026-11-19T10:00:00.000+0000", Tier__c="gold") for i in (1, 2)])
    localrun.set_sandbox_clock(server, DAYS[1])
    assert _run(DAYS[1])["schema_change"] == {"added": ["Tier__c"], "removed": []}
    staged = _staged(tmp_path)
    assert staged["0035g0000000001AAA"] == "gold" and staged["0035g0000000003AAA"] is None
    # day 3: the field is deleted again; one Contact changes
    requests.delete(sandbox.url("/sandbox/schema/Contact/fields/Tier__c"), verify=sandbox.ca_path,
                    timeout=30).raise_for_status()
    seed(sandbox, "Contact", [_contact(1, "2026-11-20T08:00:00.000+0000")])
    localrun.set_sandbox_clock(server, DAYS[2])
    assert _run(DAYS[2])["schema_change"] == {"added": [], "removed": ["Tier__c"]}
    con = duckdb.connect(str(tmp_path / "warehouse" / "crm360.duckdb"))
    recorded = con.execute("select cast(ds as varchar), fields_added, fields_removed from crm360_ops.sf_extracts "
                           "where sobject = 'Contact' order by ds").fetchall()
    con.close()
    assert recorded == [(DAYS[0], "[]", "[]"), (DAYS[1], '["Tier__c"]', "[]"), (DAYS[2], "[]", '["Tier__c"]')]
    landing = tmp_path / "data" / "landing" / "salesforce" / "contact"
    assert "Tier__c" in pq.read_schema(landing / f"ds={DAYS[1]}" / "part-00000.parquet").names
    assert "Tier__c" not in pq.read_schema(landing / f"ds={DAYS[2]}" / "part-00000.parquet").names
    staged = _staged(tmp_path)
    # Contact 1's newest version (day 3) has no Tier__c any more; Contact 2 keeps its day-2 value
    assert (staged["0035g0000000001AAA"], staged["0035g0000000002AAA"]) == (None, "gold")

    # a backfill of the three days and a full dbt refresh stay green and agree
    for ds in DAYS:
        _run(ds, run_type="backfill")
    _run(DAYS[2], full_refresh=True)
    assert _staged(tmp_path) == staged
