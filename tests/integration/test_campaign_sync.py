"""Campaign membership against the sandbox org, through unmodified simple-salesforce: crm360 creates the
segment campaigns, adds the wanted Contacts and Leads, sends nothing when nothing changed, removes the
people who left a segment, never touches members a marketer added, retries what failed until the
org holds exactly what is wanted, and a dry run makes no write call.

The warehouse is a DuckDB file with a hand-made `publish.campaign_members` (what dbt would build)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from crm360 import warehouse
from crm360.activation import campaigns
from crm360.activation.mapping import CampaignMap
from crm360.activation.writer import WriteOptions
from crm360.salesforce.client import SalesforceSession
from sandbox.salesforce.ids import make_id
from tests.integration.conftest import seed

pytestmark = pytest.mark.integration

FAST = WriteOptions(bulk_threshold=10_000, attempts=3, retry_wait_seconds=0.01, record_attempts=2)
CREATE = CampaignMap(create_missing=True, member_status="Sent")
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
WRITE_PATHS = r"/services/data/v[^/]+/(composite|sobjects|jobs)"  # REST, collections, Bulk 2.0 (not the login)
_numbers = itertools.count(1)


def add_fault(sandbox: Any, **rule: object) -> dict[str, Any]:
    response = requests.post(sandbox.url("/sandbox/faults"), json=rule, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def count_writes(sandbox: Any) -> None:
    """Install zero-second delays on every REST and Bulk write: their `fired` counts the write calls."""
    for method in WRITE_METHODS:
        add_fault(sandbox, kind="delay", seconds=0, method=method, path=WRITE_PATHS)


def write_calls(sandbox: Any) -> int:
    rules = requests.get(sandbox.url("/sandbox/faults"), timeout=10).json()
    rules = rules.get("faults", rules) if isinstance(rules, dict) else rules
    return sum(r["fired"] for r in rules if r["kind"] == "delay")


@pytest.fixture
def clean_faults(sandbox: Any) -> Iterator[None]:
    requests.delete(sandbox.url("/sandbox/faults"), timeout=10)
    yield
    requests.delete(sandbox.url("/sandbox/faults"), timeout=10)


@pytest.fixture
def session(sandbox: Any, clean_faults: None) -> SalesforceSession:
    from simple_salesforce import Salesforce

    return SalesforceSession(lambda: Salesforce(username="integration@crm360.sandbox", password="sandbox-password",
                                                security_token="sandbox-token", domain=sandbox.domain))


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with warehouse.connect(tmp_path / "crm360.duckdb") as con:
        con.execute("create schema publish")
        con.execute("create table publish.campaign_members (campaign_name varchar, campaign_channel varchar, "
                    "segment_name varchar, sfdc_record_id varchar, sobject_type varchar, customer_id varchar)")
        yield con


class Org:
    """People seeded into the sandbox org for one test, with fresh Ids and campaign names."""

    def __init__(self, sandbox: Any, sf: Any, contacts: int, leads: int = 0) -> None:
        self.sf = sf
        self.tag = f"t{next(_numbers)}-{id(self) % 10_000}"
        base = next(_numbers) * 1000
        self.contacts = [make_id("003", 7_000_000 + base + i) for i in range(contacts)]
        self.leads = [make_id("00Q", 7_000_000 + base + i) for i in range(leads)]
        seed(sandbox, "Contact", [{"Id": c, "LastName": f"{self.tag}-c{i}"} for i, c in enumerate(self.contacts)])
        if self.leads:
            seed(sandbox, "Lead", [{"Id": lead, "LastName": f"{self.tag}-l{i}", "Company": "Acme"}
                                   for i, lead in enumerate(self.leads)])

    def name(self, label: str) -> str:
        return f"{label} ({self.tag})"

    def members(self, campaign_name: str) -> set[str]:
        """The Contact and Lead Ids in the Campaign of that name."""
        found = self.sf.query_all(f"SELECT Id FROM Campaign WHERE Name = '{campaign_name}'")["records"]
        if not found:
            return set()
        assert len(found) == 1, found
        rows = self.sf.query_all(f"SELECT ContactId, LeadId FROM CampaignMember WHERE CampaignId = '{found[0]['Id']}'")
        return {r["ContactId"] or r["LeadId"] for r in rows["records"]}

    def campaign(self, campaign_name: str) -> dict[str, Any]:
        found = self.sf.query_all(f"SELECT Id, Name, Type, Status, IsActive FROM Campaign WHERE Name = "
                                  f"'{campaign_name}'")["records"]
        assert len(found) == 1, found
        return found[0]


def publish(con: duckdb.DuckDBPyConnection, wanted: dict[tuple[str, str], list[str]]) -> None:
    """Replace publish.campaign_members: (campaign name, channel) -> record Ids."""
    con.execute("delete from publish.campaign_members")
    rows = [(name, channel, "seg", record, "Lead" if record.startswith("00Q") else "Contact", f"cus_{record}")
            for (name, channel), records in wanted.items() for record in records]
    if rows:
        con.executemany("insert into publish.campaign_members values (?, ?, ?, ?, ?, ?)", rows)


def sync(session: SalesforceSession, con: duckdb.DuckDBPyConnection, run: str, *, write: bool = True,
         campaign_map: CampaignMap = CREATE) -> campaigns.CampaignSyncResult:
    return campaigns.sync_campaigns(session, con, campaign_map, run_id=run, ds="2026-11-20", write=write,
                                    options=FAST)


def by_name(result: campaigns.CampaignSyncResult) -> dict[str, campaigns.CampaignOutcome]:
    return {c.campaign_name: c for c in result.campaigns}


def test_campaigns_are_created_filled_kept_and_emptied_of_crm360s_leavers_only(
        sandbox: Any, sf: Any, session: SalesforceSession, con: duckdb.DuckDBPyConnection) -> None:
    org = Org(sandbox, sf, contacts=8, leads=2)
    c, leads = org.contacts, org.leads
    welcome, calls, cart = org.name("Lifecycle - Welcome"), org.name("RFM - Cannot lose them"), org.name("Cart")
    # the org has the welcome campaign already (and campaigns of its own), and a marketer put c[0] and c[7] in it
    welcome_id, other_id = make_id("701", 9_000_000 + next(_numbers)), make_id("701", 9_000_000 + next(_numbers))
    seed(sandbox, "Campaign", [{"Id": welcome_id, "Name": welcome, "Type": "Email", "IsActive": True},
                               {"Id": other_id, "Name": org.name("Spring sale"), "Type": "Email"}])
    hand_added = [make_id("00v", 9_000_000 + next(_numbers)) for _ in range(2)]
    seed(sandbox, "CampaignMember", [{"Id": hand_added[0], "CampaignId": welcome_id, "ContactId": c[0]},
                                     {"Id": hand_added[1], "CampaignId": welcome_id, "ContactId": c[7]}])
    publish(con, {(welcome, "email"): [c[0], c[1], c[2], leads[0]], (calls, "phone"): [c[3], c[4]],
                  (cart, "email"): [c[5], leads[1]]})

    first = sync(session, con, "run1")
    assert first.error is None and first.as_dict()["failed"] == 0
    outcome = by_name(first)
    assert outcome[welcome].status == "existing" and outcome[welcome].campaign_id == welcome_id
    assert (outcome[calls].status, outcome[cart].status) == ("created", "created")
    assert first.created == 2
    assert org.campaign(calls)["Type"] == "Telemarketing" and org.campaign(cart)["Type"] == "Email"
    assert org.campaign(calls)["IsActive"] is True and org.campaign(calls)["Status"] == "In Progress"
    # the hand-added member was not added again
    assert (outcome[welcome].added, outcome[welcome].unchanged) == (3, 1)
    assert org.members(welcome) == {c[0], c[1], c[2], leads[0], c[7]}
    assert org.members(calls) == {c[3], c[4]} and org.members(cart) == {c[5], leads[1]}
    assert con.execute(f"select created_by_crm360 from {warehouse.OPS_SCHEMA}.campaign_member_state "
                       "where record_id = ?", [c[0]]).fetchone() == (False,)
    assert con.execute(f"select count(*), count(*) filter (where success) from {warehouse.OPS_SCHEMA}."
                       "campaign_member_history where run_id = 'run1' and operation = 'add'").fetchone() == (7, 7)

    count_writes(sandbox)
    second = sync(session, con, "run2")
    assert write_calls(sandbox) == 0, "nothing changed, so nothing is sent"
    info = second.as_dict()
    assert (info["added"], info["removed"], info["created"], info["unchanged"]) == (0, 0, 0, 8)

    # c[1] and c[4] (added by crm360) and c[0] (added by hand) leave their segments
    publish(con, {(welcome, "email"): [c[2], leads[0]], (calls, "phone"): [c[3]], (cart, "email"): [c[5], leads[1]]})
    third = sync(session, con, "run3")
    assert write_calls(sandbox) == 1, "both leavers go in one sObject Collections delete (the counter counts)"
    assert (by_name(third)[welcome].removed, by_name(third)[calls].removed) == (1, 1)
    assert by_name(third)[welcome].not_ours == 2  # c[0] and c[7]: a marketer's, never removed
    assert org.members(welcome) == {c[0], c[2], leads[0], c[7]}
    assert org.members(calls) == {c[3]}

    # a segment that stops sending to a campaign takes crm360's members out of it, not the marketer's
    publish(con, {(calls, "phone"): [c[3]], (cart, "email"): [c[5], leads[1]]})
    fourth = sync(session, con, "run4")
    assert by_name(fourth)[welcome].status == "retired" and by_name(fourth)[welcome].removed == 2
    assert org.members(welcome) == {c[0], c[7]}
    assert con.execute(f"select count(*) from {warehouse.OPS_SCHEMA}.campaign_sync_summary where mode = 'synced' "
                       "and run_id = 'run4'").fetchone() == (3,)


def test_failed_adds_and_removes_are_stored_and_retried_until_the_org_holds_what_is_wanted(
        sandbox: Any, sf: Any, session: SalesforceSession, con: duckdb.DuckDBPyConnection) -> None:
    org = Org(sandbox, sf, contacts=6)
    c = org.contacts
    name = org.name("Behaviour - Abandoned cart")
    publish(con, {(name, "email"): c[:5]})
    # every member insert is locked for more attempts than the writer makes: all five fail this run
    add_fault(sandbox, kind="lock_row", object="CampaignMember", times=5 * FAST.record_attempts)
    first = sync(session, con, "run1")
    assert by_name(first)[name].status == "created" and by_name(first)[name].failed == 5
    assert org.members(name) == set()
    failures = con.execute(f"select distinct error_code from {warehouse.OPS_SCHEMA}.campaign_member_history "
                           "where run_id = 'run1' and not success").fetchall()
    assert failures == [("UNABLE_TO_LOCK_ROW",)]

    # next run: the member read answers 503 once, one insert is locked once, a collection call 503s once
    add_fault(sandbox, kind="error", status=503, method="GET", path="/query", times=1)
    add_fault(sandbox, kind="lock_row", object="CampaignMember", every=2, times=1)
    add_fault(sandbox, kind="error", status=503, method="POST", path="/composite/sobjects", times=1)
    second = sync(session, con, "run2")
    assert second.error is None and by_name(second)[name].added == 5 and by_name(second)[name].failed == 0
    assert org.members(name) == set(c[:5])

    # removes fail too (and the one add), and are retried: the state still says the members are crm360's
    publish(con, {(name, "email"): [c[0], c[5]]})
    add_fault(sandbox, kind="lock_row", object="CampaignMember", times=5 * FAST.record_attempts)
    third = sync(session, con, "run3")
    assert (by_name(third)[name].to_add, by_name(third)[name].to_remove, by_name(third)[name].failed) == (1, 4, 5)
    assert org.members(name) == set(c[:5])
    fourth = sync(session, con, "run4")
    assert fourth.as_dict()["failed"] == 0 and (by_name(fourth)[name].added, by_name(fourth)[name].removed) == (1, 4)
    assert org.members(name) == {c[0], c[5]}
    history = con.execute(f"select operation, success, count(*) from {warehouse.OPS_SCHEMA}.campaign_member_history "
                          "group by all order by all").fetchall()
    assert history == [("add", False, 6), ("add", True, 6), ("remove", False, 4), ("remove", True, 4)]


def test_an_org_that_stops_answering_loses_nothing(
        sandbox: Any, sf: Any, session: SalesforceSession, con: duckdb.DuckDBPyConnection) -> None:
    org = Org(sandbox, sf, contacts=3)
    name = org.name("Lifecycle - We miss you")
    publish(con, {(name, "email"): org.contacts})
    sync(session, con, "run0", write=True)  # the campaign exists, with its three members
    publish(con, {(name, "email"): org.contacts[:1]})
    add_fault(sandbox, kind="error", status=503, method="DELETE", path="/composite/sobjects")
    down = sync(session, con, "run1")
    assert down.error and "gave up after 3 attempts" in down.error
    rows = con.execute(f"select success, error_code, count(*) from {warehouse.OPS_SCHEMA}.campaign_member_history "
                       "where run_id = 'run1' group by all").fetchall()
    assert rows == [(False, campaigns.NOT_CONFIRMED, 2)]
    requests.delete(sandbox.url("/sandbox/faults"), timeout=10)
    back = sync(session, con, "run2")
    assert back.error is None and by_name(back)[name].removed == 2
    assert org.members(name) == set(org.contacts[:1])


def test_a_member_that_appears_before_the_write_is_not_added_twice(
        sandbox: Any, sf: Any, session: SalesforceSession, con: duckdb.DuckDBPyConnection,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Between crm360's read and its insert the member comes into being (as when an insert went
    through and only its answer was lost): Salesforce answers DUPLICATE_VALUE, crm360 looks the member
    up and records it, and the next run sends nothing."""
    org = Org(sandbox, sf, contacts=2)
    c = org.contacts
    name = org.name("Lifecycle - Win-back")
    campaign_id = make_id("701", 9_000_000 + next(_numbers))
    seed(sandbox, "Campaign", [{"Id": campaign_id, "Name": name, "Type": "Email", "IsActive": True}])
    publish(con, {(name, "email"): c})
    read = campaigns.read_members

    def read_then_appear(*args: Any, **kwargs: Any) -> Any:
        members = read(*args, **kwargs)
        sf.CampaignMember.create({"CampaignId": campaign_id, "ContactId": c[1], "Status": "Sent"})
        return members

    monkeypatch.setattr(campaigns, "read_members", read_then_appear)
    result = sync(session, con, "run1")
    monkeypatch.undo()
    assert by_name(result)[name].added == 2 and by_name(result)[name].failed == 0
    member_id = sf.query(f"SELECT Id FROM CampaignMember WHERE ContactId = '{c[1]}'")["records"][0]["Id"]
    assert con.execute(f"select error_code, member_id from {warehouse.OPS_SCHEMA}.campaign_member_history "
                       "where record_id = ?", [c[1]]).fetchall() == [("DUPLICATE_VALUE", member_id)]
    assert con.execute(f"select member_id from {warehouse.OPS_SCHEMA}.campaign_member_state where record_id = ?",
                       [c[1]]).fetchone() == (member_id,)
    count_writes(sandbox)
    again = sync(session, con, "run2")
    assert write_calls(sandbox) == 0 and again.as_dict()["unchanged"] == 2
    assert org.members(name) == set(c)


