"""The sandbox's SOQL subset: parsing, type checks and evaluation against an in-memory store."""

from __future__ import annotations

import datetime as dt

import pytest

from sandbox.salesforce import soql
from sandbox.salesforce.schema import SCHEMA
from sandbox.salesforce.store import Store

UTC = dt.UTC
TODAY = dt.date(2026, 11, 20)


@pytest.fixture
def store() -> Store:
    s = Store()
    account, contact = SCHEMA["Account"], SCHEMA["Contact"]
    acme = s.new_id(account)
    s.put(account, {"Id": acme, "Name": "Acme", "BillingCity": "Paris", "IsDeleted": False})
    people = [
        ("Ann", "Smith", "ann@example.com", dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC), acme, 10.5),
        ("Bob", "O'Brien", "bob@example.com", dt.datetime(2024, 1, 2, 12, 0, tzinfo=UTC), None, None),
        ("Cy", "smith", None, dt.datetime(2026, 11, 19, 8, 0, tzinfo=UTC), acme, 99.0),
        (None, "Zed", "zed@example.org", dt.datetime(2026, 11, 20, 1, 0, tzinfo=UTC), None, 0.0),
    ]
    for first, last, email, created, account_id, ltv in people:
        record = {"Id": s.new_id(contact), "LastName": last, "CreatedDate": created, "IsDeleted": False}
        for key, value in {"FirstName": first, "Email": email, "AccountId": account_id,
                           "Crm360_Lifetime_Value__c": ltv}.items():
            if value is not None:
                record[key] = value
        s.put(contact, record)
    gone = s.new_id(contact)
    s.put(contact, {"Id": gone, "LastName": "Gone", "IsDeleted": True,
                    "CreatedDate": dt.datetime(2025, 1, 1, tzinfo=UTC)})
    return s


def run(store: Store, text: str, include_deleted: bool = False) -> list[dict]:
    return soql.execute(soql.parse(text, today=TODAY), store, include_deleted=include_deleted)


def last_names(store: Store, text: str, include_deleted: bool = False) -> list[str]:
    return [r["LastName"] for r in run(store, text, include_deleted)]


def test_keywords_objects_and_fields_are_case_insensitive(store: Store) -> None:
    assert last_names(store, "select lastname FROM contact where LASTNAME = 'zed'") == ["Zed"]


def test_string_equality_is_case_insensitive_and_escapes_work(store: Store) -> None:
    assert sorted(last_names(store, "SELECT LastName FROM Contact WHERE LastName = 'SMITH'")) == ["Smith", "smith"]
    assert last_names(store, r"SELECT LastName FROM Contact WHERE LastName = 'O\'Brien'") == ["O'Brien"]


@pytest.mark.parametrize(
    "literal",
    ["2024-01-02T00:00:00Z", "2024-01-02T00:00:00.000+0000", "2024-01-02T00:00:00+00:00",
     "2024-01-02T01:00:00+01:00", "2024-01-01T19:00:00-05:00"],
)
def test_datetime_literals_compare_by_instant_whatever_the_spelling(store: Store, literal: str) -> None:
    assert last_names(store, f"SELECT LastName FROM Contact WHERE CreatedDate >= {literal} ORDER BY CreatedDate") \
        == ["O'Brien", "smith", "Zed"]


def test_datetime_field_rejects_quoted_or_date_values(store: Store) -> None:
    for bad in ["'2024-01-01T00:00:00Z'", "2024-01-01"]:
        with pytest.raises(soql.SoqlError) as err:
            run(store, f"SELECT Id FROM Contact WHERE CreatedDate > {bad}")
        assert err.value.code == "INVALID_FIELD"
        assert "must be of type dateTime" in err.value.message


def test_date_literals_are_ranges(store: Store) -> None:
    assert last_names(store, "SELECT LastName FROM Contact WHERE CreatedDate = TODAY") == ["Zed"]
    assert last_names(store, "SELECT LastName FROM Contact WHERE CreatedDate = YESTERDAY") == ["smith"]
    assert last_names(store, "SELECT LastName FROM Contact WHERE CreatedDate = LAST_N_DAYS:3 ORDER BY LastName") \
        == ["smith", "Zed"]


def test_null_semantics(store: Store) -> None:
    assert last_names(store, "SELECT LastName FROM Contact WHERE Email = null") == ["smith"]
    assert len(run(store, "SELECT Id FROM Contact WHERE Email != null")) == 3
    # SOQL's != keeps rows whose value is null
    assert "smith" in last_names(store, "SELECT LastName FROM Contact WHERE Email != 'ann@example.com'")


