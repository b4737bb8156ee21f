"""Custom fields from a schema file, schema drift at run time, and the User/Organization metadata."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce.process import SandboxProcess, start_sandbox

pytestmark = pytest.mark.integration

SCHEMA_YAML = """\
objects:
  Contact:
    fields:
      - {name: Loyalty_Tier__c, type: picklist, values: [Gold, Silver, Bronze], label: Loyalty Tier}
      - {name: Loyalty_Points__c, type: double, precision: 18, scale: 0}
      - {name: Loyalty_Number__c, type: string, length: 12, externalId: true, unique: true}
  Loyalty_Program__c:
    keyPrefix: a01
    label: Loyalty Program
    fields:
      - {name: Member__c, type: reference, referenceTo: Contact}
      - {name: Joined__c, type: date}
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    state = tmp_path_factory.mktemp("sf-schema")
    schema = state / "schema.yml"
    schema.write_text(SCHEMA_YAML)
    with start_sandbox(state, schema=schema) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
        yield server


@pytest.fixture(autouse=True)
def clean_org(sandbox: SandboxProcess) -> None:
    requests.post(sandbox.url("/sandbox/reset"), timeout=10).raise_for_status()


def fields(sf: Salesforce, obj: str) -> dict[str, dict]:
    return {f["name"]: f for f in getattr(sf, obj).describe()["fields"]}


def test_schema_file_fields_are_described_and_writable(sf: Salesforce) -> None:
    described = fields(sf, "Contact")
    tier = described["Loyalty_Tier__c"]
    assert (tier["type"], tier["custom"], tier["label"]) == ("picklist", True, "Loyalty Tier")
    assert [v["value"] for v in tier["picklistValues"]] == ["Gold", "Silver", "Bronze"]
    assert described["Loyalty_Number__c"]["externalId"] is True
    assert described["Loyalty_Number__c"]["unique"] is True
    rid = sf.Contact.create({"LastName": "Tiered", "Loyalty_Tier__c": "Gold", "Loyalty_Points__c": 120,
                             "Loyalty_Number__c": "LN-1"})["id"]
    row = sf.query(f"SELECT Loyalty_Tier__c, Loyalty_Points__c FROM Contact WHERE Id = '{rid}'")["records"][0]
    assert (row["Loyalty_Tier__c"], row["Loyalty_Points__c"]) == ("Gold", 120.0)
    assert sf.Contact.upsert("Loyalty_Number__c/ln-1", {"Loyalty_Points__c": 5}) == 200  # updated, v46.0+
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.create({"LastName": "Dup", "Loyalty_Number__c": "LN-1"})
    assert err.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.create({"LastName": "Long", "Loyalty_Number__c": "x" * 13})
    assert err.value.content[0]["errorCode"] == "STRING_TOO_LONG"


def test_schema_file_custom_object(sf: Salesforce) -> None:
    names = [o["name"] for o in sf.describe()["sobjects"]]
    assert "Loyalty_Program__c" in names
    contact = sf.Contact.create({"LastName": "Member"})["id"]
    program = sf.Loyalty_Program__c.create({"Name": "Gold club", "Member__c": contact, "Joined__c": "2026-11-01"})
    assert program["id"].startswith("a01")
    row = sf.query("SELECT Name, Member__r.LastName, Joined__c FROM Loyalty_Program__c")["records"][0]
    assert (row["Name"], row["Member__r"]["LastName"], row["Joined__c"]) == ("Gold club", "Member", "2026-11-01")


def test_field_added_and_removed_at_run_time(sandbox: SandboxProcess, sf: Salesforce) -> None:
    rid = sf.Contact.create({"LastName": "Drift"})["id"]
    added = requests.post(sandbox.url("/sandbox/schema/Contact/fields"), timeout=10,
                          json={"name": "Churn_Risk__c", "type": "percent", "precision": 5, "scale": 2})
    assert added.status_code == 201, added.text
    assert fields(sf, "Contact")["Churn_Risk__c"]["type"] == "percent"
    sf.Contact.update(rid, {"Churn_Risk__c": 12.5})
    assert sf.Contact.get(rid)["Churn_Risk__c"] == 12.5

    dropped = requests.delete(sandbox.url("/sandbox/schema/Contact/fields/Churn_Risk__c"), timeout=10)
    assert dropped.status_code == 200
    assert "Churn_Risk__c" not in fields(sf, "Contact")
    assert "Churn_Risk__c" not in sf.Contact.get(rid)
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Churn_Risk__c FROM Contact")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.update(rid, {"Churn_Risk__c": 1})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    # a field added again starts empty: deleting a field deletes its data
    requests.post(sandbox.url("/sandbox/schema/Contact/fields"), json={"name": "Churn_Risk__c", "type": "percent"},
                  timeout=10).raise_for_status()
    assert sf.Contact.get(rid)["Churn_Risk__c"] is None


