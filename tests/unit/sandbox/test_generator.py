"""The synthetic company: deterministic, Salesforce/SendGrid/Segment/Shopify-shaped, with ground truth."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from sandbox.generator import generate
from sandbox.generator.ids import KEY_PREFIX, is_sf_id

END = dt.date(2026, 11, 20)
DAYS = 3
WINDOW = [END - dt.timedelta(days=k) for k in range(DAYS - 1, -1, -1)]
SF_TS = "%Y-%m-%dT%H:%M:%S.000%z"
SENDGRID_EVENTS = {"processed", "delivered", "open", "click", "bounce", "dropped", "spamreport", "unsubscribe"}
SEGMENT_TRACKS = {"Product Viewed", "Product Added", "Cart Viewed", "Checkout Started", "Order Completed"}


# --- helpers --------------------------------------------------------------------------------------

def read_ndjson(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def crm(company: Path, obj: str) -> list[dict[str, Any]]:
    return read_ndjson(company / "crm" / f"{obj}.ndjson")


def inbox(company: Path, source: str, file: str) -> list[tuple[dt.date, dict[str, Any]]]:
    rows = []
    for day in WINDOW:
        rows += [(day, r) for r in read_ndjson(company / "inbox" / source / day.isoformat() / file)]
    return rows


def parse_iso(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"not a string: {value!r}")
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"no offset: {value!r}")
    return moment


def is_valid(source: str, row: dict[str, Any]) -> bool:
    """The rules an ingestion quarantine would apply: required fields, types, parseable timestamps."""
    try:
        if source == "sendgrid":
            return (isinstance(row.get("email"), str) and isinstance(row.get("event"), str)
                    and isinstance(row.get("sg_event_id"), str) and type(row.get("timestamp")) is int)
        if source == "segment":
            if not (isinstance(row.get("type"), str) and isinstance(row.get("messageId"), str)):
                return False
            parse_iso(row.get("timestamp"))
            return True
        if not (type(row.get("id")) is int and isinstance(row.get("total_price"), str)
                and isinstance(row.get("line_items"), list)):
            return False
        float(row["total_price"])
        parse_iso(row.get("created_at"))
        return True
    except (ValueError, TypeError):
        return False


def clean(source: str, rows: list[tuple[dt.date, dict[str, Any]]]) -> list[tuple[dt.date, dict[str, Any]]]:
    return [(d, r) for d, r in rows if is_valid(source, r)]


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("company")
    generate(customers=2000, days=DAYS, end_date=END, seed=7, out=out)
    return out


@pytest.fixture(scope="module")
def manifest(company: Path) -> dict[str, Any]:
    return json.loads((company / "manifest.json").read_text())


@pytest.fixture(scope="module")
def identity(company: Path) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    with (company / "truth" / "identity.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            out[(row["source"], row["record_key"])].add(row["person_id"])
    return out


@pytest.fixture(scope="module")
def persons(company: Path) -> dict[str, dict[str, str]]:
    with (company / "truth" / "persons.csv").open(encoding="utf-8", newline="") as handle:
        return {row["person_id"]: row for row in csv.DictReader(handle)}


# --- determinism and layout ----------------------------------------------------------------------

def test_same_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    first = generate(customers=300, days=2, end_date="2026-11-20", seed=11, out=tmp_path / "a")
    second = generate(customers=300, days=2, end_date="2026-11-20", seed=11, out=tmp_path / "b")
    assert first == second
    files_a, files_b = all_files(tmp_path / "a"), all_files(tmp_path / "b")
    assert files_a.keys() == files_b.keys()
    assert [k for k in files_a if files_a[k] != files_b[k]] == []
    other = generate(customers=300, days=2, end_date="2026-11-20", seed=12, out=tmp_path / "c")
    assert all_files(tmp_path / "c")["crm/Contact.ndjson"] != files_a["crm/Contact.ndjson"]
    assert other["arguments"]["seed"] == 12


def test_layout_and_manifest_match_the_files(company: Path, manifest: dict[str, Any]) -> None:
    assert manifest["arguments"]["customers"] == 2000
    assert manifest["date_range"]["start"] == WINDOW[0].isoformat()
    assert manifest["date_range"]["end"] == END.isoformat()
    for day in WINDOW:
        for rel in ("sendgrid/{d}/events.ndjson.gz", "segment/{d}/events.ndjson.gz",
                    "shopify/{d}/orders.ndjson.gz", "shopify/{d}/products.ndjson"):
            assert (company / "inbox" / rel.format(d=day.isoformat())).is_file()
    for rel, stats in manifest["files"].items():
        path = company / rel
        if rel.endswith(".csv"):
            with path.open(encoding="utf-8") as handle:
                assert sum(1 for _ in handle) - 1 == stats["rows"], rel
        else:
            assert len(read_ndjson(path)) == stats["rows"], rel


def test_regenerating_into_an_unrelated_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"manifest\.json"):
        generate(customers=10, days=1, end_date=END, seed=1, out=tmp_path)


# --- CRM -------------------------------------------------------------------------------------------

def test_crm_ids_are_salesforce_shaped_and_references_resolve(company: Path) -> None:
    ids: dict[str, set[str]] = {}
    for obj in KEY_PREFIX:
        rows = crm(company, obj)
        assert rows, obj
        assert all(is_sf_id(r["Id"], obj) for r in rows), obj
        ids[obj] = {r["Id"] for r in rows}
        assert len(ids[obj]) == len(rows), f"duplicate {obj} Ids"
    assert {r["AccountId"] for r in crm(company, "Contact")} <= ids["Account"]
    members = crm(company, "CampaignMember")
    assert {m["CampaignId"] for m in members} <= ids["Campaign"]
    assert all((m["ContactId"] in ids["Contact"]) != (m["LeadId"] in ids["Lead"]) for m in members)
    assert {o["AccountId"] for o in crm(company, "Opportunity")} <= ids["Account"]
    for task in crm(company, "Task"):
        assert task["WhatId"] in ids["Account"]
        assert task["WhoId"] is None or task["WhoId"] in ids["Contact"]


def test_crm_has_companies_households_and_the_documented_shares(company: Path) -> None:
    accounts = crm(company, "Account")
    types = Counter(a["Type"] for a in accounts)
    assert 100 <= sum(n for t, n in types.items() if t != "Household") <= 400
    assert types["Household"] > 0
    contacts, leads = crm(company, "Contact"), crm(company, "Lead")
    assert 0.65 * 2000 <= len(contacts) <= 0.75 * 2000
    converted = [lead for lead in leads if lead["IsConverted"]]
    contact_ids = {c["Id"] for c in contacts}
    assert converted and all(lead["ConvertedContactId"] in contact_ids and lead["ConvertedDate"]
                             for lead in converted)
    required = {"AccountId", "FirstName", "LastName", "Email", "Phone", "MobilePhone", "Birthdate",
                "GenderIdentity", "MailingStreet", "MailingCity", "MailingState", "MailingPostalCode",
                "MailingCountry", "Time_Zone__c", "HasOptedOutOfEmail", "DoNotCall", "LeadSource"}
    assert all(required <= c.keys() for c in contacts)
    opt_out = sum(c["HasOptedOutOfEmail"] for c in contacts) / len(contacts)
    assert 0.02 < opt_out < 0.09
    assert {c["MailingCountry"] for c in contacts} == {
        "United States", "United Kingdom", "Germany", "France", "Australia"}


def test_crm_timestamps_are_salesforce_shaped_and_ordered(company: Path) -> None:
    first = dt.datetime.combine(WINDOW[0], dt.time(), dt.UTC)
    end = first + dt.timedelta(days=DAYS)
    for obj in KEY_PREFIX:
        for row in crm(company, obj):
            created = dt.datetime.strptime(row["CreatedDate"], SF_TS)
            stamp = dt.datetime.strptime(row["SystemModstamp"], SF_TS)
            assert row["LastModifiedDate"] == row["SystemModstamp"]
            assert stamp >= created, row["Id"]
            assert created < end and stamp < end, row["Id"]
    contacts = crm(company, "Contact")
    created = [dt.datetime.strptime(c["CreatedDate"], SF_TS) for c in contacts]
    assert min(created) >= first - dt.timedelta(days=366)


def test_some_contacts_are_modified_on_each_generated_day(company: Path) -> None:
    contacts = crm(company, "Contact")
    per_day = Counter(c["SystemModstamp"][:10] for c in contacts)
    for day in WINDOW:
        assert 0.01 * len(contacts) <= per_day[day.isoformat()] <= 0.03 * len(contacts), day


def test_emails_are_messy_in_the_ways_identity_resolution_must_handle(company: Path) -> None:
    contacts, leads = crm(company, "Contact"), crm(company, "Lead")
    assert any(c["Email"] != c["Email"].lower() for c in contacts)
    contact_emails = {c["Email"].strip().lower(): c["Email"] for c in contacts if c["Email"]}
    duplicates = [
        lead for lead in leads
        if not lead["IsConverted"] and lead["Email"].lower() in contact_emails
        and lead["Email"] != contact_emails[lead["Email"].lower()]
    ]
    assert len(duplicates) >= 0.02 * len(contacts)
    shop_emails = [r["email"] for _, r in clean("shopify", inbox(company, "shopify", "orders.ndjson.gz"))]
    shop_emails += [r["traits"]["email"] for _, r in clean("segment", inbox(company, "segment", "events.ndjson.gz"))
                    if r["type"] == "identify"]
    assert any(e != e.strip().lower() for e in shop_emails)
    phones = {c["MobilePhone"] for c in contacts if c["MobilePhone"]}
    assert any(p.startswith("+") for p in phones) and any(not p.startswith("+") for p in phones)


def test_office_inbox_is_shared_by_two_distinct_persons(
    company: Path, manifest: dict[str, Any], identity: dict[tuple[str, str], set[str]]
) -> None:
    by_email: dict[str, set[str]] = defaultdict(set)
    for contact in crm(company, "Contact"):
        (person,) = identity[("salesforce_contact", contact["Id"])]
        by_email[contact["Email"]].add(person)
    shared = {e: p for e, p in by_email.items() if e.split("@")[0] in {"info", "sales"} and len(p) >= 2}
    assert shared, "no office inbox found"
    assert {case["email"] for case in manifest["office_inboxes"]} <= set(shared)


# --- channel exports -------------------------------------------------------------------------------

def test_sendgrid_events_have_webhook_shape(company: Path) -> None:
    rows = clean("sendgrid", inbox(company, "sendgrid", "events.ndjson.gz"))
    kinds = Counter(r["event"] for _, r in rows)
    assert {"processed", "delivered", "open", "click"} <= kinds.keys()
    assert kinds.keys() <= SENDGRID_EVENTS
    for _, r in rows:
        assert {"sg_message_id", "category", "marketing_campaign_id", "marketing_campaign_name"} <= r.keys()
        assert isinstance(r["category"], list)
        if r["event"] == "click":
            assert r["url"].startswith("https://") and r["useragent"] and r["ip"]
        if r["event"] == "open":
            assert r["useragent"] and r["ip"]
        if r["event"] == "bounce":
            assert r["reason"] and r["status"] and r["type"] in {"bounce", "blocked"}
    assert kinds["open"] < kinds["delivered"]


def test_segment_messages_follow_the_spec(company: Path) -> None:
    rows = [r for _, r in clean("segment", inbox(company, "segment", "events.ndjson.gz"))]
    types = Counter(r["type"] for r in rows)
    assert {"identify", "track", "page"} == types.keys()
    for r in rows:
        assert r["anonymousId"] and r["messageId"]
        parse_iso(r["sentAt"])
        parse_iso(r["receivedAt"])
        assert {"ip", "userAgent", "locale", "timezone", "page"} <= r["context"].keys()
        if r["type"] == "identify":
            assert "@" in r["traits"]["email"] and r["userId"]
        if r["type"] == "track":
            assert r["event"] in SEGMENT_TRACKS and isinstance(r["properties"], dict)
        if r["type"] == "page":
            assert {"name", "url", "path"} <= r["properties"].keys()
    known = {r["anonymousId"] for r in rows if r["userId"]}
    assert {r["anonymousId"] for r in rows} - known, "every visitor is identified; some should stay anonymous"
    carts = defaultdict(set)
    for r in rows:
        if r["type"] == "track" and "cart_id" in r["properties"]:
            carts[r["properties"]["cart_id"]].add(r["event"])
        if r["type"] == "track" and r["event"] == "Order Completed":
            carts[r["properties"]["checkout_id"]].add(r["event"])
    abandoned = [c for c, events in carts.items() if "Product Added" in events and "Order Completed" not in events]
    assert abandoned


def test_shopify_orders_and_catalog_have_api_shape(company: Path) -> None:
    orders = [r for _, r in clean("shopify", inbox(company, "shopify", "orders.ndjson.gz"))]
    assert len(orders) >= 10
    for o in orders:
        assert o["name"].startswith("#")
        for key in ("created_at", "updated_at", "processed_at"):
            assert parse_iso(o[key]).utcoffset() is not None
        for key in ("total_price", "subtotal_price", "total_tax"):
            assert isinstance(o[key], str) and float(o[key]) >= 0
        assert abs(float(o["subtotal_price"]) + float(o["total_tax"]) - float(o["total_price"])) < 0.011
        assert {"id", "email", "first_name", "last_name", "phone"} <= o["customer"].keys()
        assert {"city", "zip", "country_code"} <= o["shipping_address"].keys()
        for line in o["line_items"]:
            assert {"id", "product_id", "variant_id", "title", "sku", "quantity", "price"} <= line.keys()
    products = read_ndjson(company / "inbox" / "shopify" / END.isoformat() / "products.ndjson")
    assert 50 <= len(products) <= 70
    assert len({p["product_type"] for p in products}) == 8
    catalog_ids = {p["id"] for p in products}
    assert {li["product_id"] for o in orders for li in o["line_items"]} <= catalog_ids
    assert all(p["variants"] and all({"id", "sku", "price"} <= v.keys() for v in p["variants"]) for p in products)


def test_orders_link_to_segment_order_completed(company: Path) -> None:
    orders = {str(r["id"]) for _, r in clean("shopify", inbox(company, "shopify", "orders.ndjson.gz"))}
    completed = {r["properties"]["order_id"] for _, r in clean("segment", inbox(company, "segment",
                                                                                  "events.ndjson.gz"))
                 if r["type"] == "track" and r["event"] == "Order Completed"}
    assert completed and len(completed & orders) >= 0.5 * len(completed)


def test_malformed_share_is_about_as_configured(company: Path, manifest: dict[str, Any]) -> None:
    total = bad = 0
    for source, file in (("sendgrid", "events.ndjson.gz"), ("segment", "events.ndjson.gz"),
                         ("shopify", "orders.ndjson.gz")):
        rows = inbox(company, source, file)
        total += len(rows)
        bad += sum(not is_valid(source, r) for _, r in rows)
    reported = sum(v.get("malformed", 0) for v in manifest["files"].values())
    assert bad == reported
    assert 0.0025 <= bad / total <= 0.009


def test_a_higher_malformed_rate_is_respected(tmp_path: Path) -> None:
    generate(customers=300, days=2, end_date=END, seed=3, out=tmp_path, malformed_rate=0.05)
    total = bad = 0
    for day in (END - dt.timedelta(days=1), END):
        for source in ("sendgrid", "segment"):
            rows = read_ndjson(tmp_path / "inbox" / source / day.isoformat() / "events.ndjson.gz")
            total += len(rows)
            bad += sum(not is_valid(source, r) for r in rows)
    assert 0.03 <= bad / total <= 0.07


def test_duplicates_and_late_events_occur(company: Path) -> None:
    sendgrid = clean("sendgrid", inbox(company, "sendgrid", "events.ndjson.gz"))
    segment = clean("segment", inbox(company, "segment", "events.ndjson.gz"))
    assert max(Counter(r["sg_event_id"] for _, r in sendgrid).values()) == 2
    assert max(Counter(r["messageId"] for _, r in segment).values()) == 2
    late_sendgrid = [r for d, r in sendgrid if dt.datetime.fromtimestamp(r["timestamp"], dt.UTC).date() < d]
    late_segment = [r for d, r in segment if parse_iso(r["timestamp"]).date() < d]
    assert late_sendgrid and late_segment
    assert len(late_sendgrid) < 0.06 * len(sendgrid)


# --- ground truth ----------------------------------------------------------------------------------

def test_ground_truth_covers_every_record(
    company: Path, identity: dict[tuple[str, str], set[str]], persons: dict[str, dict[str, str]]
) -> None:
    assert len(persons) == 2000
    assert {p for ps in identity.values() for p in ps} <= persons.keys()
    for contact in crm(company, "Contact"):
        assert len(identity[("salesforce_contact", contact["Id"])]) == 1
    for lead in crm(company, "Lead"):
        assert len(identity[("salesforce_lead", lead["Id"])]) == 1
    for _, order in clean("shopify", inbox(company, "shopify", "orders.ndjson.gz")):
        assert len(identity[("shopify_customer", str(order["customer"]["id"]))]) == 1
    for _, msg in clean("segment", inbox(company, "segment", "events.ndjson.gz")):
        assert len(identity[("segment_anonymous", msg["anonymousId"])]) == 1
        if msg["userId"]:
            assert identity[("shopify_customer", msg["userId"])]
    for _, event in clean("sendgrid", inbox(company, "sendgrid", "events.ndjson.gz")):
        assert identity[("sendgrid_email", event["email"])]


def test_persons_carry_truth_attributes(persons: dict[str, dict[str, str]]) -> None:
    rows = list(persons.values())
    assert {r["country"] for r in rows} == {"US", "GB", "DE", "FR", "AU"}
    assert {r["time_zone"].split("/")[0] for r in rows} <= {"America", "Europe", "Australia"}
    assert any(r["gender"] == "unknown" for r in rows)
    assert all(r["phone_e164"].startswith("+") for r in rows)
    assert len({r["email"] for r in rows}) == len(rows)
    opt_out = sum(r["email_opt_out"] == "True" for r in rows) / len(rows)
    dnc = sum(r["do_not_call"] == "True" for r in rows) / len(rows)
    assert 0.03 < opt_out < 0.07 and 0.07 < dnc < 0.13
    values = sorted(float(r["median_order_value_usd"]) for r in rows)
    assert values[-len(values) // 100] > 3 * values[len(values) // 2]  # heavy tail
