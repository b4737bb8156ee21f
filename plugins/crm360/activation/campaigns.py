"""Campaign membership in Salesforce: each segment's target Campaign holds the people
`publish.campaign_members` says it should, and crm360 takes out only the members it put in.

One run (`sync_campaigns`):

1. Resolve the wanted campaigns' names to Campaign Ids (SOQL by Name; Salesforce compares names
   without case). A name the org does not have is created when the mapping says `create_missing`
   (active, Status In Progress, Type Email or Telemarketing by the campaign's channel); otherwise
   its members are not sent and the result and the log name the campaign. When several Campaigns
   carry the name, the one crm360 used before is taken, else none (the result says which Ids).
2. Read the current members of those campaigns and of every campaign crm360 holds members in: a
   campaign no segment sends to any more still gets crm360's members taken out.
3. Plan, in DuckDB against the warehouse: add the wanted records that are not members; remove the
   members crm360 created that are no longer wanted; leave everything else. A record that is a
   member already (a marketer added it by hand) is not added again and, not being crm360's, is
   never removed.
4. Write through `crm360.activation.writer`. Every add and remove gets a row in
   `crm360_ops.campaign_member_history`; `crm360_ops.campaign_member_state` follows the org (the
   members crm360 knows of, with their CampaignMember Id and whether crm360 created them), so a
   failed add or remove is simply planned again by the next run.

A dry run (`write=False`) reads and plans, makes no write call and stores only the plan summary
(`crm360_ops.campaign_sync_summary`, mode `planned`).

Who created a member. crm360 counts a CampaignMember as its own when its state says so, or when the
last thing crm360 knows of that record in that campaign is its own add: an add answered
DUPLICATE_VALUE (crm360 planned it because the record was not a member, so its insert went
through and only the answer was lost; the writer's retry then finds it), or an add whose call
failed without an answer (NOT_CONFIRMED). Ownership follows the CampaignMember Id, so a member
whose Lead was converted or whose Contact was merged (Salesforce re-points it) stays crm360's. The
limit of what can be known: a person adding the same record by hand in the seconds between
crm360's read and its write would be counted as crm360's.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from crm360 import warehouse
from crm360.activation.mapping import CampaignMap
from crm360.activation.writer import RecordOutcome, WriteFailed, WriteOptions, write_records
from crm360.salesforce.client import SalesforceSession, with_retries
from crm360.warehouse import OPS_SCHEMA

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

log = logging.getLogger(__name__)

CAMPAIGN_TYPES = {"email": "Email", "phone": "Telemarketing"}
CAMPAIGN_STATUS = "In Progress"
SENDABLE = ("existing", "created", "to_create")
NOT_CONFIRMED = "NOT_CONFIRMED"
# a remove answered with one of these found the member gone already (someone else, or crm360's own
# earlier attempt whose answer was lost): the member is not there, which is what was wanted
ALREADY_GONE = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"})
IDS_PER_QUERY = 200
REST_PAGE_SIZE = 2000
PENDING = "(to create) "  # stands in for the Id of a campaign a dry run would create

HISTORY_COLUMNS = ["run_id", "ds", "campaign_id", "campaign_name", "record_id", "sobject", "operation", "success",
                   "member_id", "error_code", "error"]
STATE_COLUMNS = ["campaign_id", "campaign_name", "record_id", "sobject", "member_id", "created_by_crm360", "ds",
                 "run_id"]


class CampaignSyncError(RuntimeError):
    """Campaign membership cannot be planned; the message says what is missing and what to do."""


@dataclass(frozen=True)
class Campaign:
    """A campaign crm360 sends to (or has sent to), as resolved in the org."""

    name: str
    channel: str | None
    campaign_id: str | None
    status: str  # existing | created | to_create | missing | ambiguous | create_failed | retired
    message: str | None = None

    @property
    def sendable(self) -> bool:
        return self.status in SENDABLE

    @property
    def key(self) -> str:
        """The Id the plan uses: the Campaign Id, or a stand-in for one still to be created."""
        return self.campaign_id or PENDING + self.name


@dataclass(frozen=True)
class OrgMember:
    """One (CampaignMember, record) pair read from the org; a member of a converted Lead may carry
    both its LeadId and its ContactId, and is then two pairs with one member_id."""

    campaign_id: str
    member_id: str
    record_id: str
    sobject: str  # Contact | Lead


@dataclass(frozen=True)
class MemberChange:
    campaign_id: str
    campaign_name: str
    record_id: str
    sobject: str
    member_id: str | None = None  # for a remove


@dataclass
class MembershipPlan:
    adds: list[MemberChange] = field(default_factory=list)
    removes: list[MemberChange] = field(default_factory=list)
    # members found in the org that state does not hold yet: STATE_COLUMNS[:6] without the run columns
    adopt: list[tuple[str, str, str, str, str, bool]] = field(default_factory=list)
    # state rows the org no longer holds (removed by a person, campaign deleted): (campaign_id, record_id)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    # campaign key -> wanted, to_add, to_remove, unchanged, not_ours
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class CampaignOutcome:
    campaign_name: str
    campaign_id: str | None
    channel: str | None
    status: str
    wanted: int = 0       # records publish.campaign_members wants in the campaign
    to_add: int = 0
    to_remove: int = 0
    unchanged: int = 0    # wanted and already members
    not_ours: int = 0     # members crm360 did not add and does not want: left alone
    added: int = 0
    removed: int = 0
    failed: int = 0
    message: str | None = None


@dataclass
class CampaignSyncResult:
    mode: str  # synced | planned
    campaigns: list[CampaignOutcome] = field(default_factory=list)
    api_calls: int = 0
    error: str | None = None  # Salesforce stopped answering; what was sent is stored, the rest runs next time

    def _sum(self, name: str) -> int:
        return sum(getattr(c, name) for c in self.campaigns)

    @property
    def created(self) -> int:
        return sum(c.status == "created" for c in self.campaigns)

    @property
    def not_sent(self) -> int:
        """Wanted members of campaigns that could not be used (missing, ambiguous, not created)."""
        return sum(c.wanted for c in self.campaigns if c.status in ("missing", "ambiguous", "create_failed"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "created": self.created,
            "to_create": sum(c.status == "to_create" for c in self.campaigns),
            **{name: self._sum(name) for name in ("to_add", "to_remove", "added", "removed", "unchanged",
                                                  "not_ours", "failed")},
            "not_sent": self.not_sent,
            "api_calls": self.api_calls,
            "error": self.error,
            "campaigns": [asdict(c) for c in self.campaigns],
        }


# ----------------------------------------------------------------------------- what is wanted

def wanted_campaigns(con: duckdb.DuckDBPyConnection, model: str) -> dict[str, tuple[str, int]]:
    """Campaign name -> (channel, records wanted) from the publish model."""
    try:
        rows = con.execute(f"select campaign_name, min(campaign_channel), count(*) from {model} "
                           "group by campaign_name order by campaign_name").fetchall()
    except duckdb.CatalogException as exc:
        raise CampaignSyncError(
            f"{model} is not in the warehouse: build it (dbt build --select campaign_members) before syncing "
            "campaign membership, or remove the campaigns block from the Salesforce mapping") from exc
    return {name: (channel or "email", count) for name, channel, count in rows}


def managed_campaigns(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str | None]]:
    """Campaign Id -> (name, channel) of every campaign crm360 holds members of."""
    return {campaign_id: (name, channel) for campaign_id, name, channel in con.execute(f"""
        select members.campaign_id, max(members.campaign_name), max(campaigns.channel)
        from {OPS_SCHEMA}.campaign_member_state as members
        left join {OPS_SCHEMA}.campaign_state as campaigns on members.campaign_id = campaigns.campaign_id
        group by members.campaign_id""").fetchall()}


# ----------------------------------------------------------------------------- resolving names

def resolve_campaigns(wanted: dict[str, tuple[str, int]], found: Iterable[dict[str, Any]], known_ids: set[str],
                      create_missing: bool) -> list[Campaign]:
    """Match wanted campaign names to the Campaigns the org has (records with Id, Name, Type, IsActive)."""
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in found:
        by_name[str(record["Name"]).strip().lower()].append(record)
    campaigns = []
    for name, (channel, count) in sorted(wanted.items()):
        matches = by_name.get(name.lower(), [])
        if len(matches) > 1:
            ours = [m for m in matches if m["Id"] in known_ids]
            matches = ours if len(ours) == 1 else matches
        if len(matches) == 1:
            match, notes = matches[0], []
            if match.get("IsActive") is False:
                notes.append("the Campaign is inactive in Salesforce")
            expected = CAMPAIGN_TYPES.get(channel)
            if match.get("Type") and expected and match["Type"] != expected:
                notes.append(f"its Type is {match['Type']}, not {expected} as for a {channel} campaign")
            campaigns.append(Campaign(name, channel, match["Id"], "existing", "; ".join(notes) or None))
        elif matches:
            ids = ", ".join(sorted(m["Id"] for m in matches))
            campaigns.append(Campaign(name, channel, None, "ambiguous",
                                      f"{len(matches)} Campaigns are named {name!r} ({ids}): rename or delete all "
                                      f"but one; its {count} members were not sent"))
        elif create_missing:
            campaigns.append(Campaign(name, channel, None, "to_create"))
        else:
            campaigns.append(Campaign(name, channel, None, "missing",
                                      f"Salesforce has no Campaign named {name!r}: create it, or set "
                                      f"campaigns.create_missing: true in the Salesforce mapping; its {count} "
                                      "members were not sent"))
    return campaigns


def new_campaign(campaign: Campaign) -> dict[str, Any]:
    """The Campaign record crm360 creates for a segment."""
    return {"Name": campaign.name, "IsActive": True, "Status": CAMPAIGN_STATUS,
            "Type": CAMPAIGN_TYPES.get(campaign.channel or "email", "Email")}


# ----------------------------------------------------------------------------- the plan

def _register(con: duckdb.DuckDBPyConnection, name: str, schema: list[tuple[str, pa.DataType]],
              rows: list[tuple]) -> None:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    con.register(name, pa.table({n: pa.array(list(c), type=t) for (n, t), c in zip(schema, columns, strict=True)}))


_PLAN = """
with

