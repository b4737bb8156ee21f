"""The push plan: what crm360 would send to Salesforce, decided in the warehouse against what
Salesforce acknowledged last (crm360_ops.sync_state) and, for fields people may own, the values
the CRM holds now (the newest landed version of each record)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crm360.activation.mapping import FieldMap, FieldType, MappingError, PublishMap, parse_mapping
from crm360.activation.push import (
    PushPlan,
    PushRefused,
    check_blast_radius,
    plan_push,
)
from crm360.warehouse import ensure_ops_tables

LTV = FieldMap("Crm360_Lifetime_Value__c", "lifetime_value", "overwrite", FieldType.parse("currency(16,2)"),
               null_overwrites=True)
ORDERS = FieldMap("Crm360_Order_Count__c", "order_count", "overwrite", FieldType.parse("number(18,0)"))
MAPPING = PublishMap("contact_attributes", "sfdc_record_id", "sobject_type", (LTV, ORDERS))


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_ops_tables(con)
    con.execute("create schema publish")
    con.execute("create table publish.contact_attributes as select * from (values "
                "('003A', 'Contact', 10.5, 1, 'email'), ('003B', 'Contact', 0.0, 0, null)) "
                "t(sfdc_record_id, sobject_type, lifetime_value, order_count, preferred_channel)")
    return con


def acknowledge(con: duckdb.DuckDBPyConnection, plan: PushPlan, ds: str = "2026-11-20") -> None:
    """What the push stores when Salesforce accepted every change."""
    for change in plan.changes:
        old = con.execute("select field_values from crm360_ops.sync_state where sobject = ? and record_id = ?",
                          [change.sobject, change.record_id]).fetchone()
        values = {**(json.loads(old[0]) if old else {}), **change.values}
        con.execute("insert or replace into crm360_ops.sync_state values (?, ?, ?, 'r', ?, now())",
                    [change.sobject, change.record_id, json.dumps(values), ds])


def test_first_plan_sends_everything_then_only_changes(con: duckdb.DuckDBPyConnection) -> None:
    plan = plan_push(con, MAPPING)
    assert len(plan.changes) == 2 and plan.synced_before == 0
    # numbers go out rounded to the field's scale
    assert plan.changes[0].values == {"Crm360_Lifetime_Value__c": "10.50", "Crm360_Order_Count__c": "1"}
    acknowledge(con, plan)
    again = plan_push(con, MAPPING)
    assert again.changes == [] and again.synced_before == 2 and again.unchanged == 2
    con.execute("update publish.contact_attributes set order_count = 2 where sfdc_record_id = '003A'")
    (change,) = plan_push(con, MAPPING).changes
    assert (change.record_id, change.values) == ("003A", {"Crm360_Order_Count__c": "2"})


def test_noise_below_the_fields_scale_is_not_a_change(con: duckdb.DuckDBPyConnection) -> None:
    acknowledge(con, plan_push(con, MAPPING))
    con.execute("update publish.contact_attributes set lifetime_value = 10.5000001 where sfdc_record_id = '003A'")
    assert plan_push(con, MAPPING).changes == []


def test_nulls_clear_a_value_only_where_the_mapping_allows(con: duckdb.DuckDBPyConnection) -> None:
    acknowledge(con, plan_push(con, MAPPING))
    con.execute("update publish.contact_attributes set lifetime_value = null, order_count = null "
                "where sfdc_record_id = '003A'")
    plan = plan_push(con, MAPPING)
    (change,) = plan.changes
    assert change.values == {"Crm360_Lifetime_Value__c": None}  # order count: null_overwrites is false
    assert plan.actions[("Contact", "Crm360_Order_Count__c", "null_not_sent")] == 1


def test_records_no_longer_published_are_left_or_cleared(con: duckdb.DuckDBPyConnection) -> None:
    acknowledge(con, plan_push(con, MAPPING))
    con.execute("delete from publish.contact_attributes where sfdc_record_id = '003B'")
    plan = plan_push(con, MAPPING)
    assert plan.changes == [] and plan.removals == 1
    clearing = PublishMap(**{**MAPPING.__dict__, "on_removed": "clear"})
    (change,) = plan_push(con, clearing).changes
    assert (change.record_id, change.operation) == ("003B", "clear")
    assert change.values == {"Crm360_Lifetime_Value__c": None, "Crm360_Order_Count__c": None}


def land(root: Path, ds: str, rows: list[dict]) -> None:
    folder = root / "salesforce" / "contact" / f"ds={ds}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-00000.parquet")


CHANNEL = FieldMap("Crm360_Preferred_Channel__c", "preferred_channel", "respect_edits", FieldType.parse("text(40)"))


def test_respect_edits_leaves_a_value_a_person_changed(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    mapping = PublishMap("contact_attributes", "sfdc_record_id", "sobject_type", (ORDERS, CHANNEL), ("Contact",))
    land(tmp_path, "2026-11-20", [{"Id": "003A", "SystemModstamp": "2026-11-20T01:00:00Z",
                                   "Crm360_Preferred_Channel__c": None}])
    first = plan_push(con, mapping, landing_root=tmp_path, ds="2026-11-20")
    assert {c.record_id: c.values["Crm360_Preferred_Channel__c"] for c in first.changes
            if "Crm360_Preferred_Channel__c" in c.values} == {"003A": "email"}
    acknowledge(con, first, ds="2026-11-20")
    # next day: the push echo carries crm360's value; a rep then changes it to phone the day after
    land(tmp_path, "2026-11-21", [{"Id": "003A", "SystemModstamp": "2026-11-21T00:10:00Z",
                                   "Crm360_Preferred_Channel__c": "email"}])
    con.execute("update publish.contact_attributes set preferred_channel = 'web' where sfdc_record_id = '003A'")
    (change,) = plan_push(con, mapping, landing_root=tmp_path, ds="2026-11-21").changes
    assert change.values == {"Crm360_Preferred_Channel__c": "web"}  # not edited: crm360 still owns it
    acknowledge(con, plan_push(con, mapping, landing_root=tmp_path, ds="2026-11-21"), ds="2026-11-21")
    land(tmp_path, "2026-11-22", [{"Id": "003A", "SystemModstamp": "2026-11-22T09:00:00Z",
                                   "Crm360_Preferred_Channel__c": "phone"}])
    con.execute("update publish.contact_attributes set preferred_channel = 'email' where sfdc_record_id = '003A'")
    plan = plan_push(con, mapping, landing_root=tmp_path, ds="2026-11-22")
    assert [c for c in plan.changes if "Crm360_Preferred_Channel__c" in c.values] == []
    assert plan.actions[("Contact", "Crm360_Preferred_Channel__c", "left_alone_edited")] == 1


def test_respect_edits_does_not_mistake_a_version_landed_before_the_write(con: duckdb.DuckDBPyConnection,
                                                                         tmp_path: Path) -> None:
    mapping = PublishMap("contact_attributes", "sfdc_record_id", "sobject_type", (CHANNEL,), ("Contact",))
    land(tmp_path, "2026-11-20", [{"Id": "003A", "SystemModstamp": "2026-11-20T01:00:00Z",
                                   "Crm360_Preferred_Channel__c": None}])
    acknowledge(con, plan_push(con, mapping, landing_root=tmp_path, ds="2026-11-20"), ds="2026-11-20")
    con.execute("update publish.contact_attributes set preferred_channel = 'web' where sfdc_record_id = '003A'")
    # same day again: the landed version is older than crm360's write, so it says nothing about edits
    (change,) = plan_push(con, mapping, landing_root=tmp_path, ds="2026-11-20").changes
    assert change.values == {"Crm360_Preferred_Channel__c": "web"}


def test_fill_empty_writes_only_into_an_empty_field(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    fill = FieldMap("Crm360_Preferred_Channel__c", "preferred_channel", "fill_empty", FieldType.parse("text(40)"))
    mapping = PublishMap("contact_attributes", "sfdc_record_id", "sobject_type", (fill,), ("Contact",))
    con.execute("update publish.contact_attributes set preferred_channel = 'email'")
    land(tmp_path, "2026-11-20", [
        {"Id": "003A", "SystemModstamp": "2026-11-20T01:00:00Z", "Crm360_Preferred_Channel__c": "phone"},
        {"Id": "003B", "SystemModstamp": "2026-11-20T01:00:00Z", "Crm360_Preferred_Channel__c": None}])
    plan = plan_push(con, mapping, landing_root=tmp_path, ds="2026-11-20")
    assert [c.record_id for c in plan.changes] == ["003B"]
    acknowledge(con, plan, ds="2026-11-20")
    con.execute("update publish.contact_attributes set preferred_channel = 'web'")
    assert plan_push(con, mapping, landing_root=tmp_path, ds="2026-11-21").changes == []  # filled once


def test_a_resolved_dead_letter_is_not_sent_again_until_its_values_change(con: duckdb.DuckDBPyConnection) -> None:
    plan = plan_push(con, MAPPING)
    bad = next(c for c in plan.changes if c.record_id == "003B")
    con.execute("insert into crm360_ops.sync_dead_letters values ('Contact', '003B', 'update', ?, "
                "'FIELD_CUSTOM_VALIDATION_EXCEPTION', 'no', 3, 'r1', '2026-11-18', 'r3', '2026-11-20', 'resolved', "
                "'the rep fixes it by hand', now())", [json.dumps(bad.values, sort_keys=True)])
    again = plan_push(con, MAPPING)
    assert [c.record_id for c in again.changes] == ["003A"] and again.resolved_skipped == 1
    con.execute("update publish.contact_attributes set order_count = 5 where sfdc_record_id = '003B'")
    assert {c.record_id for c in plan_push(con, MAPPING).changes} == {"003A", "003B"}


def test_plan_summary_counts_per_object_and_field(con: duckdb.DuckDBPyConnection) -> None:
    summary = plan_push(con, MAPPING).summary()
    assert summary["updates"] == 2 and summary["unchanged"] == 0 and summary["creates"] == 0
    assert summary["objects"]["Contact"]["fields"]["Crm360_Order_Count__c"] == {"update": 2}
    assert [s["record_id"] for s in summary["sample"]] == ["003A", "003B"]


def test_blast_radius_stops_large_changes_unless_overridden() -> None:
    plan = PushPlan(total_records=10, synced_before=10)
    plan.changes = [object()] * 8  # type: ignore[list-item]
    with pytest.raises(PushRefused, match="8 of 10"):
        check_blast_radius(plan, 0.5, override=False)
    check_blast_radius(plan, 0.5, override=True)


@pytest.mark.parametrize(("document", "message"), [
    ({"publish": [{"model": "m", "key": "k", "sobject_column": "s",
                   "fields": {"F__c": {"column": "c", "ownership": "mine"}}}]}, "ownership 'mine'"),
    ({"publish": [{"model": "m", "key": "k", "sobject_column": "s",
                   "fields": {"F__c": {"column": "c", "type": "string"}}}]}, "F__c: type 'string'"),
    ({"publish": [{"model": "m", "key": "k", "sobject_column": "s", "on_removed": "delete",
                   "fields": {"F__c": {"column": "c"}}}]}, "on_removed 'delete'"),
    ({"publish": [{"model": "m", "key": "k", "sobject_column": "s",
                   "fields": {"F__c": {"column": "c", "null_overwrites": "yes"}}}]}, "null_overwrites must be"),
])
def test_a_bad_mapping_names_the_entry(document: dict, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        parse_mapping(document, Path("mapping.yml"))


def test_creation_models_plan_one_record_per_key_once(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create table publish.new_leads as select * from (values "
                "('cus_1', 'Ng', 'a@example.org'), ('cus_2', null, 'b@example.org')) t(customer_id, last_name, email)")
    mapping = PublishMap("new_leads", "customer_id", "", (
        FieldMap("LastName", "last_name", type=FieldType.parse("text(80)")),
        FieldMap("Email", "email", type=FieldType.parse("email"))), ("Lead",), create="Lead", create_records=True)
    plan = plan_push(con, mapping)
    assert [(c.operation, c.record_id, c.values) for c in plan.changes] == [
        ("create", "cus_1", {"LastName": "Ng", "Email": "a@example.org"}),
        ("create", "cus_2", {"Email": "b@example.org"})]  # a null is not sent
    assert plan.summary()["creates"] == 2 and plan.unchanged == 0
    con.execute("insert into crm360_ops.sync_created values ('new_leads', 'cus_1', 'Lead', '00Q1', 'r', "
                "'2026-11-20', now())")
    again = plan_push(con, mapping)
    assert [c.record_id for c in again.changes] == ["cus_2"]
    assert again.actions[("Lead", "*", "already_created")] == 1


def test_create_records_needs_the_object_to_create() -> None:
    with pytest.raises(MappingError, match="create_records needs 'create: <Object>'"):
        parse_mapping({"publish": [{"model": "m", "key": "k", "sobject_column": "s", "create_records": True,
                                    "fields": {"F__c": {"column": "c"}}}]}, Path("mapping.yml"))
