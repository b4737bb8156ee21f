"""The campaign membership plan on an in-memory warehouse: what crm360 adds, removes and leaves alone,
and how it decides which CampaignMembers are its own."""

from __future__ import annotations

import json

import duckdb
import pytest

from crm360 import warehouse
from crm360.activation import campaigns
from crm360.activation.campaigns import Campaign, CampaignOutcome, CampaignSyncResult, OrgMember

MODEL = "publish.campaign_members"
WELCOME = Campaign("Welcome", "email", "701W", "existing")
CALLS = Campaign("Call them", "phone", "701C", "existing")


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    warehouse.ensure_ops_tables(con)
    con.execute("create schema publish")
    con.execute("create table publish.campaign_members (campaign_name varchar, campaign_channel varchar, "
                "segment_name varchar, sfdc_record_id varchar, sobject_type varchar, customer_id varchar)")
    return con


def want(con: duckdb.DuckDBPyConnection, campaign: str, *records: str, channel: str = "email") -> None:
    for record in records:
        sobject = "Lead" if record.startswith("00Q") else "Contact"
        con.execute("insert into publish.campaign_members values (?, ?, 'seg', ?, ?, ?)",
                    [campaign, channel, record, sobject, f"cus_{record}"])


def state(con: duckdb.DuckDBPyConnection, campaign: Campaign, record: str, member: str, *, ours: bool) -> None:
    warehouse.insert_rows(con, "campaign_member_state", campaigns.STATE_COLUMNS, [
        (campaign.campaign_id, campaign.name, record, "Lead" if record.startswith("00Q") else "Contact", member, ours,
         "2026-11-19", "run1")])


def history(con: duckdb.DuckDBPyConnection, campaign: Campaign, record: str, *, success: bool,
            member: str | None = None, code: str | None = None, operation: str = "add") -> None:
    warehouse.insert_rows(con, "campaign_member_history", campaigns.HISTORY_COLUMNS, [
        ("run1", "2026-11-19", campaign.campaign_id, campaign.name, record, "Contact", operation, success, member, code,
         None)])


def member(campaign: Campaign, member_id: str, record: str) -> OrgMember:
    return OrgMember(campaign.campaign_id, member_id, record, "Lead" if record.startswith("00Q") else "Contact")


def adds(plan: campaigns.MembershipPlan) -> set[tuple[str, str]]:
    return {(c.campaign_id, c.record_id) for c in plan.adds}


def removes(plan: campaigns.MembershipPlan) -> set[tuple[str, str]]:
    return {(c.campaign_id, c.member_id) for c in plan.removes}


def test_adds_the_missing_records_and_never_re_adds_a_member(con: duckdb.DuckDBPyConnection) -> None:
    want(con, "Welcome", "003A", "003B", "00QC")
    plan = campaigns.plan_membership(con, MODEL, [WELCOME], [member(WELCOME, "00vA", "003A")])
    assert adds(plan) == {("701W", "003B"), ("701W", "00QC")}
    assert {c.record_id: c.sobject for c in plan.adds} == {"003B": "Contact", "00QC": "Lead"}
    assert plan.removes == []
    # the member found in the org (a marketer added it) is recorded as not crm360's
    assert plan.adopt == [("701W", "Welcome", "003A", "Contact", "00vA", False)]
    assert plan.counts["701W"] == {"wanted": 3, "to_add": 2, "to_remove": 0, "unchanged": 1, "not_ours": 0}


def test_removes_only_the_members_crm360_created(con: duckdb.DuckDBPyConnection) -> None:
    want(con, "Welcome", "003A")
    state(con, WELCOME, "003A", "00vA", ours=True)
    state(con, WELCOME, "003B", "00vB", ours=True)   # left the segment
    state(con, WELCOME, "003C", "00vC", ours=False)  # added by hand, wanted once, no longer
    org = [member(WELCOME, "00vA", "003A"), member(WELCOME, "00vB", "003B"), member(WELCOME, "00vC", "003C"),
           member(WELCOME, "00vD", "003D")]          # added by hand, never crm360's business
    plan = campaigns.plan_membership(con, MODEL, [WELCOME], org)
    assert plan.adds == []
    assert removes(plan) == {("701W", "00vB")}
    assert plan.removes[0].record_id == "003B"
    assert plan.adopt == [] and plan.dropped == []
    assert plan.counts["701W"] == {"wanted": 1, "to_add": 0, "to_remove": 1, "unchanged": 1, "not_ours": 2}


def test_a_member_added_by_hand_stays_when_its_person_leaves_the_segment(con: duckdb.DuckDBPyConnection) -> None:
    want(con, "Welcome", "003A")
    first = campaigns.plan_membership(con, MODEL, [WELCOME], [member(WELCOME, "00vA", "003A")])
    warehouse.insert_rows(con, "campaign_member_state", campaigns.STATE_COLUMNS,
                          [(*row, "2026-11-19", "run1") for row in first.adopt])
    con.execute("delete from publish.campaign_members")
    later = campaigns.plan_membership(con, MODEL, [WELCOME], [member(WELCOME, "00vA", "003A")])
    assert later.removes == [] and later.adds == []
    assert later.counts["701W"]["not_ours"] == 1


