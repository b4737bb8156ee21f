"""Salesforce semantics: lead conversion and merges (SOAP partner calls), Bulk limits in /limits."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

from sandbox.salesforce.process import SandboxProcess

pytestmark = pytest.mark.integration

NS = {"sf": "urn:partner.soap.sforce.com"}


@pytest.fixture(autouse=True)
def clean_org(sandbox: SandboxProcess) -> None:
    requests.post(sandbox.url("/sandbox/reset"), timeout=10).raise_for_status()
    requests.post(sandbox.url("/sandbox/limits"), timeout=10, json={
        "bulk_query_job_limit": 10000, "bulk_query_jobs_used": 0, "bulk_batch_limit": 15000, "bulk_batches_used": 0,
    }).raise_for_status()


def soap(sf: Salesforce, body: str, session: str | None = None) -> requests.Response:
    """POST a partner API call to the serverUrl login returned (as a SOAP client would)."""
    org = sf.query("SELECT Id FROM Organization")["records"][0]["Id"]
    envelope = ('<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope '
                'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com" '
                'xmlns:urn1="urn:sobject.partner.soap.sforce.com" '
                'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Header><urn:SessionHeader>'
                f'<urn:sessionId>{session or sf.session_id}</urn:sessionId></urn:SessionHeader></soapenv:Header>'
                f'<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>')
    return requests.post(f"https://{sf.sf_instance}/services/Soap/u/59.0/{org}", data=envelope.encode(), timeout=10,
                         headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "convertLead"})


def results(response: requests.Response) -> list[dict[str, object]]:
    root = ET.fromstring(response.content)
    out = []
    for result in root.iter("{urn:partner.soap.sforce.com}result"):
        entry: dict[str, object] = {}
        for child in result:
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "errors":
                entry.setdefault("errors", []).append(child.findtext("sf:statusCode", namespaces=NS))
            elif tag in {"mergedRecordIds", "updatedRelatedIds"}:
                entry.setdefault(tag, []).append(child.text)
            else:
                entry[tag] = child.text
        out.append(entry)
    return out


def convert(lead_id: str, **options: str) -> str:
    extra = "".join(f"<urn:{k}>{v}</urn:{k}>" for k, v in options.items())
    return (f"<urn:convertLead><urn:leadConverts><urn:convertedStatus>Closed - Converted</urn:convertedStatus>"
            f"<urn:leadId>{lead_id}</urn:leadId>{extra}</urn:leadConverts></urn:convertLead>")


def test_convert_lead_creates_account_contact_opportunity(sf: Salesforce) -> None:
    lead = sf.Lead.create({"FirstName": "Ada", "LastName": "Byron", "Company": "Engines Ltd",
                           "Email": "ada@engines.example", "City": "London"})["id"]
    response = soap(sf, convert(lead, opportunityName="Engines deal"))
    assert response.status_code == 200, response.text
    (result,) = results(response)
    assert result["success"] == "true" and result["leadId"] == lead
    converted = sf.Lead.get(lead)
    assert converted["IsConverted"] is True
    assert converted["ConvertedContactId"] == result["contactId"]
    assert converted["ConvertedAccountId"] == result["accountId"]
    assert converted["ConvertedOpportunityId"] == result["opportunityId"]
    assert converted["Status"] == "Closed - Converted" and converted["ConvertedDate"]
    contact = sf.Contact.get(result["contactId"])
    assert (contact["FirstName"], contact["Email"], contact["MailingCity"]) == ("Ada", "ada@engines.example",
                                                                               "London")
    assert contact["AccountId"] == result["accountId"]
    assert sf.Account.get(result["accountId"])["Name"] == "Engines Ltd"
    assert sf.Opportunity.get(result["opportunityId"])["Name"] == "Engines deal"
    # converted leads reject updates, and a second conversion
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(lead, {"Title": "CEO"})
    assert err.value.content[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert results(soap(sf, convert(lead)))[0]["errors"] == ["CANNOT_UPDATE_CONVERTED_LEAD"]
    # change capture sees the conversion
    rows = sf.query(f"SELECT ConvertedContact.Email FROM Lead WHERE IsConverted = true AND Id = '{lead}'")["records"]
    assert rows[0]["ConvertedContact"]["Email"] == "ada@engines.example"


def test_convert_into_an_existing_contact_without_opportunity(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Existing"})["id"]
    contact = sf.Contact.create({"LastName": "Known", "AccountId": account})["id"]
    lead = sf.Lead.create({"LastName": "Known", "Company": "Existing"})["id"]
    (result,) = results(soap(sf, convert(lead, accountId=account, contactId=contact, doNotCreateOpportunity="true")))
    assert (result["success"], result["contactId"], result["accountId"]) == ("true", contact, account)
    assert result["opportunityId"] is None
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 1
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 0


def test_convert_errors_roll_back(sf: Salesforce) -> None:
    lead = sf.Lead.create({"LastName": "L", "Company": "C"})["id"]
    bad_status = soap(sf, convert(lead).replace("Closed - Converted", "Working - Contacted"))
    assert results(bad_status)[0]["errors"] == ["INVALID_STATUS"]
    missing_contact = soap(sf, convert(lead, contactId="003000000000000AAA"))
    assert results(missing_contact)[0]["errors"] == ["INVALID_CROSS_REFERENCE_KEY"]
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    assert sf.Lead.get(lead)["IsConverted"] is False


def test_bad_session_is_a_soap_fault(sf: Salesforce) -> None:
    response = soap(sf, convert("00Q000000000000AAA"), session="nope")
    assert response.status_code == 500
    assert "INVALID_SESSION_ID" in response.text


def test_merge_deletes_losers_sets_master_record_id_and_moves_children(sf: Salesforce) -> None:
    master = sf.Contact.create({"LastName": "Master", "Email": "m@example.com"})["id"]
    loser = sf.Contact.create({"LastName": "Loser", "Phone": "555"})["id"]
    task = sf.Task.create({"Subject": "Call", "WhoId": loser})["id"]
    campaign = sf.Campaign.create({"Name": "Spring"})["id"]
    sf.CampaignMember.create({"CampaignId": campaign, "ContactId": master})
    sf.CampaignMember.create({"CampaignId": campaign, "ContactId": loser})
    body = ('<urn:merge><urn:request><urn:masterRecord xsi:type="urn1:Contact"><urn1:Id>'
            f'{master}</urn1:Id><urn1:Phone>555</urn1:Phone></urn:masterRecord><urn:recordToMergeIds>{loser}'
            '</urn:recordToMergeIds></urn:request></urn:merge>')
    (result,) = results(soap(sf, body))
    assert result["success"] == "true" and result["id"] == master
    assert result["mergedRecordIds"] == [loser]
    assert task in result["updatedRelatedIds"]
    assert sf.Contact.get(master)["Phone"] == "555"
    rows = sf.query_all(f"SELECT Id, IsDeleted, MasterRecordId FROM Contact WHERE Id = '{loser}'",
                        include_deleted=True)["records"]
    assert rows == [{"attributes": rows[0]["attributes"], "Id": loser, "IsDeleted": True, "MasterRecordId": master}]
    assert sf.Task.get(task)["WhoId"] == master
    members = sf.query("SELECT ContactId FROM CampaignMember")["records"]
    assert [m["ContactId"] for m in members] == [master]  # the duplicate membership went away
    assert results(soap(sf, body))[0]["errors"] == ["ENTITY_IS_DELETED"]


def test_merge_refuses_mixed_or_unmergeable_records(sf: Salesforce) -> None:
    contact = sf.Contact.create({"LastName": "C"})["id"]
    account = sf.Account.create({"Name": "A"})["id"]
    mixed = ('<urn:merge><urn:request><urn:masterRecord xsi:type="urn1:Contact"><urn1:Id>'
             f'{contact}</urn1:Id></urn:masterRecord><urn:recordToMergeIds>{account}</urn:recordToMergeIds>'
             '</urn:request></urn:merge>')
    assert results(soap(sf, mixed))[0]["success"] == "false"
    assert sf.Account.get(account)["IsDeleted"] is False


def test_bulk2_query_jobs_are_counted_and_limited(sandbox: SandboxProcess, sf: Salesforce) -> None:
    before = sf.limits()["DailyBulkV2QueryJobs"]
    list(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0.05))
    assert sf.limits()["DailyBulkV2QueryJobs"]["Remaining"] == before["Remaining"] - 1
    requests.post(sandbox.url("/sandbox/limits"), json={"bulk_query_job_limit": 3, "bulk_query_jobs_used": 3},
                  timeout=10).raise_for_status()
    assert sf.limits()["DailyBulkV2QueryJobs"] == {"Max": 3, "Remaining": 0}
    with pytest.raises(SalesforceRefusedRequest) as err:
        list(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0.05))
    assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_bulk2_ingest_batches_are_counted_and_limited(sandbox: SandboxProcess, sf: Salesforce) -> None:
    before = sf.limits()["DailyBulkApiBatches"]["Remaining"]
    sf.bulk2.Contact.insert(records=[{"LastName": f"N{i}"} for i in range(3)], wait=0.05)
    assert sf.limits()["DailyBulkApiBatches"]["Remaining"] == before - 1  # one internal 10,000-record batch
    requests.post(sandbox.url("/sandbox/limits"), json={"bulk_batch_limit": 1, "bulk_batches_used": 1},
                  timeout=10).raise_for_status()
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.bulk2.Contact.insert(records=[{"LastName": "over"}], wait=0.05)
    assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 3