def test_a_crm360_field_can_drift_away(sandbox: SandboxProcess, sf: Salesforce) -> None:
    """A field crm360 writes disappears from the org: describe stops listing it and writes to it fail."""
    requests.delete(sandbox.url("/sandbox/schema/Contact/fields/Crm360_Segment__c"), timeout=10).raise_for_status()
    assert "Crm360_Segment__c" not in fields(sf, "Contact")
    result = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "LastName": "X", "Crm360_Segment__c": "vip"}]})
    assert result[0]["success"] is False
    assert result[0]["errors"][0]["statusCode"] == "INVALID_FIELD"
    # reset brings the built-in schema back
    requests.post(sandbox.url("/sandbox/reset"), timeout=10).raise_for_status()
    assert "Crm360_Segment__c" in fields(sf, "Contact")


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/sandbox/schema/Contact/fields", {"name": "NoSuffix", "type": "string"}, "__c"),
    ("/sandbox/schema/Contact/fields", {"name": "Odd__c", "type": "blob"}, "unknown type"),
    ("/sandbox/schema/Contact/fields", {"name": "Loyalty_Tier__c", "type": "string"}, "already exists"),
    ("/sandbox/schema/Nope/fields", {"name": "A__c", "type": "string"}, "unknown object"),
    ("/sandbox/schema/Contact/fields", {"name": "Ref__c", "type": "reference", "referenceTo": "Nope"}, "unknown"),
])
def test_bad_schema_changes_are_refused(sandbox: SandboxProcess, path: str, body: dict, message: str) -> None:
    response = requests.post(sandbox.url(path), json=body, timeout=10)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_standard_fields_cannot_be_deleted(sandbox: SandboxProcess) -> None:
    response = requests.delete(sandbox.url("/sandbox/schema/Contact/fields/Email"), timeout=10)
    assert response.status_code == 400
    assert "standard field" in response.json()["error"]


def test_user_and_organization_metadata(sf: Salesforce) -> None:
    user = sf.query("SELECT Id, Username, Name, Alias, Email, IsActive, TimeZoneSidKey, LocaleSidKey, "
                    "LanguageLocaleKey, EmailEncodingKey, UserType, Profile.Name, ProfileId FROM User")["records"]
    assert len(user) == 1
    me = user[0]
    userinfo = requests.get(f"https://{sf.sf_instance}/services/oauth2/userinfo", timeout=10,
                            headers={"Authorization": f"Bearer {sf.session_id}"}).json()
    assert me["Id"] == userinfo["user_id"]
    assert (me["Username"], me["Name"], me["IsActive"], me["UserType"]) == (
        "integration@crm360.sandbox", "Integration User", True, "Standard")
    assert me["ProfileId"].startswith("00e") and me["Profile"]["Name"]
    described = fields(sf, "User")
    for name in ("Username", "Alias", "CommunityNickname", "ProfileId", "LocaleSidKey", "EmailEncodingKey",
                 "LanguageLocaleKey", "TimeZoneSidKey", "ManagerId", "LastLoginDate", "UserType"):
        assert name in described, name
    assert described["ProfileId"]["referenceTo"] == ["Profile"]
    assert described["Username"]["unique"] is True
    org = sf.query("SELECT Id, Name, IsSandbox, OrganizationType, InstanceName, LanguageLocaleKey, "
                   "DefaultCurrencyIsoCode FROM Organization")["records"][0]
    assert org["IsSandbox"] is True and org["OrganizationType"] == "Enterprise Edition"
    assert org["Id"].startswith("00D")


def test_schema_file_errors_stop_the_server_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "schema.json"
    bad.write_text('{"objects": {"Contact": {"fields": [{"name": "Bad", "type": "string"}]}}}')
    with pytest.raises(RuntimeError, match="custom field names"):
        start_sandbox(tmp_path / "state", schema=bad, timeout=30)