wanted as (
    select
        targets.campaign_id,
        targets.campaign_name,
        members.sfdc_record_id as record_id,
        members.sobject_type as sobject
    from {model} as members
    inner join crm360_plan_targets as targets on members.campaign_name = targets.campaign_name
),

wanted_status as (
    select
        wanted.*,
        exists (
            select 1 from crm360_plan_org as org
            where org.campaign_id = wanted.campaign_id and org.record_id = wanted.record_id
        ) as is_member
    from wanted
),

state as (
    select state.campaign_id, state.record_id, state.member_id, state.created_by_crm360
    from {ops}.campaign_member_state as state
    inner join crm360_plan_scope as scope on state.campaign_id = scope.campaign_id
),

-- the last add or remove crm360 attempted for each record in each campaign read
last_attempt as (
    select history.campaign_id, history.record_id, history.operation, history.success, history.member_id,
        history.error_code
    from {ops}.campaign_member_history as history
    inner join crm360_plan_scope as scope on history.campaign_id = scope.campaign_id
    qualify row_number() over (
        partition by history.campaign_id, history.record_id order by history.attempted_at desc) = 1
),

org_rows as (
    select
        org.campaign_id,
        org.member_id,
        org.record_id,
        org.sobject,
        exists (
            select 1 from wanted
            where wanted.campaign_id = org.campaign_id and wanted.record_id = org.record_id
        ) as is_wanted,
        exists (
            select 1 from state
            where state.campaign_id = org.campaign_id and state.record_id = org.record_id
                and state.member_id = org.member_id
        ) as in_state,
        coalesce(last_attempt.operation = 'add' and (
            (last_attempt.success and last_attempt.member_id = org.member_id)
            or (not last_attempt.success and last_attempt.error_code = '{not_confirmed}')
        ), false) as is_claimed
    from crm360_plan_org as org
    left join last_attempt
        on org.campaign_id = last_attempt.campaign_id and org.record_id = last_attempt.record_id
),

