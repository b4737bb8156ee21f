"""Fault injection through /sandbox/faults, seen from the unmodified simple-salesforce client."""

from __future__ import annotations

import csv
import io

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceGeneralError, SalesforceOperationError

from sandbox.salesforce.process import SandboxProcess

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def clean_org(sandbox: SandboxProcess) -> None:
    requests.post(sandbox.url("/sandbox/reset"), timeout=10).raise_for_status()


def add_fault(sandbox: SandboxProcess, **rule: object) -> dict:
    response = requests.post(sandbox.url("/sandbox/faults"), json=rule, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["faults"][0]


def faults(sandbox: SandboxProcess) -> list[dict]:
    return requests.get(sandbox.url("/sandbox/faults"), timeout=10).json()["faults"]


def test_503_on_chosen_calls_then_recovers(sandbox: SandboxProcess, sf: Salesforce) -> None:
    add_fault(sandbox, kind="error", status=503, method="GET", path="/query", times=2)
    sf.Contact.create({"LastName": "Writes still work"})
    for _ in range(2):
        with pytest.raises(SalesforceError) as err:
            sf.query("SELECT Id FROM Contact")
        assert err.value.status == 503
        assert err.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 1
    assert faults(sandbox)[0]["fired"] == 2


def test_500_after_letting_some_calls_through(sandbox: SandboxProcess, sf: Salesforce) -> None:
    add_fault(sandbox, kind="error", status=500, path="/sobjects/Contact", method="POST", skip=1, times=1)
    sf.Contact.create({"LastName": "First"})
    with pytest.raises(SalesforceGeneralError) as err:
        sf.Contact.create({"LastName": "Second"})
    assert err.value.status == 500
    assert err.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    sf.Contact.create({"LastName": "Third"})
    names = sorted(r["LastName"] for r in sf.query("SELECT LastName FROM Contact")["records"])
    assert names == ["First", "Third"]


def test_slow_responses(sandbox: SandboxProcess, sf: Salesforce) -> None:
    add_fault(sandbox, kind="delay", seconds=0.2, path="/limits", times=1)
    with pytest.raises(requests.Timeout):
        requests.get(sandbox.url("/services/data/v59.0/limits/"), timeout=0.05,
                     headers={"Authorization": f"Bearer {sf.session_id}"})
    # the delayed call is still answered; the rule is spent, so the next one is prompt
    assert sf.limits()["DailyApiRequests"]["Max"] > 0
    assert faults(sandbox)[0]["fired"] == 1


def test_session_expiry_mid_run_is_survived_by_relogin(sandbox: SandboxProcess, sf: Salesforce) -> None:
    old_session = sf.session_id
    add_fault(sandbox, kind="expire_session", path="/query", times=1)
    assert sf.query("SELECT Id FROM Organization")["totalSize"] == 1
    assert sf.session_id != old_session
    stale = requests.get(sandbox.url("/services/data/v59.0/limits/"), timeout=10,
                         headers={"Authorization": f"Bearer {old_session}"})
    assert stale.status_code == 401
    assert stale.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_unable_to_lock_row_per_record_in_bulk2_ingest(sandbox: SandboxProcess, sf: Salesforce) -> None:
    add_fault(sandbox, kind="lock_row", object="Contact", every=2)
    records = [{"LastName": f"P{i}", "External_Id__c": f"e{i}"} for i in range(6)]
    results = sf.bulk2.Contact.upsert(records=records, external_id_field="External_Id__c", wait=0.05)
    assert results[0]["numberRecordsProcessed"] == 6
    assert results[0]["numberRecordsFailed"] == 3
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_failed_records(results[0]["job_id"]))))
    assert sorted(r["External_Id__c"] for r in failed) == ["e1", "e3", "e5"]
    assert all(r["sf__Error"].startswith("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access") for r in failed)
    # a retry of the failures (as a client should do) goes through once the rule is removed
    requests.delete(sandbox.url("/sandbox/faults"), timeout=10).raise_for_status()
    retry = sf.bulk2.Contact.upsert(records=[{"LastName": r["LastName"], "External_Id__c": r["External_Id__c"]}
                                             for r in failed], external_id_field="External_Id__c", wait=0.05)
    assert retry[0]["numberRecordsFailed"] == 0
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 6


def test_unable_to_lock_row_in_bulk1_batches(sandbox: SandboxProcess, sf: Salesforce) -> None:
    add_fault(sandbox, kind="lock_row", object="Lead", times=1)
    results = sf.bulk.Lead.insert([{"LastName": "A", "Company": "C"}, {"LastName": "B", "Company": "C"}])
    assert [r["success"] for r in results] == [False, True]
    assert results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"


