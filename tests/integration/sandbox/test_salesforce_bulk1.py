"""Bulk API 1.0 (JSON jobs) through simple-salesforce's ``sf.bulk.<Object>`` and raw calls."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from sandbox.salesforce.process import SandboxProcess

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def clean_org(sandbox: SandboxProcess) -> None:
    requests.post(sandbox.url("/sandbox/reset"), timeout=10).raise_for_status()
    requests.post(sandbox.url("/sandbox/limits"), json={"bulk_batch_limit": 15000, "bulk_batches_used": 0},
                  timeout=10).raise_for_status()


def test_insert_update_upsert_delete_and_query(sf: Salesforce) -> None:
    inserted = sf.bulk.Contact.insert([{"LastName": f"B{i}", "External_Id__c": f"x{i}"} for i in range(5)],
                                      batch_size=2)
    assert [r["success"] for r in inserted] == [True] * 5
    assert all(r["created"] and r["id"].startswith("003") and r["errors"] == [] for r in inserted)
    ids = [r["id"] for r in inserted]

    updated = sf.bulk.Contact.update([{"Id": ids[0], "Email": "b0@example.com"}, {"Id": ids[1], "Email": "bad"}])
    assert updated[0] == {"success": True, "created": False, "id": ids[0], "errors": []}
    assert updated[1]["success"] is False
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"

    upserted = sf.bulk.Contact.upsert([{"External_Id__c": "X1", "Title": "Boss"},
                                       {"External_Id__c": "new", "LastName": "New"}], "External_Id__c")
    assert [(r["success"], r["created"]) for r in upserted] == [(True, False), (True, True)]
    assert upserted[0]["id"] == ids[1]

    deleted = sf.bulk.Contact.delete([{"Id": ids[4]}])
    assert deleted[0]["success"] is True
    gone = sf.bulk.Contact.delete([{"Id": ids[4]}])
    assert gone[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"

    rows = sf.bulk.Contact.query("SELECT Id, LastName, Email, Title FROM Contact ORDER BY LastName", wait=0)
    assert [r["LastName"] for r in rows] == ["B0", "B1", "B2", "B3", "New"]
    assert rows[0]["attributes"]["type"] == "Contact"
    assert rows[0]["Email"] == "b0@example.com" and rows[1]["Title"] == "Boss"
    every = sf.bulk.Contact.query_all("SELECT Id, IsDeleted FROM Contact", wait=0)
    assert sum(1 for r in every if r["IsDeleted"]) == 1


def test_query_dates_are_epoch_milliseconds(sandbox: SandboxProcess, sf: Salesforce) -> None:
    requests.post(sandbox.url("/sandbox/seed"), timeout=10, json={"object": "Contact", "records": [
        {"LastName": "Dated", "Birthdate": "1990-05-17", "CreatedDate": "2026-11-20T03:04:05.000Z"}]}
    ).raise_for_status()
    row = sf.bulk.Contact.query("SELECT Birthdate, CreatedDate FROM Contact", wait=0)[0]
    assert row["CreatedDate"] == int(dt.datetime(2026, 11, 20, 3, 4, 5, tzinfo=dt.UTC).timestamp() * 1000)
    assert row["Birthdate"] == int(dt.datetime(1990, 5, 17, tzinfo=dt.UTC).timestamp() * 1000)


def test_hard_delete_removes_the_row_from_query_all(sf: Salesforce) -> None:
    rid = sf.Lead.create({"LastName": "H", "Company": "C"})["id"]
    assert sf.bulk.Lead.hard_delete([{"Id": rid}])[0]["success"] is True
    assert sf.query_all("SELECT Id FROM Lead", include_deleted=True)["totalSize"] == 0


def test_relationship_by_external_id(sf: Salesforce) -> None:
    sf.Account.create({"Name": "Acme"})
    account = sf.Account.create({"Name": "Beta"})["id"]
    sf.Contact.create({"LastName": "Parent", "External_Id__c": "p-1", "AccountId": account})
    results = sf.bulk.Opportunity.insert([{"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-01",
                                           "Contact": {"External_Id__c": "p-1"}}])
    assert results[0]["success"] is True, results
    row = sf.query("SELECT Contact.LastName FROM Opportunity")["records"][0]
    assert row["Contact"]["LastName"] == "Parent"


def test_job_and_batch_info_shapes(sandbox: SandboxProcess, sf: Salesforce) -> None:
    base = f"https://{sf.sf_instance}/services/async/59.0"
    headers = {"X-SFDC-Session": sf.session_id, "Content-Type": "application/json"}
    job = requests.post(f"{base}/job", headers=headers, timeout=10,
                        json={"operation": "insert", "object": "Account", "contentType": "JSON",
                              "concurrencyMode": "Parallel"})
    assert job.status_code == 201
    info = job.json()
    assert info["state"] == "Open" and info["id"].startswith("750") and info["apiVersion"] == 59.0
    for key in ("numberBatchesTotal", "numberRecordsProcessed", "concurrencyMode", "contentType", "createdById"):
        assert key in info
    batch = requests.post(f"{base}/job/{info['id']}/batch", headers=headers, json=[{"Name": "A"}, {}], timeout=10)
    assert batch.status_code == 201
    binfo = batch.json()
    assert binfo["id"].startswith("751") and binfo["jobId"] == info["id"]
    assert binfo["state"] == "Completed" and binfo["numberRecordsProcessed"] == 2
    assert binfo["numberRecordsFailed"] == 1
    listed = requests.get(f"{base}/job/{info['id']}/batch", headers=headers, timeout=10).json()
    assert [b["id"] for b in listed["batchInfo"]] == [binfo["id"]]
    closed = requests.post(f"{base}/job/{info['id']}", headers=headers, json={"state": "Closed"}, timeout=10).json()
    assert closed["state"] == "Closed" and closed["numberBatchesCompleted"] == 1
    late = requests.post(f"{base}/job/{info['id']}/batch", headers=headers, json=[{"Name": "B"}], timeout=10)
    assert late.status_code == 400
    assert late.json()["exceptionCode"] == "InvalidJobState"


def test_bad_session_and_bad_jobs(sandbox: SandboxProcess, sf: Salesforce) -> None:
    base = f"https://{sf.sf_instance}/services/async/59.0"
    bad = requests.post(f"{base}/job", headers={"X-SFDC-Session": "nope"}, json={}, timeout=10)
    assert bad.status_code == 400
    assert bad.json() == {"exceptionCode": "InvalidSessionId", "exceptionMessage": "Invalid session id"}
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.bulk.Nope__c.insert([{"Name": "x"}])
    assert err.value.content["exceptionCode"] == "InvalidJob"
    with pytest.raises(SalesforceMalformedRequest):
        sf.bulk.Contact.upsert([{"LastName": "x"}], "LastName")


def test_failed_query_batch_raises(sf: Salesforce) -> None:
    with pytest.raises(SalesforceGeneralError):
        sf.bulk.Contact.query("SELECT Nope__c FROM Contact", wait=0)


def test_batch_limit_is_counted_and_enforced(sandbox: SandboxProcess, sf: Salesforce) -> None:
    before = sf.limits()["DailyBulkApiBatches"]["Remaining"]
    sf.bulk.Contact.insert([{"LastName": f"L{i}"} for i in range(3)], batch_size=1)
    assert sf.limits()["DailyBulkApiBatches"]["Remaining"] == before - 3
    requests.post(sandbox.url("/sandbox/limits"), json={"bulk_batch_limit": 5, "bulk_batches_used": 5},
                  timeout=10).raise_for_status()
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.bulk.Contact.insert([{"LastName": "over"}])
    assert err.value.content["exceptionCode"] == "ExceededQuota"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 3