-- one row per CampaignMember: wanted through any of its records; crm360's when state says so
-- (matched by member Id, whatever record it points at now) or crm360's own add was the last word
members as (
    select
        org_rows.campaign_id,
        org_rows.member_id,
        bool_or(org_rows.is_wanted) as is_wanted,
        bool_or(org_rows.is_claimed) or coalesce(bool_or(state.created_by_crm360), false) as is_ours
    from org_rows
    left join state on org_rows.campaign_id = state.campaign_id and org_rows.member_id = state.member_id
    group by org_rows.campaign_id, org_rows.member_id
)
"""


def plan_membership(con: duckdb.DuckDBPyConnection, model: str, campaigns: list[Campaign],
                    org_members: list[OrgMember]) -> MembershipPlan:
    """Adds, removes and state corrections that make the campaigns hold what `model` wants.

    `campaigns`: the sendable ones receive their wanted records; every campaign with a Campaign Id
    is "read": `org_members` holds all its current members, so its state can be reconciled and
    crm360's members no longer wanted can be removed.
    """
    targets = [(c.name, c.key) for c in campaigns if c.sendable]
    scope = {c.campaign_id: c.name for c in campaigns if c.campaign_id and c.status != "missing"}
    _register(con, "crm360_plan_targets", [("campaign_name", pa.string()), ("campaign_id", pa.string())], targets)
    _register(con, "crm360_plan_scope", [("campaign_id", pa.string()), ("campaign_name", pa.string())],
              list(scope.items()))
    _register(con, "crm360_plan_org", [("campaign_id", pa.string()), ("member_id", pa.string()),
                                       ("record_id", pa.string()), ("sobject", pa.string())],
              [(m.campaign_id, m.member_id, m.record_id, m.sobject) for m in org_members if m.campaign_id in scope])
    ctes = _PLAN.format(model=model, ops=OPS_SCHEMA, not_confirmed=NOT_CONFIRMED)
    plan = MembershipPlan()
    try:
        plan.adds = [MemberChange(*row) for row in con.execute(ctes + """
            select campaign_id, campaign_name, record_id, sobject
            from wanted_status
            where not is_member
            order by campaign_id, record_id""").fetchall()]
        plan.removes = [MemberChange(*row) for row in con.execute(ctes + """
            select
                members.campaign_id,
                scope.campaign_name,
                first(org_rows.record_id order by org_rows.in_state desc, org_rows.sobject),
                first(org_rows.sobject order by org_rows.in_state desc, org_rows.sobject),
                members.member_id
            from members
            inner join org_rows on members.campaign_id = org_rows.campaign_id and members.member_id = org_rows.member_id
            inner join crm360_plan_scope as scope on members.campaign_id = scope.campaign_id
            where members.is_ours and not members.is_wanted
            group by members.campaign_id, scope.campaign_name, members.member_id
            order by members.campaign_id, members.member_id""").fetchall()]
        plan.adopt = [tuple(row) for row in con.execute(ctes + """
            select org_rows.campaign_id, scope.campaign_name, org_rows.record_id, org_rows.sobject,
                org_rows.member_id, members.is_ours
            from org_rows
            inner join members on org_rows.campaign_id = members.campaign_id and org_rows.member_id = members.member_id
            inner join crm360_plan_scope as scope on org_rows.campaign_id = scope.campaign_id
            where not org_rows.in_state and (members.is_wanted or members.is_ours)
            order by org_rows.campaign_id, org_rows.record_id""").fetchall()]
        plan.dropped = [tuple(row) for row in con.execute(ctes + """
            select state.campaign_id, state.record_id
            from state
            where not exists (
                select 1 from crm360_plan_org as org
                where org.campaign_id = state.campaign_id and org.record_id = state.record_id
                    and org.member_id = state.member_id
            )
            order by state.campaign_id, state.record_id""").fetchall()]
        counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
            ("wanted", "to_add", "to_remove", "unchanged", "not_ours"), 0))
        for key, wanted, unchanged in con.execute(ctes + """
                select campaign_id, count(*), count(*) filter (where is_member)
                from wanted_status group by campaign_id""").fetchall():
            counts[key].update(wanted=wanted, unchanged=unchanged)
        for key, not_ours in con.execute(ctes + """
                select campaign_id, count(*) from members where not is_ours and not is_wanted
                group by campaign_id""").fetchall():
            counts[key]["not_ours"] = not_ours
    finally:
        for name in ("crm360_plan_targets", "crm360_plan_scope", "crm360_plan_org"):
            con.unregister(name)
    for change in plan.adds:
        counts[change.campaign_id]["to_add"] += 1
    for change in plan.removes:
        counts[change.campaign_id]["to_remove"] += 1
    plan.counts = dict(counts)
    return plan


# ----------------------------------------------------------------------------- reading the org

def _query(session: SalesforceSession, soql: str, what: str, options: WriteOptions) -> tuple[list[dict], int]:
    """All records of a SOQL query (REST, query_all) and the API calls it took (one per page)."""

    def attempt(sf: Salesforce) -> dict[str, Any]:
        return sf.query_all(soql)

    answer = with_retries(session, what, attempt, attempts=options.attempts, wait_seconds=options.retry_wait_seconds,
                          error_type=CampaignSyncError,
                          consequence="Nothing was written; campaign membership is synced by the next run.")
    records = answer.get("records") or []
    return records, max(1, math.ceil(len(records) / REST_PAGE_SIZE))


def _soql_list(values: Iterable[str]) -> str:
    from simple_salesforce import format_soql

    return format_soql("{values}", values=list(values))


def find_campaigns(session: SalesforceSession, names: list[str], options: WriteOptions) -> tuple[list[dict], int]:
    found, calls = [], 0
    for start in range(0, len(names), IDS_PER_QUERY):
        chunk = names[start:start + IDS_PER_QUERY]
        records, used = _query(session, f"SELECT Id, Name, Type, IsActive FROM Campaign WHERE Name IN "
                                        f"{_soql_list(chunk)}", f"finding {len(chunk)} Campaigns by name", options)
        found += records
        calls += used
    return found, calls


def org_members_of(records: Iterable[dict[str, Any]]) -> list[OrgMember]:
    members = []
    for record in records:
        for column, sobject in (("ContactId", "Contact"), ("LeadId", "Lead")):
            if record.get(column):
                members.append(OrgMember(record["CampaignId"], record["Id"], record[column], sobject))
    return members


def read_members(session: SalesforceSession, campaign_ids: list[str], options: WriteOptions
                 ) -> tuple[list[OrgMember], int]:
    members, calls = [], 0
    for start in range(0, len(campaign_ids), IDS_PER_QUERY):
        chunk = campaign_ids[start:start + IDS_PER_QUERY]
        records, used = _query(session, "SELECT Id, CampaignId, ContactId, LeadId FROM CampaignMember WHERE "
                                        f"CampaignId IN {_soql_list(chunk)}",
                               f"reading the members of {len(chunk)} Campaigns", options)
        members += org_members_of(records)
        calls += used
    return members, calls


# ----------------------------------------------------------------------------- writing

class _Apply:
    """Sends a plan's adds and removes and stores every outcome as it arrives."""

    def __init__(self, session: SalesforceSession, con: duckdb.DuckDBPyConnection, campaign_map: CampaignMap,
                 run_id: str, ds: str, options: WriteOptions, result: CampaignSyncResult,
                 outcomes: dict[str, CampaignOutcome]) -> None:
        self.session, self.con, self.campaign_map = session, con, campaign_map
        self.run_id, self.ds, self.options = run_id, ds, options
        self.result, self.outcomes = result, outcomes

    def _history(self, rows: list[tuple]) -> None:
        warehouse.insert_rows(self.con, "campaign_member_history", HISTORY_COLUMNS,
                              [(self.run_id, self.ds, *row) for row in rows])

    def _state(self, rows: list[tuple]) -> None:
        warehouse.insert_rows(self.con, "campaign_member_state", STATE_COLUMNS,
                              [(*row, self.ds, self.run_id) for row in rows], replace=True)

    def _forget(self, keys: list[tuple[str, str]], column: str) -> None:
        """Delete state rows by (campaign_id, `column`) pairs."""
        if not keys:
            return
        _register(self.con, "crm360_forget", [("campaign_id", pa.string()), ("value", pa.string())], keys)
        try:
            self.con.execute(f"delete from {OPS_SCHEMA}.campaign_member_state as state using crm360_forget as f "
                             f"where state.campaign_id = f.campaign_id and state.{column} = f.value")
        finally:
            self.con.unregister("crm360_forget")

    def _count(self, change: MemberChange, name: str) -> None:
        outcome = self.outcomes.get(change.campaign_id)
        if outcome is not None:
            setattr(outcome, name, getattr(outcome, name) + 1)

    def reconcile(self, plan: MembershipPlan) -> None:
        self._forget(plan.dropped, "record_id")
        self._state(list(plan.adopt))

    def _write(self, operation: str, changes: list[MemberChange], records: list[dict[str, Any]],
               on_outcomes: Any) -> bool:
        """Send `records`; outcomes go to `on_outcomes(changes, outcomes)` per chunk. False when
        Salesforce stopped answering (the unanswered changes are stored as NOT_CONFIRMED)."""
        reported: set[int] = set()

        def on_chunk(indexes: list[int], outcomes: list[RecordOutcome]) -> None:
            reported.update(indexes)
            on_outcomes([changes[i] for i in indexes], outcomes)

        sobject = "CampaignMember"
        try:
            written = write_records(self.session, sobject, operation, records, self.options, on_chunk=on_chunk)
        except WriteFailed as exc:
            self.result.error = str(exc)
            unanswered = [i for i in range(len(changes)) if i not in reported]
            log.error("campaigns: Salesforce stopped answering (%s); %d %ss not confirmed, tried again by the next "
                      "run", exc, len(unanswered), "add" if operation == "insert" else "remove")
            on_outcomes([changes[i] for i in unanswered],
                        [RecordOutcome(False, None, NOT_CONFIRMED, str(exc)[:1000]) for _ in unanswered])
            return False
        self.result.api_calls += written.api_calls
        return True

    def add(self, changes: list[MemberChange]) -> bool:
        if not changes:
            return True
        duplicates: list[MemberChange] = []

        def store(batch: list[MemberChange], outcomes: list[RecordOutcome]) -> None:
            history, state = [], []
            for change, outcome in zip(batch, outcomes, strict=True):
                if outcome.success:
                    history.append(_history_row(change, "add", True, outcome.record_id))
                    state.append(_state_row(change, outcome.record_id, created_by_crm360=True))
                    self._count(change, "added")
                elif outcome.error_code == "DUPLICATE_VALUE":
                    duplicates.append(change)
                else:
                    history.append(_history_row(change, "add", False, None, outcome.error_code, outcome.error))
                    self._count(change, "failed")
            self._history(history)
            self._state(state)

        status = self.campaign_map.member_status
        records = [{"CampaignId": c.campaign_id, f"{c.sobject}Id": c.record_id, "Status": status} for c in changes]
        answered = self._write("insert", changes, records, store)
        if duplicates:
            self._resolve_duplicates(duplicates)
        return answered

    def _resolve_duplicates(self, changes: list[MemberChange]) -> None:
        """DUPLICATE_VALUE: the record is a member already. Look the member up; it counts as crm360's
        (see the module docstring)."""
        from simple_salesforce import format_soql

        found: dict[tuple[str, str], str] = {}
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for change in changes:
            groups[(change.campaign_id, change.sobject)].append(change.record_id)
        try:
            for (campaign_id, sobject), record_ids in groups.items():
                for start in range(0, len(record_ids), IDS_PER_QUERY):
                    chunk = record_ids[start:start + IDS_PER_QUERY]
                    soql = format_soql("SELECT Id, CampaignId, ContactId, LeadId FROM CampaignMember "
                                       f"WHERE CampaignId = {{campaign}} AND {sobject}Id IN {{records}}",
                                       campaign=campaign_id, records=chunk)
                    records, calls = _query(self.session, soql, f"looking up {len(chunk)} existing members of "
                                            f"Campaign {campaign_id}", self.options)
                    self.result.api_calls += calls
                    for member in org_members_of(records):
                        found[(member.campaign_id, member.record_id)] = member.member_id
        except CampaignSyncError as exc:
            self.result.error = str(exc)
        history, state = [], []
        for change in changes:
            member_id = found.get((change.campaign_id, change.record_id))
            if member_id:
                history.append(_history_row(change, "add", True, member_id, "DUPLICATE_VALUE",
                                            "already a member (an earlier attempt of this add went through)"))
                state.append(_state_row(change, member_id, created_by_crm360=True))
                self._count(change, "added")
            else:
                history.append(_history_row(change, "add", False, None, NOT_CONFIRMED,
                                            "Salesforce answered DUPLICATE_VALUE but the member could not be read"))
                self._count(change, "failed")
        self._history(history)
        self._state(state)

    def remove(self, changes: list[MemberChange]) -> bool:
        def store(batch: list[MemberChange], outcomes: list[RecordOutcome]) -> None:
            history, gone = [], []
            for change, outcome in zip(batch, outcomes, strict=True):
                if outcome.success or outcome.error_code in ALREADY_GONE:
                    history.append(_history_row(change, "remove", True, change.member_id,
                                                None if outcome.success else outcome.error_code,
                                                None if outcome.success else "the member was gone already"))
                    gone.append((change.campaign_id, change.member_id))
                    self._count(change, "removed")
                else:
                    history.append(_history_row(change, "remove", False, change.member_id, outcome.error_code,
                                                outcome.error))
                    self._count(change, "failed")
            self._history(history)
            self._forget(gone, "member_id")

        if not changes:
            return True
        return self._write("delete", changes, [{"Id": c.member_id} for c in changes], store)

    def not_sent(self, operation: str, changes: list[MemberChange]) -> None:
        """Changes not attempted because Salesforce stopped answering: stored as failed, planned again."""
        self._history([_history_row(c, operation, False, c.member_id, "NOT_SENT",
                                    "not sent: Salesforce stopped answering earlier in the run") for c in changes])
        for change in changes:
            self._count(change, "failed")


