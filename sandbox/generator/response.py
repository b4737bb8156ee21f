"""The market's response to crm360's campaigns, with a known (planted) lift: ground truth for
measuring campaign lift.

After crm360 has pushed segment members into their Salesforce Campaigns, `simulate` plays the
market for one day, writing through the sandbox org's own API (so SystemModstamp is set and
crm360's next extract lands everything):

* members of a planned segment's campaign respond at `response_rate`: one CampaignMember of the
  person is set to Status 'Responded' (the org derives HasResponded);
* members buy at `base_rate * (1 + lift)` and the segment's holdouts (who got no campaign and keep
  buying as before) at `base_rate`: a buyer gets one Closed Won Opportunity on their Contact (and
  its Account), created at `at`, CloseDate the day of `at`; a member's carries the CampaignId.

Who counts. The population of a segment (members and holdouts, as people with their Salesforce
records) is an input: the org knows who is a CampaignMember, but only crm360's warehouse knows who
was held out (`marts.customer_segments.is_holdout`). A person is a member when one of their records
is a member of the campaign, a holdout when the population says so and they are not a member.
People with no Contact are left out on both sides (an Opportunity belongs to a Contact and an
Account), as are sendable people crm360 did not reach (consent): they are neither arm.

Draws. `draw="exact"` (the default) gives each arm exactly round(rate x size) responders or buyers,
chosen by a seeded shuffle: the planted rates are realised up to rounding, so a measurement can be
held to a tight tolerance that tests the measurement, not sampling luck. `draw="bernoulli"` draws
each person independently (realistic noise). The same seed, population and org give the same
writes. Segments planned together must not share a person: conversion is a person's, not a
campaign's, so overlapping arms would mix their lifts (plan one exclusivity group at a time).

The ground truth (`truth`, also written to `out` as JSON) holds the planted rates and what was
realised: per segment, members, holdouts, responders, buyers in each arm and the realised lift.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

COLLECTION_SIZE = 200
DRAWS = ("exact", "bernoulli")


@dataclass(frozen=True)
class SegmentPlan:
    """What the market does for one segment's campaign."""

    segment_name: str
    campaign_name: str
    response_rate: float
    base_rate: float  # holdouts' conversion, and members' without the campaign
    lift: float  # members convert at base_rate * (1 + lift)

    def __post_init__(self) -> None:
        for name in ("response_rate", "base_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"segment {self.segment_name}: {name} must be in [0, 1], got {value}")
        if not 0.0 <= self.member_rate <= 1.0:
            raise ValueError(f"segment {self.segment_name}: base_rate x (1 + lift) = {self.member_rate:.3f} is not "
                             "a probability; lower the base rate or the lift")

    @property
    def member_rate(self) -> float:
        return self.base_rate * (1.0 + self.lift)


@dataclass(frozen=True)
class Person:
    """One person of a segment's population: their Salesforce records and whether crm360 held them out."""

    person_id: str
    contact_ids: tuple[str, ...]
    lead_ids: tuple[str, ...] = ()
    is_holdout: bool = False


@dataclass
class SegmentTruth:
    segment_name: str
    campaign_name: str
    campaign_id: str
    response_rate: float
    base_rate: float
    lift: float
    members: int = 0
    holdouts: int = 0
    member_responses: int = 0
    member_conversions: int = 0
    holdout_conversions: int = 0

    @property
    def realised_lift(self) -> float | None:
        if not self.members or not self.holdouts or not self.holdout_conversions:
            return None
        return (self.member_conversions / self.members) / (self.holdout_conversions / self.holdouts) - 1.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "member_rate": self.base_rate * (1.0 + self.lift),
                "realised_lift": self.realised_lift}


def population_from_rows(rows: Iterable[dict[str, Any]]) -> dict[str, list[Person]]:
    """segment -> people, from rows with segment_name, person_id, record_id (Contact 003... or Lead
    00Q...) and is_holdout (true/false): the shape of `--population` CSV files."""
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (str(row["segment_name"]), str(row["person_id"]))
        entry = grouped.setdefault(key, {"contacts": set(), "leads": set(), "holdout": False})
        record = str(row.get("record_id") or "")
        if record.startswith("003"):
            entry["contacts"].add(record)
        elif record.startswith("00Q"):
            entry["leads"].add(record)
        entry["holdout"] |= str(row.get("is_holdout", "")).strip().lower() in {"true", "1", "t", "yes"}
    population: dict[str, list[Person]] = {}
    for (segment, person), entry in sorted(grouped.items()):
        population.setdefault(segment, []).append(Person(person, tuple(sorted(entry["contacts"])),
                                                         tuple(sorted(entry["leads"])), entry["holdout"]))
    return population


