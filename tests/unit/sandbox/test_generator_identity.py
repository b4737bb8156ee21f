"""Identity mess with ground truth: the ways the same person looks different, and different people look the same."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from sandbox.generator import generate
from sandbox.generator import reference as ref
from tests.unit.sandbox.test_generator import clean, crm, inbox, read_ndjson


def truth(company: Path) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    with (company / "truth" / "identity.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            out[(row["source"], row["record_key"])].add(row["person_id"])
    return out


def persons(company: Path) -> dict[str, dict[str, str]]:
    with (company / "truth" / "persons.csv").open(encoding="utf-8", newline="") as handle:
        return {row["person_id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("messy")
    return out, generate(customers=3000, days=3, end_date="2026-11-20", seed=8, out=out)


@pytest.fixture(scope="module")
def tidy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("tidy")
    return out, generate(customers=3000, days=3, end_date="2026-11-20", seed=8, out=out, identity_mess=False)


def people_by_email(company: Path) -> dict[str, set[str]]:
    ids = truth(company)
    out: dict[str, set[str]] = defaultdict(set)
    for obj, source in (("Contact", "salesforce_contact"), ("Lead", "salesforce_lead")):
        for record in crm(company, obj):
            out[record["Email"].strip().lower()] |= ids[(source, record["Id"])]
    return out


def test_shared_addresses_are_listed_with_every_person_behind_them(messy: tuple[Path, dict[str, Any]]) -> None:
    company, manifest = messy
    by_email = people_by_email(company)
    listed = {case["email"].lower(): case for case in manifest["shared_emails"]}
    assert {case["kind"] for case in listed.values()} == {"role", "household", "placeholder"}
    for email, case in listed.items():
        assert set(case["person_ids"]) <= by_email[email]
    # every address the CRM holds for two or more people is one of the listed shared addresses
    assert {e for e, people in by_email.items() if len(people) > 1} <= set(listed)
    assert {c["email"] for c in manifest["office_inboxes"]} <= {e for e, c in listed.items() if c["kind"] == "role"}
    everyone = persons(company)
    for case in listed.values():
        if case["kind"] == "household":
            a, b = (everyone[p] for p in case["person_ids"])
            assert a["household_id"] == b["household_id"] and a["person_id"] != b["person_id"]
        if case["kind"] == "placeholder":
            assert case["email"] in ref.PLACEHOLDER_EMAILS


def test_names_addresses_and_phones_vary_for_the_same_person(messy: tuple[Path, dict[str, Any]]) -> None:
    company, _ = messy
    ids, everyone = truth(company), persons(company)
    contacts = crm(company, "Contact")
    nick = typos = moved = 0
    for c in contacts:
        (pid,) = ids[("salesforce_contact", c["Id"])]
        person = everyone[pid]
        if c["FirstName"] != person["first_name"]:
            if ref.NICKNAMES.get(person["first_name"]) == c["FirstName"]:
                nick += 1
            else:
                typos += 1
        if person["moved"] == "True" and c["MailingStreet"] == person["previous_street"]:
            moved += 1
    assert nick > 0.02 * len(contacts) and typos > 0 and moved > 0.01 * len(contacts)
    phones = [c["Phone"] for c in contacts if c["Phone"]]
    assert set(phones) & set(ref.PLACEHOLDER_PHONES)
    # the shop knows the mover at the new address
    orders = [o for _, o in clean("shopify", inbox(company, "shopify", "orders.ndjson.gz"))]
    movers = {p["email"]: p for p in everyone.values() if p["moved"] == "True"}
    shipped = [o for o in orders if o["customer"]["email"].strip().lower() in movers]
    assert shipped and all(o["shipping_address"]["address1"] == movers[o["customer"]["email"].strip().lower()]["street"]
                           for o in shipped)


def test_the_control_switch_removes_the_identity_mess(tidy: tuple[Path, dict[str, Any]]) -> None:
    company, manifest = tidy
    assert manifest["shared_emails"] == [] and manifest["office_inboxes"] == []
    ids, everyone = truth(company), persons(company)
    by_email = people_by_email(company)
    assert all(len(people) == 1 for people in by_email.values())
    for obj, source in (("Contact", "salesforce_contact"), ("Lead", "salesforce_lead")):
        for record in crm(company, obj):
            (pid,) = ids[(source, record["Id"])]
            person = everyone[pid]
            assert record["Email"] == record["Email"].strip().lower()
            assert record["FirstName"] == person["first_name"]
            assert record["MobilePhone"] is None or record["MobilePhone"] == person["phone_e164"]
    for _, order in clean("shopify", inbox(company, "shopify", "orders.ndjson.gz")):
        assert order["email"] == order["email"].strip().lower()
        assert order["customer"]["first_name"] == everyone[next(iter(ids[("shopify_customer",
                                                                          str(order["customer"]["id"]))]))][
            "first_name"]


def test_every_source_record_maps_to_exactly_one_person(messy: tuple[Path, dict[str, Any]]) -> None:
    company, manifest = messy
    ids = truth(company)
    for obj, source in (("Contact", "salesforce_contact"), ("Lead", "salesforce_lead")):
        for record in crm(company, obj):
            assert len(ids[(source, record["Id"])]) == 1
        for record in read_ndjson(company / "crm" / "history" / f"{obj}.ndjson.gz"):
            assert len(ids[(source, record["Id"])]) == 1
    for _, msg in clean("segment", inbox(company, "segment", "events.ndjson.gz")):
        assert len(ids[("segment_anonymous", msg["anonymousId"])]) == 1
    # an email address maps to more than one person only where the manifest says it is shared
    shared = {c["email"].strip().lower() for c in manifest["shared_emails"]}
    for (source, key), people in ids.items():
        if source == "sendgrid_email" and len(people) > 1:
            assert key.strip().lower() in shared, key
    assert json.loads((company / "manifest.json").read_text()) == manifest