def _history_row(change: MemberChange, operation: str, success: bool, member_id: str | None,
                 error_code: str | None = None, error: str | None = None) -> tuple:
    return (change.campaign_id, change.campaign_name, change.record_id, change.sobject, operation, success,
            member_id, error_code, error)


def _state_row(change: MemberChange, member_id: str | None, *, created_by_crm360: bool) -> tuple:
    return (change.campaign_id, change.campaign_name, change.record_id, change.sobject, member_id, created_by_crm360)


def _create_campaigns(session: SalesforceSession, con: duckdb.DuckDBPyConnection, campaigns: list[Campaign],
                      run_id: str, ds: str, options: WriteOptions, result: CampaignSyncResult) -> list[Campaign]:
    pending = [c for c in campaigns if c.status == "to_create"]
    if not pending:
        return campaigns
    try:
        written = write_records(session, "Campaign", "insert", [new_campaign(c) for c in pending], options)
        outcomes = written.outcomes
        result.api_calls += written.api_calls
    except WriteFailed as exc:
        result.error = str(exc)
        outcomes = [RecordOutcome(False, None, NOT_CONFIRMED, str(exc)[:500]) for _ in pending]
    made: dict[str, Campaign] = {}
    for campaign, outcome in zip(pending, outcomes, strict=True):
        if outcome.success and outcome.record_id:
            made[campaign.name] = Campaign(campaign.name, campaign.channel, outcome.record_id, "created")
            log.info("campaigns: created the %s Campaign %r (%s)", campaign.channel, campaign.name, outcome.record_id)
        else:
            message = (f"crm360 could not create the Campaign {campaign.name!r}: {outcome.error_code}: "
                       f"{outcome.error}; its members were not sent (tried again by the next run)")
            made[campaign.name] = Campaign(campaign.name, campaign.channel, None, "create_failed", message)
    warehouse.insert_rows(con, "campaign_state", ["campaign_id", "campaign_name", "channel", "created_by_crm360",
                                                  "run_id", "ds"],
                          [(c.campaign_id, c.name, c.channel or "email", True, run_id, ds)
                           for c in made.values() if c.status == "created"], replace=True)
    return [made.get(c.name, c) if c.status == "to_create" else c for c in campaigns]


