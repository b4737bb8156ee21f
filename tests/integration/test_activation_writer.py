"""crm360's Salesforce writer against the sandbox org: sObject Collections and Bulk API 2.0, with the
sandbox injecting faults. After recovery the org holds exactly what was written, every record has
an outcome, and permanent errors come back as such (not retried, not lost)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import requests

from crm360.activation.writer import WriteFailed, WriteOptions, write_records
from crm360.salesforce.client import SalesforceSession, timeout_session

FAST = WriteOptions(bulk_threshold=50, bulk_wait_seconds=0.05, attempts=4, retry_wait_seconds=0.01,
                    record_attempts=4)


def add_fault(sandbox: Any, **rule: object) -> None:
    response = requests.post(sandbox.url("/sandbox/faults"), json=rule, timeout=10)
    assert response.status_code == 201, response.text


@pytest.fixture
def session(sandbox: Any, sf: Any) -> Any:
    requests.delete(sandbox.url("/sandbox/faults"), timeout=10)
    from simple_salesforce import Salesforce

    session = SalesforceSession(lambda: Salesforce(username="integration@crm360.sandbox", password="sandbox-password",
                                                   security_token="sandbox-token", domain=sandbox.domain,
                                                   session=timeout_session(2.0)))
    yield session
    requests.delete(sandbox.url("/sandbox/faults"), timeout=10)


def contacts(sf: Any, n: int, tag: str) -> list[str]:
    ids = []
    for start in range(0, n, 200):
        created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
            {"attributes": {"type": "Contact"}, "LastName": f"{tag}-{i}"} for i in range(start, min(n, start + 200))]})
        ids += [c["id"] for c in created]
    return ids


def values(sf: Any, ids: list[str], field: str) -> dict[str, Any]:
    found = {}
    for start in range(0, len(ids), 200):
        quoted = ",".join(f"'{i}'" for i in ids[start:start + 200])
        for r in sf.query_all(f"SELECT Id, {field} FROM Contact WHERE Id IN ({quoted})")["records"]:
            found[r["Id"]] = r[field]
    return found


@pytest.mark.parametrize("count", [30, 120], ids=["collections", "bulk"])
def test_updates_reach_every_record_despite_faults(sandbox: Any, sf: Any, session: Any, count: int) -> None:
    ids = contacts(sf, count, f"w{count}")
    method = "collections" if count < FAST.bulk_threshold else "bulk"
    add_fault(sandbox, kind="lock_row", object="Contact", every=7, times=3)
    add_fault(sandbox, kind="error", status=503, path="(composite|jobs)", times=1)
    add_fault(sandbox, kind="expire_session", times=1, skip=1)
    add_fault(sandbox, kind="delay", seconds=5, path="(composite|jobs)", times=1, skip=1)
    if method == "bulk":
        add_fault(sandbox, kind="fail_job", message="the org is busy", times=1)
    records = [{"Id": i, "Crm360_Segment__c": f"seg-{n % 5}", "Crm360_Order_Count__c": n}
               for n, i in enumerate(ids)]
    reported: list[int] = []
    result = write_records(session, "Contact", "update", records, FAST,
                           on_chunk=lambda indexes, _: reported.extend(indexes))
    assert result.method == method
    assert result.succeeded == count, [o for o in result.outcomes if not o.success][:3]
    assert sorted(reported) == list(range(count))  # every record reported exactly once
    assert max(o.attempts for o in result.outcomes) >= 2  # the locked rows were sent again
    got = values(sf, ids, "Crm360_Segment__c")
    assert got == {i: f"seg-{n % 5}" for n, i in enumerate(ids)}


@pytest.mark.parametrize("count", [10, 60], ids=["collections", "bulk"])
def test_nulls_clear_and_absent_fields_stay(sandbox: Any, sf: Any, session: Any, count: int) -> None:
    ids = contacts(sf, count, f"n{count}")
    write_records(session, "Contact", "update",
                  [{"Id": i, "Crm360_Segment__c": "a", "Crm360_Next_Best_Offer__c": "b"} for i in ids], FAST)
    result = write_records(session, "Contact", "update", [{"Id": i, "Crm360_Segment__c": None} for i in ids], FAST)
    assert result.succeeded == count
    assert set(values(sf, ids, "Crm360_Segment__c").values()) == {None}
    assert set(values(sf, ids, "Crm360_Next_Best_Offer__c").values()) == {"b"}


@pytest.mark.parametrize("count", [10, 60], ids=["collections", "bulk"])
def test_permanent_errors_are_returned_per_record_not_retried(sf: Any, session: Any, count: int) -> None:
    ids = contacts(sf, count, f"p{count}")
    sf.Contact.delete(ids[0])
    records = [{"Id": i, "Crm360_Segment__c": "x" * (300 if n == 1 else 5)} for n, i in enumerate(ids)]
    result = write_records(session, "Contact", "update", records, FAST)
    assert result.succeeded == count - 2
    deleted, too_long = result.outcomes[0], result.outcomes[1]
    assert deleted.error_code == "ENTITY_IS_DELETED" and deleted.attempts == 1
    assert too_long.error_code == "STRING_TOO_LONG" and "Crm360_Segment__c" in too_long.error


@pytest.mark.parametrize("count", [10, 60], ids=["collections", "bulk"])
def test_inserts_return_new_ids_and_deletes_remove(sf: Any, session: Any, count: int) -> None:
    campaign = sf.Campaign.create({"Name": f"Writer test {count}"})["id"]
    ids = contacts(sf, count, f"i{count}")
    members = [{"CampaignId": campaign, "ContactId": i, "Status": "Sent"} for i in ids]
    result = write_records(session, "CampaignMember", "insert", members, FAST)
    assert result.succeeded == count
    stored = {r["ContactId"]: r["Id"] for r in sf.query_all(
        f"SELECT Id, ContactId FROM CampaignMember WHERE CampaignId = '{campaign}'")["records"]}
    assert {i: o.record_id for i, o in zip(ids, result.outcomes, strict=True)} == stored
    again = write_records(session, "CampaignMember", "insert", members[:3], FAST)
    assert {o.error_code for o in again.outcomes} == {"DUPLICATE_VALUE"}
    gone = write_records(session, "CampaignMember", "delete", [{"Id": stored[i]} for i in ids], FAST)
    assert gone.succeeded == count
    assert sf.query(f"SELECT COUNT() FROM CampaignMember WHERE CampaignId = '{campaign}'")["totalSize"] == 0


def test_an_org_that_stays_down_fails_clearly_after_storing_what_was_sent(sandbox: Any, sf: Any,
                                                                          session: Any) -> None:
    ids = contacts(sf, 450, "down")
    # the first two collections (400 records) go through, then the org answers 503 to every write
    add_fault(sandbox, kind="error", status=503, method="PATCH", path="composite", skip=2)
    reported: list[int] = []
    with pytest.raises(WriteFailed, match=r"gave up after 4 attempts.*sent again by the next run"):
        write_records(session, "Contact", "update", [{"Id": i, "Crm360_Segment__c": "z"} for i in ids],
                      dataclasses.replace(FAST, bulk_threshold=1000),
                      on_chunk=lambda indexes, _: reported.extend(indexes))
    assert sorted(reported) == list(range(400))
    assert sum(v == "z" for v in values(sf, ids, "Crm360_Segment__c").values()) == 400