def _rng(seed: int, *parts: str) -> random.Random:
    digest = hashlib.sha256(":".join((str(seed), *parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def choose(people: Sequence[str], rate: float, rng: random.Random, draw: str) -> list[str]:
    """The people (sorted ids) who respond or buy: exactly round(rate x n), or each with probability rate."""
    ordered = sorted(people)
    if draw == "exact":
        return sorted(rng.sample(ordered, round(rate * len(ordered))))
    if draw == "bernoulli":
        return [p for p in ordered if rng.random() < rate]
    raise ValueError(f"draw must be one of {', '.join(DRAWS)}, got {draw!r}")


def _check_disjoint(plans: Sequence[SegmentPlan], population: dict[str, list[Person]]) -> None:
    seen: dict[str, str] = {}
    for plan in plans:
        if plan.segment_name not in population:
            raise ValueError(f"segment {plan.segment_name}: no population given (rows with this segment_name)")
        for person in population[plan.segment_name]:
            other = seen.setdefault(person.person_id, plan.segment_name)
            if other != plan.segment_name:
                raise ValueError(f"person {person.person_id} is in the populations of both {other} and "
                                 f"{plan.segment_name}: segments planned together must not overlap (plan one "
                                 "exclusivity group at a time)")


def _soql_list(ids: Iterable[str]) -> str:
    return ", ".join(f"'{i}'" for i in ids)


def _query(sf: Any, soql: str) -> list[dict[str, Any]]:
    return sf.query_all(soql)["records"]


def _write(sf: Any, method: str, records: list[dict[str, Any]]) -> list[str]:
    """sObject Collections in calls of 200, all or none per call; returns the Ids."""
    ids: list[str] = []
    for start in range(0, len(records), COLLECTION_SIZE):
        chunk = records[start:start + COLLECTION_SIZE]
        results = sf.restful("composite/sobjects", method=method, json={"allOrNone": True, "records": chunk})
        failed = [r for r in results if not r.get("success")]
        if failed:
            raise RuntimeError(f"the sandbox org refused a {method} of {len(chunk)} records: {failed[0].get('errors')}")
        ids.extend(r["id"] for r in results)
    return ids


def set_clock(server: dict[str, Any], at: dt.datetime) -> None:
    """Set the sandbox org's clock (sandbox admin API), so the writes are stamped at `at`."""
    import requests

    response = requests.post(f"{server['instance_url']}/sandbox/clock", json={"now": at.isoformat()},
                             verify=server["ca"], timeout=30)
    response.raise_for_status()


def connect(server: dict[str, Any]) -> Any:
    """simple-salesforce logged in to the sandbox org of `server` (server.json)."""
    import os

    from simple_salesforce import Salesforce

    os.environ["REQUESTS_CA_BUNDLE"] = server["ca"]  # requests lets this win over verify=
    return Salesforce(username=os.environ.get("SANDBOX_SF_USERNAME", "integration@crm360.sandbox"),
                      password=os.environ.get("SANDBOX_SF_PASSWORD", "sandbox-password"),
                      security_token=os.environ.get("SANDBOX_SF_TOKEN", "sandbox-token"), domain=server["domain"])


def simulate(server: dict[str, Any], plans: Sequence[SegmentPlan], population: dict[str, list[Person]], *,
             at: dt.datetime, seed: int = 7, draw: str = "exact", out: Path | None = None) -> dict[str, Any]:
    """Play one day of the market's response to the planned segments' campaigns (see the module
    docstring); returns the ground truth, also written to `out` when given."""
    if at.tzinfo is None:
        raise ValueError(f"at must carry a time zone (UTC), got {at.isoformat()}")
    if draw not in DRAWS:
        raise ValueError(f"draw must be one of {', '.join(DRAWS)}, got {draw!r}")
    _check_disjoint(plans, population)
    sf = connect(server)
    set_clock(server, at)

    campaign_ids: dict[str, list[str]] = {}
    for campaign in _query(sf, "SELECT Id, Name FROM Campaign"):
        campaign_ids.setdefault(campaign["Name"].lower(), []).append(campaign["Id"])
    truths: list[SegmentTruth] = []
    member_updates: list[dict[str, Any]] = []
    opportunities: list[dict[str, Any]] = []
    for plan in plans:
        found = campaign_ids.get(plan.campaign_name.lower(), [])
        if len(found) != 1:
            raise ValueError(f"segment {plan.segment_name}: the org has {len(found)} Campaigns named "
                             f"{plan.campaign_name!r} ({', '.join(found) or 'none'}); run crm360's push first")
        campaign_id = found[0]
        # the campaign's members by record: Contact or Lead Id -> CampaignMember Ids
        members_of: dict[str, list[str]] = {}
        for member in _query(sf, f"SELECT Id, ContactId, LeadId FROM CampaignMember WHERE CampaignId = "
                                 f"'{campaign_id}'"):
            for record in (member.get("ContactId"), member.get("LeadId")):
                if record:
                    members_of.setdefault(record, []).append(member["Id"])
        treated: dict[str, list[str]] = {}
        control: dict[str, Person] = {}
        people: dict[str, Person] = {}
        for person in population[plan.segment_name]:
            if not person.contact_ids:
                continue
            people[person.person_id] = person
            ids = sorted({m for r in (*person.contact_ids, *person.lead_ids) for m in members_of.get(r, [])})
            if ids:
                treated[person.person_id] = ids
            elif person.is_holdout:
                control[person.person_id] = person
        truth = SegmentTruth(plan.segment_name, plan.campaign_name, campaign_id, plan.response_rate,
                             plan.base_rate, plan.lift, members=len(treated), holdouts=len(control))
        responders = choose(list(treated), plan.response_rate, _rng(seed, plan.segment_name, "respond"), draw)
        member_updates += [{"attributes": {"type": "CampaignMember"}, "Id": treated[p][0], "Status": "Responded"}
                           for p in responders]
        member_buyers = choose(list(treated), plan.member_rate, _rng(seed, plan.segment_name, "members"), draw)
        holdout_buyers = choose(list(control), plan.base_rate, _rng(seed, plan.segment_name, "holdouts"), draw)
        amounts = _rng(seed, plan.segment_name, "amount")
        for arm, buyers in (("member", member_buyers), ("holdout", holdout_buyers)):
            for person_id in buyers:
                opportunities.append({
                    "attributes": {"type": "Opportunity"},
                    "Name": f"Response {plan.segment_name} {person_id}"[:120],
                    "ContactId": people[person_id].contact_ids[0],
                    "StageName": "Closed Won",
                    "CloseDate": at.date().isoformat(),
                    "Amount": round(amounts.lognormvariate(4.5, 0.6), 2),
                    "Type": "Existing Customer - Upgrade",
                    **({"CampaignId": campaign_id} if arm == "member" else {}),
                })
        truth.member_responses = len(responders)
        truth.member_conversions = len(member_buyers)
        truth.holdout_conversions = len(holdout_buyers)
        truths.append(truth)

    # an Opportunity belongs to the Contact's Account too
    contact_ids = sorted({o["ContactId"] for o in opportunities})
    account_of: dict[str, str | None] = {}
    for start in range(0, len(contact_ids), COLLECTION_SIZE):
        chunk = contact_ids[start:start + COLLECTION_SIZE]
        for contact in _query(sf, f"SELECT Id, AccountId FROM Contact WHERE Id IN ({_soql_list(chunk)})"):
            account_of[contact["Id"]] = contact.get("AccountId")
    for opportunity in opportunities:
        if account_of.get(opportunity["ContactId"]):
            opportunity["AccountId"] = account_of[opportunity["ContactId"]]
    _write(sf, "PATCH", member_updates)
    _write(sf, "POST", opportunities)

    result = {"at": at.isoformat(), "seed": seed, "draw": draw, "segments": [t.as_dict() for t in truths]}
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    return result