def test_a_dry_run_reads_and_plans_but_writes_nothing(
        sandbox: Any, sf: Any, session: SalesforceSession, con: duckdb.DuckDBPyConnection) -> None:
    org = Org(sandbox, sf, contacts=3)
    c = org.contacts
    new, existing = org.name("RFM - Champions"), org.name("RFM - Loyal customers")
    existing_id = make_id("701", 9_000_000 + next(_numbers))
    seed(sandbox, "Campaign", [{"Id": existing_id, "Name": existing, "Type": "Email", "IsActive": True}])
    seed(sandbox, "CampaignMember", [{"Id": make_id("00v", 9_000_000 + next(_numbers)), "CampaignId": existing_id,
                                      "ContactId": c[0]}])
    publish(con, {(new, "email"): c, (existing, "email"): c[:2]})
    before = requests.get(sandbox.url("/sandbox/stats"), timeout=10).json()
    count_writes(sandbox)
    plan = sync(session, con, "dry", write=False)
    after = requests.get(sandbox.url("/sandbox/stats"), timeout=10).json()
    assert write_calls(sandbox) == 0
    assert after["objects"]["Campaign"] == before["objects"]["Campaign"]
    assert after["objects"]["CampaignMember"] == before["objects"]["CampaignMember"]
    info = plan.as_dict()
    assert (info["mode"], info["to_create"], info["created"], info["to_add"], info["added"]) == ("planned", 1, 0, 4, 0)
    assert by_name(plan)[existing].unchanged == 1 and by_name(plan)[new].status == "to_create"
    ops = warehouse.OPS_SCHEMA
    assert con.execute(f"select (select count(*) from {ops}.campaign_member_history), "
                       f"(select count(*) from {ops}.campaign_member_state), "
                       f"(select count(*) from {ops}.campaign_state)").fetchone() == (0, 0, 0)
    assert con.execute(f"select campaign_name, status, to_add from {ops}.campaign_sync_summary where mode = 'planned' "
                       "order by campaign_name").fetchall() == [(new, "to_create", 3), (existing, "existing", 1)]


