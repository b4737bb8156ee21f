"""Contract tests: Airflow's Salesforce provider (hook and bulk operator) against the sandbox, configured only
from the AIRFLOW_CONN_SALESFORCE_DEFAULT (JSON) and REQUESTS_CA_BUNDLE settings `crm360-sandbox serve` prints."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.salesforce.config import SandboxConfig
from sandbox.salesforce.process import SandboxProcess, start_sandbox
from sandbox.salesforce.server import client_settings
from tests.integration.conftest import seed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    with start_sandbox(tmp_path_factory.mktemp("sf-airflow")) as server, pytest.MonkeyPatch.context() as mp:
        settings = client_settings(server.info, SandboxConfig())
        # exactly what a user exports from `crm360-sandbox serve`'s output
        mp.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", settings["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
        mp.setenv("REQUESTS_CA_BUNDLE", settings["REQUESTS_CA_BUNDLE"])
        yield server


@pytest.fixture(autouse=True)
def clean_org(sandbox: SandboxProcess) -> None:
    requests.post(sandbox.url("/sandbox/reset"), timeout=10).raise_for_status()


@pytest.fixture
def hook(sandbox: SandboxProcess) -> Any:  # Airflow is imported lazily
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    return SalesforceHook(salesforce_conn_id="salesforce_default")


def test_connection_test_and_org(hook, sandbox: SandboxProcess) -> None:
    assert hook.test_connection() == (True, "Connection successfully tested")
    conn = hook.get_conn()
    assert conn.sf_instance == f"{sandbox.host}:{sandbox.port}"
    assert conn.is_sandbox() is True


def test_make_query_with_and_without_deleted(hook, sandbox: SandboxProcess) -> None:
    seed(sandbox, "Contact", [{"LastName": f"C{i}", "IsDeleted": i == 0} for i in range(2205)])
    live = hook.make_query("SELECT Id, LastName FROM Contact")
    assert live["totalSize"] == 2204 and len(live["records"]) == 2204  # query_all follows nextRecordsUrl
    every = hook.make_query("SELECT Id FROM Contact", include_deleted=True)
    assert every["totalSize"] == 2205


def test_describe_and_available_fields(hook) -> None:
    described = hook.describe_object("Contact")
    assert described["name"] == "Contact"
    fields = hook.get_available_fields("Contact")
    assert {"Id", "LastName", "SystemModstamp", "MailingAddress", "Crm360_Customer_Id__c"} <= set(fields)


def test_get_object_and_write_to_file_coerces_timestamps(hook, sandbox: SandboxProcess,
                                                         tmp_path: Path) -> None:
    seed(sandbox, "Contact", [{"LastName": "Stamp", "CreatedDate": "2026-11-20T03:04:05.000Z",
                               "Birthdate": "1990-05-17"}])
    result = hook.get_object_from_salesforce("Contact", ["Id", "LastName", "CreatedDate", "Birthdate"])
    assert result["records"][0]["CreatedDate"] == "2026-11-20T03:04:05.000+0000"
    out = tmp_path / "contacts.csv"
    hook.write_object_to_file(result["records"], str(out), fmt="csv", coerce_to_timestamp=True)
    (row,) = list(csv.DictReader(out.open()))
    # the hook turns describe's date/datetime fields into epoch seconds
    assert float(row["createddate"]) == 1795143845.0
    assert row["lastname"] == "Stamp"


def test_bulk_operator_insert_upsert_delete(hook, sandbox: SandboxProcess) -> None:
    from airflow.providers.salesforce.operators.bulk import SalesforceBulkOperator

    inserted = SalesforceBulkOperator(task_id="insert", operation="insert", object_name="Contact",
                                      payload=[{"LastName": "A", "External_Id__c": "a"},
                                               {"LastName": "B", "External_Id__c": "b"}]).execute({})
    assert [r["success"] for r in inserted] == [True, True]
    upserted = SalesforceBulkOperator(task_id="upsert", operation="upsert", object_name="Contact",
                                      external_id_field="External_Id__c",
                                      payload=[{"External_Id__c": "a", "Title": "T"},
                                               {"External_Id__c": "c", "LastName": "C"}]).execute({})
    assert [r["created"] for r in upserted] == [False, True]
    deleted = SalesforceBulkOperator(task_id="delete", operation="delete", object_name="Contact",
                                     payload=[{"Id": inserted[1]["id"]}]).execute({})
    assert deleted[0]["success"] is True
    names = sorted(r["LastName"] for r in hook.make_query("SELECT LastName FROM Contact")["records"])
    assert names == ["A", "C"]


def test_bulk_operator_retries_rows_that_could_not_be_locked(hook, sandbox: SandboxProcess) -> None:
    from airflow.providers.salesforce.operators.bulk import SalesforceBulkOperator

    requests.post(sandbox.url("/sandbox/faults"), json={"kind": "lock_row", "object": "Lead", "every": 2,
                                                        "times": 2}, timeout=10).raise_for_status()
    payload = [{"LastName": f"L{i}", "Company": "Co"} for i in range(4)]
    no_retry = SalesforceBulkOperator(task_id="insert", operation="insert", object_name="Lead",
                                      payload=payload).execute({})
    assert [r["success"] for r in no_retry] == [True, False, True, False]
    requests.post(sandbox.url("/sandbox/faults"), json={"kind": "lock_row", "object": "Lead", "every": 2,
                                                        "times": 2}, timeout=10).raise_for_status()
    retried = SalesforceBulkOperator(task_id="insert2", operation="insert", object_name="Lead", payload=payload,
                                     max_retries=1, bulk_retry_delay=0).execute({})
    assert [r["success"] for r in retried] == [True, True, True, True]
    assert hook.make_query("SELECT Id FROM Lead")["totalSize"] == 6