def test_unable_to_lock_row_in_collections_and_all_or_none(sandbox: SandboxProcess, sf: Salesforce) -> None:
    ids = [sf.Contact.create({"LastName": f"C{i}"})["id"] for i in range(3)]
    add_fault(sandbox, kind="lock_row", object="Contact", every=2, times=1)
    records = [{"attributes": {"type": "Contact"}, "id": rid, "Title": "New"} for rid in ids]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert [sf.Contact.get(rid)["Title"] for rid in ids] == ["New", None, "New"]
    add_fault(sandbox, kind="lock_row", object="Contact", every=3, times=1)
    rolled = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        {**r, "Title": "Newer"} for r in records]})
    assert [r["errors"][0]["statusCode"] for r in rolled] == ["ALL_OR_NONE_OPERATION_ROLLED_BACK"] * 2 + [
        "UNABLE_TO_LOCK_ROW"]
    assert sf.Contact.get(ids[0])["Title"] == "New"


def test_bulk2_ingest_job_ends_failed(sandbox: SandboxProcess, sf: Salesforce) -> None:
    add_fault(sandbox, kind="fail_job", object="Contact", jobType="V2Ingest", message="InternalServerError : boom")
    api = sandbox.url("/services/data/v59.0/jobs/ingest")
    auth = {"Authorization": f"Bearer {sf.session_id}"}
    job = requests.post(api, json={"object": "Contact", "operation": "insert"}, headers=auth, timeout=10).json()
    upload = requests.put(f"{api}/{job['id']}/batches", data="LastName\nX\n", timeout=10,
                          headers={**auth, "Content-Type": "text/csv"})
    assert upload.status_code == 201
    requests.patch(f"{api}/{job['id']}", json={"state": "UploadComplete"}, headers=auth, timeout=10)
    info = requests.get(f"{api}/{job['id']}", headers=auth, timeout=10).json()
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InternalServerError : boom"
    unprocessed = requests.get(f"{api}/{job['id']}/unprocessedrecords", headers=auth, timeout=10).text
    assert unprocessed.splitlines() == ['"LastName"', '"X"']
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    # the rule fired once: the next job completes
    assert sf.bulk2.Contact.insert(records=[{"LastName": "Y"}], wait=0.05)[0]["numberRecordsFailed"] == 0


def test_bulk2_query_job_ends_failed(sandbox: SandboxProcess, sf: Salesforce) -> None:
    add_fault(sandbox, kind="fail_job", jobType="V2Query")
    with pytest.raises(SalesforceOperationError, match="InternalServerError"):
        list(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0.05))
    assert list(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0.05)) == ['"Id"\n']


def test_automation_rewrites_a_field_after_an_api_write(sandbox: SandboxProcess, sf: Salesforce) -> None:
    add_fault(sandbox, kind="automation", object="Contact", field="Crm360_Segment__c", value="Set by flow",
              operations=["update"])
    rid = sf.Contact.create({"LastName": "Auto", "Crm360_Segment__c": "vip"})["id"]
    assert sf.Contact.get(rid)["Crm360_Segment__c"] == "vip"  # insert is not in operations
    sf.Contact.update(rid, {"Crm360_Segment__c": "champion"})
    assert sf.Contact.get(rid)["Crm360_Segment__c"] == "Set by flow"
    sf.bulk2.Contact.update(records=[{"Id": rid, "Crm360_Segment__c": "bulk"}], wait=0.05)
    assert sf.Contact.get(rid)["Crm360_Segment__c"] == "Set by flow"


def test_automation_transform_upper(sandbox: SandboxProcess, sf: Salesforce) -> None:
    add_fault(sandbox, kind="automation", object="Lead", field="Company", transform="upper")
    rid = sf.Lead.create({"LastName": "L", "Company": "acme inc"})["id"]
    assert sf.Lead.get(rid)["Company"] == "ACME INC"


@pytest.mark.parametrize("rule", [
    {"kind": "nonsense"},
    {"kind": "error", "status": 200},
    {"kind": "delay"},
    {"kind": "automation", "object": "Contact"},
    {"kind": "error", "path": "("},
])
def test_bad_rules_are_refused_with_a_reason(sandbox: SandboxProcess, rule: dict) -> None:
    response = requests.post(sandbox.url("/sandbox/faults"), json=rule, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]
    assert faults(sandbox) == []


def test_faults_can_be_listed_removed_and_are_cleared_by_reset(sandbox: SandboxProcess, sf: Salesforce) -> None:
    first = add_fault(sandbox, kind="error", path="/query")
    add_fault(sandbox, kind="error", path="/sobjects/Lead")
    second = faults(sandbox)[1]
    assert [f["id"] for f in faults(sandbox)] == [first["id"], second["id"]]
    assert requests.delete(sandbox.url(f"/sandbox/faults/{first['id']}"), timeout=10).status_code == 200
    assert [f["id"] for f in faults(sandbox)] == [second["id"]]
    assert sf.query("SELECT Id FROM Organization")["totalSize"] == 1
    requests.post(sandbox.url("/sandbox/reset"), timeout=10).raise_for_status()
    assert faults(sandbox) == []
