"""The sandbox org's state without a server: journal and snapshot, fault rules, custom field declarations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.salesforce import custom
from sandbox.salesforce.config import SandboxConfig
from sandbox.salesforce.faults import FaultError, Faults
from sandbox.salesforce.persist import DataDirInUse, Persistence
from sandbox.salesforce.schema import SCHEMA
from sandbox.salesforce.state import SandboxState
from sandbox.salesforce.writes import Writer


@pytest.fixture(autouse=True)
def built_in_schema() -> Iterator[None]:
    """States change the shared schema (schema file, drift): put the built-in one back after each test."""
    yield
    custom.reset_schema()


def open_org(data: Path, schema_file: Path | None = None) -> SandboxState:
    return SandboxState(SandboxConfig(), persistence=Persistence(data), schema_file=schema_file)


def contacts(state: SandboxState) -> dict[str, str]:
    return {r["Id"]: r["LastName"] for r in state.store.rows(SCHEMA["Contact"])}


def test_committed_writes_come_back_after_close_and_after_a_crash(tmp_path: Path) -> None:
    state = open_org(tmp_path)
    writer = Writer(state.store, state.user_id)
    first = writer.create(SCHEMA["Contact"], {"LastName": "First"})
    state.commit()
    state.close()  # clean: compacts into the snapshot

    state = open_org(tmp_path)
    writer = Writer(state.store, state.user_id)
    second = writer.create(SCHEMA["Contact"], {"LastName": "Second"})
    writer.update(SCHEMA["Contact"], first, {"LastName": "First again"})
    state.commit()
    uncommitted = writer.create(SCHEMA["Contact"], {"LastName": "Never answered"})
    state.persistence.close()  # a crash: no compaction, the last request never committed

    state = open_org(tmp_path)
    assert contacts(state) == {first: "First again", second: "Second"}
    assert uncommitted not in contacts(state)
    # the id counter came back too: a new record does not reuse an id
    assert Writer(state.store, state.user_id).create(SCHEMA["Contact"], {"LastName": "New"}) not in {first, second}
    state.close()


def test_a_torn_last_frame_is_ignored(tmp_path: Path) -> None:
    state = open_org(tmp_path)
    kept = Writer(state.store, state.user_id).create(SCHEMA["Contact"], {"LastName": "Kept"})
    state.commit()
    Writer(state.store, state.user_id).create(SCHEMA["Contact"], {"LastName": "Torn"})
    state.commit()
    state.persistence.close()
    journal = tmp_path / "org" / "journal.bin"
    journal.write_bytes(journal.read_bytes()[:-10])  # the process died while writing the last frame

    state = open_org(tmp_path)
    assert contacts(state) == {kept: "Kept"}
    assert state.stats()["objects"]["Organization"] == state.stats()["objects"]["User"] == 1
    state.close()


def test_reset_and_schema_drift_are_journaled(tmp_path: Path) -> None:
    state = open_org(tmp_path)
    Writer(state.store, state.user_id).create(SCHEMA["Contact"], {"LastName": "Gone after reset"})
    state.commit()
    state.reset()
    state.change_schema({"op": "add_field", "object": "Contact", "field": {"name": "Score__c", "type": "double"}})
    rid = Writer(state.store, state.user_id).create(SCHEMA["Contact"], {"LastName": "S", "Score__c": 3})
    state.commit()
    state.persistence.close()
    custom.reset_schema()

    state = open_org(tmp_path)
    assert contacts(state) == {rid: "S"}
    assert state.store.get_in(SCHEMA["Contact"], rid)["Score__c"] == 3.0
    assert state.stats()["objects"]["User"] == 1  # the org and its user came back with the reset
    state.close()


def test_one_server_per_data_folder(tmp_path: Path) -> None:
    holder = Persistence(tmp_path)
    with pytest.raises(DataDirInUse, match="in use by another sandbox server"):
        Persistence(tmp_path)
    holder.close()
    Persistence(tmp_path).close()


def test_fault_rules_count_skip_and_expire() -> None:
    faults = Faults()
    faults.add({"kind": "error", "path": "/query", "method": "GET", "skip": 1, "times": 2})
    fired = [bool(faults.for_request("GET", "/services/data/v59.0/query")) for _ in range(5)]
    assert fired == [False, True, True, False, False]
    assert faults.for_request("POST", "/services/data/v59.0/query") == []


def test_probability_rules_fire_on_a_share_of_calls_and_replay_with_their_seed() -> None:
    def pattern(seed: int) -> list[bool]:
        faults = Faults()
        faults.add({"kind": "error", "probability": 0.3, "seed": seed})
        return [bool(faults.for_request("GET", "/services/data/v59.0/query")) for _ in range(400)]

    first = pattern(7)
    assert 80 <= sum(first) <= 160  # about 30 % of 400
    assert pattern(7) == first
    assert pattern(8) != first
    with pytest.raises(FaultError, match="probability"):
        Faults().add({"kind": "error", "probability": 1.5})


def test_lock_row_every_nth_and_fail_job_once() -> None:
    faults = Faults()
    faults.add({"kind": "lock_row", "object": "Contact", "every": 3})
    assert [faults.lock_row("Contact", n) for n in range(1, 7)] == [False, False, True, False, False, True]
    assert faults.lock_row("Lead", 3) is False
    faults.add({"kind": "fail_job", "jobType": "V2Query"})
    assert faults.fail_job("Contact", "V2Ingest") is None
    assert faults.fail_job("Contact", "V2Query")
    assert faults.fail_job("Contact", "V2Query") is None  # "the next job": once unless times says more


@pytest.mark.parametrize(("rule", "message"), [
    ({"kind": "boom"}, "kind must be one of"),
    ({"kind": "error", "times": -1}, "times must be"),
    ({"kind": "lock_row"}, "needs object"),
    ({"kind": "automation", "object": "Contact", "field": "Title"}, "needs value"),
])
def test_bad_fault_rules(rule: dict, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        Faults().add(rule)


def test_automation_rewrites_the_written_record() -> None:
    state = SandboxState(SandboxConfig())
    state.faults.add({"kind": "automation", "object": "Contact", "field": "Title", "value": "Set by flow",
                      "operations": ["insert"]})
    writer = Writer(state.store, state.user_id, state.faults)
    rid = writer.create(SCHEMA["Contact"], {"LastName": "A", "Title": "Mine"})
    assert state.store.get_in(SCHEMA["Contact"], rid)["Title"] == "Set by flow"
    writer.update(SCHEMA["Contact"], rid, {"Title": "Mine again"})
    assert state.store.get_in(SCHEMA["Contact"], rid)["Title"] == "Mine again"


def test_schema_file_yaml_and_json(tmp_path: Path) -> None:
    yml = tmp_path / "schema.yml"
    yml.write_text("objects:\n  Lead:\n    fields:\n      - {name: Grade__c, type: picklist, values: [A, B]}\n")
    state = SandboxState(SandboxConfig(), schema_file=yml)
    grade = SCHEMA["Lead"].field("grade__c")
    assert grade is not None and grade.picklist == ("A", "B") and grade.custom
    state.reset()  # the file's fields stay after a reset
    assert SCHEMA["Lead"].field("Grade__c") is not None
    bad = tmp_path / "schema.json"
    bad.write_text('{"Contact": {}}')
    with pytest.raises(custom.SchemaError, match="top-level 'objects'"):
        SandboxState(SandboxConfig(), schema_file=bad)


def test_a_field_declared_read_only_is_described_so_and_refuses_writes() -> None:
    from sandbox.salesforce.errors import ApiError

    state = SandboxState(SandboxConfig())
    state.change_schema({"op": "add_field", "object": "Contact",
                         "field": {"name": "Score__c", "type": "double", "updateable": False}})
    described = SCHEMA["Contact"].field("Score__c").describe()
    assert (described["updateable"], described["createable"]) == (False, True)
    writer = Writer(state.store, state.user_id, state.faults)
    rid = writer.create(SCHEMA["Contact"], {"LastName": "A", "Score__c": 3})
    with pytest.raises(ApiError) as err:
        writer.update(SCHEMA["Contact"], rid, {"Score__c": 4})
    assert err.value.code == "INVALID_FIELD_FOR_INSERT_UPDATE" and "Score__c" in err.value.message
    assert state.store.get_in(SCHEMA["Contact"], rid)["Score__c"] == 3


@pytest.mark.parametrize(("spec", "message"), [
    ({"name": "Two__Parts__c", "type": "string"}, "custom field names"),
    ({"name": "Flag__c", "type": "boolean", "externalId": True}, "External ID"),
    ({"name": "Ref__c", "type": "reference"}, "needs referenceTo"),
    ({"name": "Score__c", "type": "double", "updateable": "no"}, "updateable must be true or false"),
])
def test_bad_field_declarations(spec: dict, message: str) -> None:
    with pytest.raises(custom.SchemaError, match=message):
        custom.field_from_spec("Contact", spec)


def test_seed_stores_rows_as_given_and_refuses_bad_ones_whole() -> None:
    from sandbox.salesforce.errors import ApiError
    from sandbox.salesforce.writes import seed_records

    state = SandboxState(SandboxConfig())
    contact = SCHEMA["Contact"]
    rows = [{"attributes": {"type": "Contact"}, "Id": "0035g0000000001AAA", "LastName": "A",
             "AccountId": "0015g000000006T", "CreatedDate": "2026-06-21T17:37:47.000+0000", "DoNotCall": True},
            {"LastName": "B", "Birthdate": "1990-01-02", "LastModifiedDate": "2026-06-21T17:37:47.000+0000"}]
    assert seed_records(state.store, contact, rows, state.user_id) == 2
    first = state.store.get_in(contact, "0035g0000000001AAA")
    assert first["AccountId"] == "0015g000000006TAAQ"  # 15-character ids are stored as 18
    assert first["SystemModstamp"] == first["LastModifiedDate"] == first["CreatedDate"]
    assert first["DoNotCall"] is True and first["HasOptedOutOfEmail"] is False and first["Name"] == "A"
    second = next(r for r in state.store.rows(contact) if r["LastName"] == "B")
    assert second["Birthdate"].isoformat() == "1990-01-02" and second["OwnerId"] == state.user_id
    for bad, code in [({"LastName": "C", "Nope__c": 1}, "INVALID_FIELD"),
                      ({"LastName": "C", "Birthdate": "yesterday"}, "JSON_PARSER_ERROR"),
                      ({"LastName": "C", "Title": "x" * 129}, "STRING_TOO_LONG"),
                      ({"LastName": "C", "Id": "001000000000000AAA"}, "MALFORMED_ID")]:
        with pytest.raises(ApiError) as err:
            seed_records(state.store, contact, [{"LastName": "D"}, bad], state.user_id)
        assert err.value.code == code
        assert "record 1" in err.value.message
    assert sorted(r["LastName"] for r in state.store.rows(contact)) == ["A", "B"]


def test_seeds_are_replayed_from_their_body_in_order_with_later_writes(tmp_path: Path) -> None:
    import json

    state = open_org(tmp_path)
    rows = [{"LastName": "Seeded"}, {"LastName": "Given", "Id": "0035g0000000001AAA",
                                     "CreatedDate": "2026-01-01T00:00:00Z"}]
    assert state.seed(SCHEMA["Contact"], rows, json.dumps({"object": "Contact", "records": rows}).encode()) == 2
    state.commit()
    generated = next(r for r in state.store.rows(SCHEMA["Contact"]) if r["LastName"] == "Seeded")
    Writer(state.store, state.user_id).update(SCHEMA["Contact"], "0035g0000000001AAA", {"LastName": "Edited"})
    state.commit()
    before = {r["Id"]: dict(r) for r in state.store.rows(SCHEMA["Contact"])}
    state.persistence.close()  # crash: only the journal has them

    state = open_org(tmp_path)
    after = {r["Id"]: dict(r) for r in state.store.rows(SCHEMA["Contact"])}
    assert after == before  # same generated Id, same default CreatedDate, the edit on top
    assert after[generated["Id"]]["CreatedDate"] == generated["CreatedDate"]
    assert after["0035g0000000001AAA"]["LastName"] == "Edited"
    state.close()