def _remember_found(con: duckdb.DuckDBPyConnection, campaigns: list[Campaign], run_id: str, ds: str) -> None:
    known = {row[0] for row in con.execute(f"select campaign_id from {OPS_SCHEMA}.campaign_state").fetchall()}
    warehouse.insert_rows(con, "campaign_state", ["campaign_id", "campaign_name", "channel", "created_by_crm360",
                                                  "run_id", "ds"],
                          [(c.campaign_id, c.name, c.channel or "email", False, run_id, ds) for c in campaigns
                           if c.status == "existing" and c.campaign_id not in known])


def _store_summary(con: duckdb.DuckDBPyConnection, result: CampaignSyncResult, run_id: str, ds: str) -> None:
    con.execute(f"delete from {OPS_SCHEMA}.campaign_sync_summary where run_id = ? and mode = ?", [run_id, result.mode])
    names = ["run_id", "ds", "mode", "campaign_name", "campaign_id", "channel", "status", "wanted", "to_add",
             "to_remove", "unchanged", "not_ours", "added", "removed", "failed", "message"]
    warehouse.insert_rows(con, "campaign_sync_summary", names, [
        (run_id, ds, result.mode, c.campaign_name, c.campaign_id, c.channel, c.status, c.wanted, c.to_add, c.to_remove,
         c.unchanged, c.not_ours, c.added, c.removed, c.failed, c.message) for c in result.campaigns])


