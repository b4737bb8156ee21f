"""The Salesforce sandbox, driven only through the unmodified simple-salesforce client over HTTPS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sandbox.salesforce.process import SandboxProcess, start_sandbox
from tests.integration.conftest import seed

pytestmark = pytest.mark.integration

USERNAME = "integration@crm360.sandbox"
PASSWORD = "sandbox-password"
TOKEN = "sandbox-token"
CLIENT_ID = "crm360-sandbox"
CLIENT_SECRET = "sandbox-secret"
SF_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


@pytest.fixture(autouse=True)
def clean_org(sandbox: SandboxProcess) -> None:
    requests.post(sandbox.url("/sandbox/reset"), timeout=10).raise_for_status()
    requests.post(sandbox.url("/sandbox/limits"), json={"daily_api_limit": 100000}, timeout=10).raise_for_status()


def error_code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.content[0]["errorCode"]


# ------------------------------------------------------------------ login and sessions


def test_soap_login_through_domain_reaches_a_sandbox_org(sandbox: SandboxProcess, sf: Salesforce) -> None:
    assert sf.sf_instance == f"{sandbox.host}:{sandbox.port}"
    assert sf.is_sandbox() is True
    assert Path(sandbox.ca_path).read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_wrong_password_is_invalid_login(sandbox: SandboxProcess) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        Salesforce(username=USERNAME, password="wrong", security_token=TOKEN, domain=sandbox.domain)
    assert err.value.code == "INVALID_LOGIN"


def test_oauth_password_flow(sandbox: SandboxProcess) -> None:
    sf = Salesforce(username=USERNAME, password=PASSWORD, consumer_key=CLIENT_ID, consumer_secret=CLIENT_SECRET,
                    domain=sandbox.domain)
    assert sf.query("SELECT Id FROM Organization")["totalSize"] == 1
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        Salesforce(username=USERNAME, password=PASSWORD, consumer_key=CLIENT_ID, consumer_secret="nope",
                   domain=sandbox.domain)
    assert err.value.code == "invalid_client"
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        Salesforce(username=USERNAME, password="nope", consumer_key=CLIENT_ID, consumer_secret=CLIENT_SECRET,
                   domain=sandbox.domain)
    assert err.value.code == "invalid_grant"


def test_client_credentials_flow(sandbox: SandboxProcess) -> None:
    sf = Salesforce(consumer_key=CLIENT_ID, consumer_secret=CLIENT_SECRET, domain=sandbox.domain)
    assert sf.oauth2("userinfo")["preferred_username"] == USERNAME


def test_bad_session_is_invalid_session_id(sandbox: SandboxProcess) -> None:
    sf = Salesforce(session_id="00Dbogus!token", instance_url=sandbox.instance_url)
    with pytest.raises(SalesforceExpiredSession) as err:
        sf.query("SELECT Id FROM Contact")
    assert err.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_expired_session_is_renewed_by_relogin(sandbox: SandboxProcess, sf: Salesforce) -> None:
    old = sf.session_id
    requests.post(sandbox.url("/sandbox/expire-sessions"), timeout=10).raise_for_status()
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    assert sf.session_id != old


def test_usage_header_limits_and_daily_limit(sandbox: SandboxProcess, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Contact")
    usage = sf.api_usage["api-usage"]
    assert usage.total == 100000 and usage.used >= 1
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100000
    assert limits["DailyApiRequests"]["Remaining"] < 100000
    requests.post(sandbox.url("/sandbox/limits"), json={"daily_api_limit": usage.used + 1}, timeout=10)
    with pytest.raises(SalesforceRefusedRequest) as err:
        for _ in range(5):
            sf.query("SELECT Id FROM Contact")
    assert error_code(err) == "REQUEST_LIMIT_EXCEEDED"


def test_versions_and_describe_global(sf: Salesforce, sandbox: SandboxProcess) -> None:
    versions = requests.get(sandbox.url("/services/data"), timeout=10).json()
    assert {"label": "Release 59.0", "url": "/services/data/v59.0", "version": "59.0"} in versions
    names = {o["name"]: o for o in sf.describe()["sobjects"]}
    assert {"Account", "Contact", "Lead", "Opportunity", "Campaign", "CampaignMember", "Task", "User"} <= set(names)
    assert names["Contact"]["keyPrefix"] == "003"


# ------------------------------------------------------------------ describe


def test_contact_describe_has_compound_address_and_crm360_fields(sf: Salesforce) -> None:
    fields = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert fields["MailingAddress"]["type"] == "address"
    assert fields["MailingCity"]["compoundFieldName"] == "MailingAddress"
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["Name"]["createable"] is False and fields["Name"]["calculated"] is True
    key = fields["External_Id__c"]
    assert (key["externalId"], key["idLookup"], key["unique"], key["length"], key["soapType"]) == (
        True, True, True, 64, "xsd:string")
    customer = fields["Crm360_Customer_Id__c"]  # shared by duplicate Contacts of one person
    assert (customer["externalId"], customer["unique"]) == (True, False)
    ltv = fields["Crm360_Lifetime_Value__c"]
    assert (ltv["type"], ltv["precision"], ltv["scale"]) == ("currency", 16, 2)
    assert fields["Crm360_Last_Order_Date__c"]["type"] == "date"
    assert fields["LeadSource"]["picklistValues"]
    lead_fields = {f["name"] for f in sf.Lead.describe()["fields"]}
    assert {"Crm360_Customer_Id__c", "Address", "IsConverted", "ConvertedContactId"} <= lead_fields


def test_unknown_object_is_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.Foo__c.describe()


# ------------------------------------------------------------------ records


def test_create_get_update_delete_with_audit_fields(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Acme", "BillingCity": "Lyon"})
    created = sf.Contact.create({"FirstName": "Ann", "LastName": "Smith", "Email": "ann@example.com",
                                 "AccountId": account["id"], "MailingCity": "Paris", "Birthdate": "1990-05-17",
                                 "Crm360_Lifetime_Value__c": 120.5, "HasOptedOutOfEmail": True})
    assert created["success"] is True and created["id"].startswith("003") and len(created["id"]) == 18
    record = sf.Contact.get(created["id"])
    assert record["Name"] == "Ann Smith"
    assert record["MailingAddress"]["city"] == "Paris"
    assert record["Birthdate"] == "1990-05-17"
    assert record["Crm360_Lifetime_Value__c"] == 120.5
    assert record["HasOptedOutOfEmail"] is True and record["DoNotCall"] is False
    assert record["Phone"] is None
    for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert SF_DATETIME.match(record[stamp])
    assert sf.Contact.update(created["id"], {"LastName": "Jones", "Email": None}) == 204
    updated = sf.Contact.get(created["id"])
    assert (updated["Name"], updated["Email"]) == ("Ann Jones", None)
    assert updated["SystemModstamp"] >= record["SystemModstamp"]
    assert updated["CreatedDate"] == record["CreatedDate"]
    assert sf.Contact.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Contact.get(created["id"])
    assert error_code(err) == "ENTITY_IS_DELETED"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    deleted = sf.query_all("SELECT Id, IsDeleted FROM Contact", include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in deleted] == [(created["id"], True)]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"FirstName": "NoLast"}, "REQUIRED_FIELD_MISSING"),
        ({"LastName": "X", "Nope__c": 1}, "INVALID_FIELD"),
        ({"LastName": "X", "Crm360_Email_Engagement__c": "x" * 41}, "STRING_TOO_LONG"),
        ({"LastName": "X", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS"),
        ({"LastName": "X", "Name": "Calculated"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
    ],
)
def test_create_errors(sf: Salesforce, payload: dict, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.create(payload)
    assert error_code(err) == code
    assert set(err.value.content[0]) == {"message", "errorCode", "fields"}


def test_missing_record_is_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Contact.get("003000000000000AAA")
    assert error_code(err) == "NOT_FOUND"


def test_upsert_by_external_id_and_duplicate_values(sf: Salesforce) -> None:
    assert sf.Contact.upsert("External_Id__c/cust-1", {"LastName": "First"}) == 201
    assert sf.Contact.upsert("External_Id__c/cust-1", {"Crm360_Segment__c": "vip"}) == 200
    records = sf.query("SELECT LastName, Crm360_Segment__c FROM Contact")["records"]
    assert [(r["LastName"], r["Crm360_Segment__c"]) for r in records] == [("First", "vip")]
    by_key = sf.Contact.get_by_custom_id("External_Id__c", "cust-1")
    assert by_key["LastName"] == "First"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.create({"LastName": "Dup", "External_Id__c": "CUST-1"})
    assert error_code(err) == "DUPLICATE_VALUE"


def test_converted_lead_rejects_updates(sandbox: SandboxProcess, sf: Salesforce) -> None:
    seed(sandbox, "Lead", [{"Id": "00Q8c0000000777AAA", "LastName": "Conv", "Company": "Co", "IsConverted": True,
                            "ConvertedDate": "2026-11-01"}])
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update("00Q8c0000000777AAA", {"Crm360_Segment__c": "x"})
    assert error_code(err) == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_duplicate_campaign_member(sf: Salesforce) -> None:
    campaign = sf.Campaign.create({"Name": "Spring"})["id"]
    contact = sf.Contact.create({"LastName": "M"})["id"]
    sf.CampaignMember.create({"CampaignId": campaign, "ContactId": contact, "Status": "Responded"})
    member = sf.query("SELECT HasResponded, Campaign.Name FROM CampaignMember")["records"][0]
    assert member["HasResponded"] is True and member["Campaign"]["Name"] == "Spring"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.CampaignMember.create({"CampaignId": campaign, "ContactId": contact})
    assert error_code(err) == "DUPLICATE_VALUE"


# ------------------------------------------------------------------ query


def test_query_paging_batch_size_and_count(sandbox: SandboxProcess, sf: Salesforce) -> None:
    seed(sandbox, "Contact", [{"LastName": f"P{i:05d}", "Email": f"p{i}@example.com"} for i in range(4500)])
    first = sf.query("SELECT Id, LastName FROM Contact ORDER BY LastName")
    assert (first["totalSize"], first["done"], len(first["records"])) == (4500, False, 2000)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    every = sf.query_all("SELECT Id, LastName FROM Contact ORDER BY LastName")
    assert [r["LastName"] for r in every["records"]] == [f"P{i:05d}" for i in range(4500)]
    pages = []
    result = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=500"})
    pages.append(len(result["records"]))
    while not result["done"]:
        result = sf.query_more(result["nextRecordsUrl"], identifier_is_url=True)
        pages.append(len(result["records"]))
    assert pages == [500] * 9
    assert len(list(sf.query_all_iter("SELECT Id FROM Contact WHERE LastName LIKE 'P000%'"))) == 100
    counted = sf.query("SELECT COUNT() FROM Contact WHERE LastName > 'P04000'")
    assert (counted["totalSize"], counted["records"]) == (499, [])


def test_query_with_relationships_and_datetime_literals(sandbox: SandboxProcess, sf: Salesforce) -> None:
    seed(sandbox, "Account", [{"Id": "0018c0000000100AAA", "Name": "Acme"}])
    seed(sandbox, "Contact", [
        {"LastName": "Old", "AccountId": "0018c0000000100AAA", "SystemModstamp": "2024-01-01T10:00:00.000+0000"},
        {"LastName": "New", "SystemModstamp": "2024-03-01T10:00:00Z"},
    ])
    for literal in ("2024-02-01T00:00:00Z", "2024-02-01T00:00:00.000+0000", "2024-02-01T01:00:00+01:00"):
        newer = sf.query(f"SELECT LastName FROM Contact WHERE SystemModstamp > {literal}")["records"]
        assert [r["LastName"] for r in newer] == ["New"]
    rows = sf.query("SELECT lastname, account.name FROM contact ORDER BY LastName DESC")["records"]
    assert [r["LastName"] for r in rows] == ["Old", "New"]
    assert rows[0]["Account"]["Name"] == "Acme"
    assert rows[0]["Account"]["attributes"]["type"] == "Account"
    assert rows[1]["Account"] is None


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Foo FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        ("SELECT Id Contact", "MALFORMED_QUERY"),
    ],
)
def test_query_errors(sf: Salesforce, soql: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query(soql)
    assert error_code(err) == code


# ------------------------------------------------------------------ sObject collections


def test_composite_create_and_upsert_collections(sf: Salesforce) -> None:
    created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "LastName": "One", "External_Id__c": "k1"},
        {"attributes": {"type": "Contact"}, "FirstName": "NoLast"},
    ]})
    assert created[0]["success"] is True
    assert created[1]["success"] is False and created[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    upserted = sf.restful("composite/sobjects/Contact/External_Id__c", method="PATCH", json={
        "allOrNone": False, "records": [
            {"attributes": {"type": "Contact"}, "External_Id__c": "k1", "Crm360_Segment__c": "gold"},
            {"attributes": {"type": "Contact"}, "External_Id__c": "k2", "LastName": "Two"},
        ]})
    assert [(r["success"], r["created"]) for r in upserted] == [(True, False), (True, True)]
    rows = sf.query("SELECT External_Id__c, Crm360_Segment__c FROM Contact ORDER BY External_Id__c")
    assert [(r["External_Id__c"], r["Crm360_Segment__c"]) for r in rows["records"]] == [
        ("k1", "gold"), ("k2", None)]


def test_composite_all_or_none_rolls_back(sf: Salesforce) -> None:
    result = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Contact"}, "LastName": "Kept?"},
        {"attributes": {"type": "Contact"}, "Email": "bad"},
    ]})
    assert [r["success"] for r in result] == [False, False]
    assert result[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful("composite/sobjects", method="POST", json={"records": [
            {"attributes": {"type": "Contact"}, "LastName": str(i)} for i in range(201)]})
    assert error_code(err) == "EXCEEDED_ID_LIMIT"


def test_composite_update_keeps_good_records_when_the_first_fails(sf: Salesforce) -> None:
    good = sf.Contact.create({"LastName": "Good"})["id"]
    result = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "id": "003000000000000AAA", "LastName": "Missing"},
        {"attributes": {"type": "Contact"}, "id": good, "Crm360_Segment__c": "vip"},
    ]})
    assert [r["success"] for r in result] == [False, True]
    assert sf.Contact.get(good)["Crm360_Segment__c"] == "vip"


# ------------------------------------------------------------------ Bulk API 2.0


def test_bulk2_upsert_and_query(sandbox: SandboxProcess, sf: Salesforce) -> None:
    records = [{"Crm360_Customer_Id__c": f"b{i}", "LastName": f"Bulk{i}", "Crm360_Order_Count__c": str(i)}
               for i in range(250)]
    records.append({"Crm360_Customer_Id__c": "bad", "LastName": "Bad", "Email": "nope"})
    results = sf.bulk2.Contact.upsert(records=records, external_id_field="Crm360_Customer_Id__c", wait=0.05)
    assert results[0]["numberRecordsProcessed"] == 251
    assert results[0]["numberRecordsFailed"] == 1
    failed = sf.bulk2.Contact.get_failed_records(results[0]["job_id"])
    assert failed.splitlines()[0].startswith('"sf__Id","sf__Error"')
    assert "INVALID_EMAIL_ADDRESS" in failed
    succeeded = sf.bulk2.Contact.get_successful_records(results[0]["job_id"])
    assert succeeded.splitlines()[0].startswith('"sf__Id","sf__Created"')
    assert len(succeeded.splitlines()) == 251
    pages = list(sf.bulk2.Contact.query("SELECT Id, LastName, Crm360_Order_Count__c FROM Contact",
                                        max_records=100, wait=0.05))
    assert len(pages) == 3
    assert all(page.splitlines()[0] == '"Id","LastName","Crm360_Order_Count__c"' for page in pages)
    assert sum(len(page.splitlines()) - 1 for page in pages) == 250
    again = sf.bulk2.Contact.upsert(records=records[:10], external_id_field="Crm360_Customer_Id__c", wait=0.05)
    assert again[0]["numberRecordsFailed"] == 0
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 250


def test_bulk2_query_rejects_compound_fields(sf: Salesforce) -> None:
    from simple_salesforce.exceptions import SalesforceOperationError

    with pytest.raises(SalesforceOperationError):
        list(sf.bulk2.Contact.query("SELECT Id, MailingAddress FROM Contact", wait=0.05))


# ------------------------------------------------------------------ admin and lifecycle


def test_stats_count_records_and_calls(sandbox: SandboxProcess, sf: Salesforce) -> None:
    seed(sandbox, "Account", [{"Name": f"A{i}"} for i in range(3)])
    stats = requests.get(sandbox.url("/sandbox/stats"), timeout=10).json()
    assert stats["objects"]["Account"] == 3
    assert stats["api_calls"] >= 0


def test_server_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    server = start_sandbox(tmp_path)
    assert (tmp_path / "server.json").exists()
    assert server.stop() == 0
    assert not (tmp_path / "server.json").exists()


def test_org_clock_stamps_writes_and_can_be_reset(sandbox: SandboxProcess, sf: Salesforce) -> None:
    set_to = requests.post(sandbox.url("/sandbox/clock"), json={"now": "2026-11-21T00:30:00Z"},
                        verify=sandbox.ca_path, timeout=30).json()
    assert set_to["now"].startswith("2026-11-21T00:30")
    try:
        rid = sf.Contact.create({"LastName": "Clocked"})["id"]
        stamp = sf.Contact.get(rid)["SystemModstamp"]
        assert stamp.startswith("2026-11-21T00:3"), stamp
        found = sf.query("SELECT Id FROM Contact WHERE SystemModstamp >= 2026-11-21T00:00:00Z "
                         "AND SystemModstamp < 2026-11-22T00:00:00Z")
        assert [r["Id"] for r in found["records"]] == [rid]
        bad = requests.post(sandbox.url("/sandbox/clock"), json={"now": "tomorrow"}, verify=sandbox.ca_path, timeout=30)
        assert bad.status_code == 400 and "ISO 8601" in bad.json()["error"]
    finally:
        reset = requests.post(sandbox.url("/sandbox/clock"), json={"now": None}, verify=sandbox.ca_path, timeout=30)
    assert not reset.json()["now"].startswith("2026-11-21T00:3")


def test_non_unique_external_id_repeats_and_upsert_on_it_is_ambiguous(sf: Salesforce) -> None:
    first = sf.Contact.create({"LastName": "Twin", "Crm360_Customer_Id__c": "cus_1"})["id"]
    second = sf.Contact.create({"LastName": "Twin", "Crm360_Customer_Id__c": "cus_1"})["id"]
    assert first != second
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Contact.upsert("Crm360_Customer_Id__c/cus_1", {"Crm360_Segment__c": "vip"})