def test_without_create_missing_a_missing_campaign_is_named_and_nothing_is_sent(
        sandbox: Any, sf: Any, session: SalesforceSession, con: duckdb.DuckDBPyConnection,
        caplog: pytest.LogCaptureFixture) -> None:
    org = Org(sandbox, sf, contacts=2)
    name = org.name("Behaviour - First order offer")
    publish(con, {(name, "email"): org.contacts})
    count_writes(sandbox)
    result = sync(session, con, "run1", campaign_map=CampaignMap(create_missing=False))
    assert write_calls(sandbox) == 0
    outcome = by_name(result)[name]
    assert outcome.status == "missing" and result.not_sent == 2
    assert f"no Campaign named {name!r}" in outcome.message and "create_missing: true" in outcome.message
    assert any(name in r.getMessage() and "create it" in r.getMessage() for r in caplog.records)
    assert sf.query(f"SELECT COUNT() FROM Campaign WHERE Name = '{name}'")["totalSize"] == 0


def test_removing_most_of_crm360s_members_at_once_needs_an_override(
        sandbox: Any, sf: Any, session: SalesforceSession, con: duckdb.DuckDBPyConnection) -> None:
    from crm360.activation.push import PushRefused

    org = Org(sandbox, sf, contacts=6)
    winback = org.name("Lifecycle - Win-back")
    publish(con, {(winback, "email"): org.contacts})
    sync(session, con, "run1")
    publish(con, {(winback, "email"): org.contacts[:1]})  # five of six leave at once: a broken model?
    with pytest.raises(PushRefused, match="5 of the 6 campaign members crm360 added"):
        campaigns.sync_campaigns(session, con, CREATE, run_id="run2", ds="2026-11-21", write=True, options=FAST,
                                 max_remove_share=0.5)
    assert org.members(winback) == set(org.contacts)
    done = campaigns.sync_campaigns(session, con, CREATE, run_id="run3", ds="2026-11-21", write=True, options=FAST,
                                    max_remove_share=0.5, allow_large_removal=True)
    assert done.as_dict()["removed"] == 5 and org.members(winback) == set(org.contacts[:1])