def test_in_not_in_like_and_not(store: Store) -> None:
    assert sorted(last_names(store, "SELECT LastName FROM Contact WHERE FirstName IN ('ann', 'BOB')")) \
        == ["O'Brien", "Smith"]
    assert sorted(last_names(store, "SELECT LastName FROM Contact WHERE LastName NOT IN ('Smith', 'Zed')")) \
        == ["O'Brien"]
    assert last_names(store, "SELECT LastName FROM Contact WHERE Email LIKE '%.ORG'") == ["Zed"]
    assert sorted(last_names(store, "SELECT LastName FROM Contact WHERE NOT (LastName LIKE 's%' OR Email = null)")) \
        == ["O'Brien", "Zed"]


def test_numbers_and_boolean(store: Store) -> None:
    assert last_names(store, "SELECT LastName FROM Contact WHERE Crm360_Lifetime_Value__c > 10 "
                             "ORDER BY Crm360_Lifetime_Value__c DESC") == ["smith", "Smith"]
    assert len(run(store, "SELECT Id FROM Contact WHERE HasOptedOutOfEmail = false")) == 4


def test_and_with_or_needs_parentheses(store: Store) -> None:
    with pytest.raises(soql.SoqlError) as err:
        run(store, "SELECT Id FROM Contact WHERE LastName = 'a' AND Email = null OR FirstName = 'b'")
    assert err.value.code == "MALFORMED_QUERY"


def test_order_by_nulls_limit_offset(store: Store) -> None:
    assert [r.get("FirstName") for r in run(store, "SELECT FirstName FROM Contact ORDER BY FirstName")] \
        == [None, "Ann", "Bob", "Cy"]
    assert [r.get("FirstName") for r in run(store, "SELECT FirstName FROM Contact ORDER BY FirstName DESC")] \
        == ["Cy", "Bob", "Ann", None]
    assert [r.get("FirstName") for r in run(store, "SELECT FirstName FROM Contact "
                                                   "ORDER BY FirstName ASC NULLS LAST LIMIT 2 OFFSET 1")] \
        == ["Bob", "Cy"]


def test_relationship_fields_filter_and_serialize(store: Store) -> None:
    query = soql.parse("SELECT Id, LastName, Account.Name, Account.BillingAddress FROM Contact "
                       "WHERE Account.Name = 'acme' ORDER BY LastName", today=TODAY)
    rows = soql.execute(query, store)
    out = [soql.record_serializer(query, store, "59.0")(r) for r in rows]
    assert [o["LastName"] for o in out] == ["Smith", "smith"]
    assert out[0]["attributes"]["type"] == "Contact"
    assert out[0]["Account"]["Name"] == "Acme"
    assert out[0]["Account"]["BillingAddress"]["city"] == "Paris"


def test_soft_deleted_rows_only_with_query_all(store: Store) -> None:
    assert "Gone" not in last_names(store, "SELECT LastName FROM Contact")
    assert "Gone" in last_names(store, "SELECT LastName FROM Contact WHERE IsDeleted = true", include_deleted=True)


def test_count_and_id_lookup(store: Store) -> None:
    query = soql.parse("SELECT COUNT() FROM Contact WHERE LastName LIKE 'S%'")
    assert query.count_only
    assert len(soql.execute(query, store)) == 2
    some_id = run(store, "SELECT Id FROM Contact LIMIT 1")[0]["Id"]
    assert [r["Id"] for r in run(store, f"SELECT Id FROM Contact WHERE Id = '{some_id[:15]}'")] == [some_id]


def test_organization_is_sandbox_query_parses() -> None:
    query = soql.parse("SELECT IsSandbox FROM Organization LIMIT 1")
    assert query.obj.name == "Organization" and query.limit == 1


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("SELECT Foo FROM Contact", "INVALID_FIELD", "No such column 'Foo' on entity 'Contact'"),
        ("SELECT Id FROM Foo", "INVALID_TYPE", "sObject type 'Foo' is not supported."),
        ("SELECT Id FROM", "MALFORMED_QUERY", "unexpected token"),
        ("SELECT Id, id FROM Contact", "MALFORMED_QUERY", "duplicate field selected"),
        ("SELECT Id FROM Contact WHERE LastName = 5", "INVALID_FIELD", "must be of type string"),
        ("SELECT Id FROM Contact WHERE Id = 'nope'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field"),
        ("SELECT Nope.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Nope'"),
        ("SELECT Id FROM Contact WHERE MailingAddress = null", "INVALID_FIELD", "can not be filtered"),
    ],
)
def test_errors_carry_salesforce_codes(text: str, code: str, fragment: str) -> None:
    with pytest.raises(soql.SoqlError) as err:
        soql.parse(text)
    assert err.value.code == code
    assert fragment in err.value.message