def test_a_campaign_no_segment_sends_to_loses_only_crm360s_members(con: duckdb.DuckDBPyConnection) -> None:
    retired = Campaign("Old promo", "email", "701O", "retired")
    state(con, retired, "003A", "00vA", ours=True)
    state(con, retired, "003B", "00vB", ours=False)
    plan = campaigns.plan_membership(con, MODEL, [retired], [member(retired, "00vA", "003A"),
                                                             member(retired, "00vB", "003B")])
    assert removes(plan) == {("701O", "00vA")} and plan.adds == []
    assert plan.counts["701O"]["not_ours"] == 1


def test_an_add_whose_answer_was_lost_is_crm360s(con: duckdb.DuckDBPyConnection) -> None:
    # the call failed without an answer, but Salesforce had created the member
    history(con, WELCOME, "003A", success=False, code=campaigns.NOT_CONFIRMED)
    history(con, WELCOME, "003B", success=False, code=campaigns.NOT_CONFIRMED)
    want(con, "Welcome", "003A")
    plan = campaigns.plan_membership(con, MODEL, [WELCOME], [member(WELCOME, "00vA", "003A"),
                                                             member(WELCOME, "00vB", "003B")])
    assert plan.adds == []  # not added twice
    assert removes(plan) == {("701W", "00vB")}  # crm360's, and no longer wanted
    # both recorded as crm360's before anything is sent, so a failed remove is tried again
    assert plan.adopt == [("701W", "Welcome", "003A", "Contact", "00vA", True),
                          ("701W", "Welcome", "003B", "Contact", "00vB", True)]


def test_a_member_after_a_definite_refusal_or_after_crm360s_own_removal_is_not_crm360s(
        con: duckdb.DuckDBPyConnection) -> None:
    history(con, WELCOME, "003A", success=False, code="FIELD_INTEGRITY_EXCEPTION")
    history(con, WELCOME, "003B", success=True, member="00vOLD")                 # added, then removed by crm360,
    history(con, WELCOME, "003B", success=True, member="00vOLD", operation="remove")  # then re-added by hand
    history(con, WELCOME, "003C", success=True, member="00vOLD2")                # crm360's member was replaced
    plan = campaigns.plan_membership(con, MODEL, [WELCOME], [member(WELCOME, "00vA", "003A"),
                                                             member(WELCOME, "00vB", "003B"),
                                                             member(WELCOME, "00vC", "003C")])
    assert plan.removes == []
    assert plan.counts["701W"]["not_ours"] == 3


def test_state_follows_the_org_when_a_member_disappears(con: duckdb.DuckDBPyConnection) -> None:
    want(con, "Welcome", "003A")
    state(con, WELCOME, "003A", "00vA", ours=True)  # a marketer removed it in Salesforce
    state(con, WELCOME, "003B", "00vB", ours=True)  # and this one too; no longer wanted either
    plan = campaigns.plan_membership(con, MODEL, [WELCOME], [])
    assert set(plan.dropped) == {("701W", "003A"), ("701W", "003B")}
    assert adds(plan) == {("701W", "003A")}  # wanted, so added again
    assert plan.removes == []


def test_ownership_follows_the_member_through_lead_conversion_and_merges(con: duckdb.DuckDBPyConnection) -> None:
    # crm360 added Lead 00QL; it was converted into Contact 003X, and the member now points at both
    state(con, WELCOME, "00QL", "00vL", ours=True)
    # crm360 added Contact 003LOSER; it was merged into 003MASTER, which Salesforce re-pointed the member to
    state(con, WELCOME, "003LOSER", "00vM", ours=True)
    want(con, "Welcome", "003X")
    org = [member(WELCOME, "00vL", "00QL"), member(WELCOME, "00vL", "003X"), member(WELCOME, "00vM", "003MASTER")]
    plan = campaigns.plan_membership(con, MODEL, [WELCOME], org)
    assert plan.adds == []  # 003X is a member through the converted Lead's member
    assert removes(plan) == {("701W", "00vM")}  # the merged Contact's member is still crm360's
    assert ("701W", "Welcome", "003X", "Contact", "00vL", True) in plan.adopt
    assert plan.dropped == [("701W", "003LOSER")]
    con.execute("delete from publish.campaign_members")
    gone = campaigns.plan_membership(con, MODEL, [WELCOME], org)
    assert [(c.member_id, c.record_id) for c in gone.removes if c.member_id == "00vL"] == [("00vL", "00QL")]


