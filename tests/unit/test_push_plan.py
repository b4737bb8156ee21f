import duckdb
import pytest

from crm360.activation.mapping import FieldMap, PublishMap
from crm360.activation.push import PushPlan, PushRefused, canonical, check_blast_radius, plan_push
from crm360.warehouse import ensure_ops_tables

MAPPING = PublishMap("contact_attributes", "sfdc_record_id", "sobject_type", (
    FieldMap("Crm360_Lifetime_Value__c", "lifetime_value", "overwrite"),
    FieldMap("Crm360_Order_Count__c", "order_count", "overwrite"),
))


@pytest.fixture
def con():
    con = duckdb.connect()
    ensure_ops_tables(con)
    con.execute("create schema publish")
    con.execute("create table publish.contact_attributes as select * from (values "
                "('003A', 'Contact', 10.5, 1), ('003B', 'Contact', 0.0, 0)) "
                "t(sfdc_record_id, sobject_type, lifetime_value, order_count)")
    return con


def test_canonical_values_are_stable():
    assert canonical(10.50) == "10.5"
    assert canonical(3.0) == "3"
    assert canonical(None) is None
    assert canonical(float("nan")) is None


def test_first_plan_sends_everything_then_only_changes(con):
    plan = plan_push(con, MAPPING)
    assert len(plan.changes) == 2 and plan.synced_before == 0
    for change in plan.changes:
        for field, value in change.values.items():
            con.execute("insert into crm360_ops.sync_state values (?, ?, ?, ?, 'r', '2026-11-20', now())",
                        [change.sobject, change.record_id, field, value])
    assert plan_push(con, MAPPING).changes == []
    con.execute("update publish.contact_attributes set order_count = 2 where sfdc_record_id = '003A'")
    (change,) = plan_push(con, MAPPING).changes
    assert change.record_id == "003A"
    assert change.values == {"Crm360_Order_Count__c": "2"}


def test_blast_radius_stops_large_changes_unless_overridden():
    plan = PushPlan(total_records=10, synced_before=10)
    plan.changes = [object()] * 8  # type: ignore[list-item]
    with pytest.raises(PushRefused, match="8 of 10"):
        check_blast_radius(plan, 0.5, override=False)
    check_blast_radius(plan, 0.5, override=True)