# ----------------------------------------------------------------------------- the entry point

def check_removals(con: duckdb.DuckDBPyConnection, plan: MembershipPlan, max_share: float, override: bool) -> None:
    """The campaign blast radius: taking out more than `max_share` of the members crm360 manages at once
    (an emptied or broken publish model looks like this) stops before any write unless overridden."""
    managed = con.execute(f"select count(*) from {OPS_SCHEMA}.campaign_member_state where created_by_crm360"
                          ).fetchone()[0]
    if override or not managed or len(plan.removes) <= max_share * managed:
        return
    from crm360.activation.push import PushRefused

    raise PushRefused(
        f"campaign blast-radius check: {len(plan.removes)} of the {managed} campaign members crm360 added would be "
        f"removed, more than the allowed {max_share:.0%}. Nothing was added or removed. Check "
        "publish.campaign_members; if the change is intended, re-run with the DAG param allow_large_push=true "
        "or raise CRM360_PUSH_MAX_CHANGE_SHARE.")


def sync_campaigns(session: SalesforceSession, con: duckdb.DuckDBPyConnection, campaign_map: CampaignMap, *,
                   run_id: str, ds: str, write: bool, options: WriteOptions | None = None,
                   max_remove_share: float = 1.0, allow_large_removal: bool = False) -> CampaignSyncResult:
    """Make every segment campaign hold the records `publish.<campaign_map.model>` wants (see the
    module docstring). With `write=False` only plan: reads, no write call, only the plan summary stored."""
    options = options or WriteOptions()
    model = f"publish.{campaign_map.model}"
    result = CampaignSyncResult(mode="synced" if write else "planned")
    wanted = wanted_campaigns(con, model)
    managed = managed_campaigns(con)
    campaigns: list[Campaign] = []
    if wanted:
        known_ids = {row[0] for row in con.execute(f"select campaign_id from {OPS_SCHEMA}.campaign_state").fetchall()}
        found, calls = find_campaigns(session, sorted(wanted), options)
        result.api_calls += calls
        campaigns = resolve_campaigns(wanted, found, known_ids, campaign_map.create_missing)
        if write:
            _remember_found(con, campaigns, run_id, ds)
            campaigns = _create_campaigns(session, con, campaigns, run_id, ds, options, result)
    sending = {c.campaign_id for c in campaigns if c.campaign_id}
    campaigns += [Campaign(name, channel, campaign_id, "retired") for campaign_id, (name, channel)
                  in sorted(managed.items(), key=lambda item: item[1][0]) if campaign_id not in sending]
    read_ids = sorted({c.campaign_id for c in campaigns if c.campaign_id})
    org_members: list[OrgMember] = []
    if read_ids:
        org_members, calls = read_members(session, read_ids, options)
        result.api_calls += calls
    plan = plan_membership(con, model, campaigns, org_members)
    outcomes: dict[str, CampaignOutcome] = {}
    for campaign in campaigns:
        counts = plan.counts.get(campaign.key, {})
        outcome = CampaignOutcome(campaign.name, campaign.campaign_id, campaign.channel, campaign.status,
                                  message=campaign.message, **counts)
        if not campaign.sendable and campaign.name in wanted:
            outcome.wanted = wanted[campaign.name][1]
        outcomes[campaign.key] = outcome
        result.campaigns.append(outcome)
    if write:
        check_removals(con, plan, max_remove_share, allow_large_removal)
        apply = _Apply(session, con, campaign_map, run_id, ds, options, result, outcomes)
        apply.reconcile(plan)
        if not apply.add(plan.adds):
            apply.not_sent("remove", plan.removes)
        else:
            apply.remove(plan.removes)
    _store_summary(con, result, run_id, ds)
    _log(result)
    return result


def _log(result: CampaignSyncResult) -> None:
    for c in result.campaigns:
        if c.status in ("missing", "ambiguous", "create_failed"):
            log.warning("campaigns: %s", c.message)
            continue
        done = (f"{c.added} added, {c.removed} removed, {c.failed} failed" if result.mode == "synced"
                else f"would add {c.to_add}, remove {c.to_remove}")
        where = f"{c.status} {c.campaign_id}" if c.campaign_id else c.status
        log.info("campaigns: %r (%s, %s): %d wanted, %d already members, %s; %d members crm360 did not add left "
                 "alone%s", c.campaign_name, c.channel or "-", where, c.wanted, c.unchanged, done, c.not_ours,
                 f" ({c.message})" if c.message else "")
    info = result.as_dict()
    log.info("campaigns %s: %d created, %d to create, %d added, %d removed, %d unchanged, %d failed, %d not sent, "
             "%d API calls", result.mode, info["created"], info["to_create"], info["added"], info["removed"],
             info["unchanged"], info["failed"], info["not_sent"], result.api_calls)