def test_campaigns_to_create_get_every_wanted_record_and_unusable_ones_none(con: duckdb.DuckDBPyConnection) -> None:
    want(con, "New one", "003A", "003B")
    want(con, "Nowhere", "003C")
    want(con, "Call them", "003D", channel="phone")
    new = Campaign("New one", "email", None, "to_create")
    missing = Campaign("Nowhere", "email", None, "missing", "no such Campaign")
    plan = campaigns.plan_membership(con, MODEL, [new, missing, CALLS], [member(CALLS, "00vD", "003D")])
    assert adds(plan) == {(new.key, "003A"), (new.key, "003B")}
    assert plan.counts[new.key]["to_add"] == 2
    assert missing.key not in plan.counts
    assert plan.counts["701C"] == {"wanted": 1, "to_add": 0, "to_remove": 0, "unchanged": 1, "not_ours": 0}


def test_members_of_campaigns_not_read_are_ignored(con: duckdb.DuckDBPyConnection) -> None:
    state(con, CALLS, "003A", "00vA", ours=True)
    plan = campaigns.plan_membership(con, MODEL, [WELCOME], [member(CALLS, "00vA", "003A")])
    assert plan.removes == [] and plan.dropped == [] and plan.adopt == []


# ----------------------------------------------------------------------------- resolving names

def found(campaign_id: str, name: str, campaign_type: str = "Email", active: bool = True) -> dict:
    return {"Id": campaign_id, "Name": name, "Type": campaign_type, "IsActive": active}


def test_names_resolve_without_case_and_missing_ones_are_created_or_named() -> None:
    wanted = {"RFM - Champions": ("email", 40), "RFM - Cannot lose them": ("phone", 5)}
    resolved = campaigns.resolve_campaigns(wanted, [found("701A", "rfm - champions")], set(), create_missing=True)
    assert [(c.name, c.campaign_id, c.status) for c in resolved] == [
        ("RFM - Cannot lose them", None, "to_create"), ("RFM - Champions", "701A", "existing")]
    refused = campaigns.resolve_campaigns(wanted, [], set(), create_missing=False)
    assert {c.status for c in refused} == {"missing"}
    message = next(c.message for c in refused if c.name == "RFM - Cannot lose them")
    assert "no Campaign named 'RFM - Cannot lose them'" in message
    assert "create_missing: true" in message and "5 members were not sent" in message


def test_a_name_two_campaigns_share_takes_the_one_crm360_used_else_none() -> None:
    wanted = {"Welcome": ("email", 3)}
    twins = [found("701A", "Welcome"), found("701B", "Welcome")]
    assert campaigns.resolve_campaigns(wanted, twins, {"701B"}, True)[0].campaign_id == "701B"
    ambiguous = campaigns.resolve_campaigns(wanted, twins, set(), True)[0]
    assert ambiguous.status == "ambiguous" and not ambiguous.sendable
    assert "701A, 701B" in ambiguous.message


def test_an_existing_campaign_of_another_kind_is_used_and_noted() -> None:
    resolved = campaigns.resolve_campaigns({"Call them": ("phone", 1)}, [found("701C", "Call them", "Email", False)],
                                           set(), True)[0]
    assert resolved.status == "existing"
    assert "inactive" in resolved.message and "Type is Email, not Telemarketing" in resolved.message


def test_new_campaigns_carry_their_channels_type() -> None:
    assert campaigns.new_campaign(Campaign("Call them", "phone", None, "to_create")) == {
        "Name": "Call them", "IsActive": True, "Status": "In Progress", "Type": "Telemarketing"}
    assert campaigns.new_campaign(Campaign("Welcome", "email", None, "to_create"))["Type"] == "Email"


def test_org_members_of_a_converted_lead_are_two_pairs() -> None:
    records = [{"Id": "00v1", "CampaignId": "701W", "ContactId": "003X", "LeadId": "00QL"},
               {"Id": "00v2", "CampaignId": "701W", "ContactId": None, "LeadId": "00QM"}]
    assert campaigns.org_members_of(records) == [OrgMember("701W", "00v1", "003X", "Contact"),
                                                 OrgMember("701W", "00v1", "00QL", "Lead"),
                                                 OrgMember("701W", "00v2", "00QM", "Lead")]


def test_the_result_is_json_with_totals_and_campaigns() -> None:
    result = CampaignSyncResult("synced", [
        CampaignOutcome("Welcome", "701W", "email", "created", wanted=3, to_add=3, added=2, failed=1),
        CampaignOutcome("Nowhere", None, "email", "missing", wanted=4, message="create it"),
    ], api_calls=5)
    info = json.loads(json.dumps(result.as_dict()))
    assert {k: info[k] for k in ("mode", "created", "added", "failed", "not_sent", "api_calls")} == {
        "mode": "synced", "created": 1, "added": 2, "failed": 1, "not_sent": 4, "api_calls": 5}
    assert [c["campaign_name"] for c in info["campaigns"]] == ["Welcome", "Nowhere"]


def test_without_the_publish_model_the_error_says_what_to_build() -> None:
    con = duckdb.connect()
    with pytest.raises(campaigns.CampaignSyncError, match="dbt build --select campaign_members"):
        campaigns.wanted_campaigns(con, MODEL)
