"""CRM history day by day: new records, updates, conversions, merges and deletions, replayable per day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from sandbox.generator import generate
from sandbox.generator.load import LOAD_ORDER, crm_records
from tests.unit.sandbox.test_generator import crm, read_ndjson

END = dt.date(2026, 11, 20)
DAYS = 20
WINDOW = [END - dt.timedelta(days=k) for k in range(DAYS - 1, -1, -1)]


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("history")
    generate(customers=1500, days=DAYS, end_date=END, seed=9, out=out)
    return out


def by_id(records: Any) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in records}


def test_each_day_brings_new_records_updates_conversions_merges_and_deletions(company: Path) -> None:
    first = WINDOW[0].isoformat()
    contacts, leads = crm(company, "Contact"), crm(company, "Lead")
    new_days = {c["CreatedDate"][:10] for c in contacts if c["CreatedDate"][:10] >= first}
    assert len(new_days) >= DAYS // 2, "new Contacts should arrive on most days"
    converted_now = [lead for lead in leads if lead["IsConverted"] and lead["ConvertedDate"] >= first]
    contact_ids = by_id(contacts)
    assert converted_now
    for lead in converted_now:
        contact = contact_ids[lead["ConvertedContactId"]]
        assert contact["CreatedDate"][:10] == lead["ConvertedDate"] == lead["SystemModstamp"][:10]
    merged = [c for c in contacts if c.get("MasterRecordId")]
    assert merged and all(c["IsDeleted"] and contact_ids[c["MasterRecordId"]]["IsDeleted"] is False for c in merged)
    assert [lead for lead in leads if lead["IsDeleted"]]
    updated = [c for c in contacts if c["SystemModstamp"][:10] >= first > c["CreatedDate"][:10]]
    assert 0.2 * len(contacts) <= len(updated) <= 0.6 * len(contacts)


def test_history_holds_the_version_before_and_after_each_change(company: Path) -> None:
    first = WINDOW[0].isoformat()
    for obj in LOAD_ORDER:
        final = by_id(crm(company, obj))
        versions: dict[str, list[dict[str, Any]]] = {}
        for record in read_ndjson(company / "crm" / "history" / f"{obj}.ndjson.gz"):
            versions.setdefault(record["Id"], []).append(record)
        changed = {i for i, r in final.items() if r["SystemModstamp"][:10] >= first}
        assert set(versions) == changed, obj
        for rid, history in versions.items():
            assert history[-1] == final[rid]
            assert [v["SystemModstamp"] for v in history] == sorted(v["SystemModstamp"] for v in history)
            if final[rid]["CreatedDate"][:10] < first:
                assert history[0]["SystemModstamp"][:10] < first, "the version before the window comes first"
    lead_history = read_ndjson(company / "crm" / "history" / "Lead.ndjson.gz")
    converted_ids = {r["Id"] for r in lead_history if r["IsConverted"]}
    assert any(not r["IsConverted"] for r in lead_history if r["Id"] in converted_ids)


def test_the_org_can_be_replayed_day_by_day(company: Path) -> None:
    for obj in ("Contact", "Lead", "CampaignMember"):
        final = by_id(crm(company, obj))
        assert by_id(crm_records(company, obj, through_day=END)) == final
        state = by_id(crm_records(company, obj, through_day=WINDOW[0] - dt.timedelta(days=1)))
        assert all(r["CreatedDate"][:10] < WINDOW[0].isoformat() for r in state.values())
        assert all(r["SystemModstamp"][:10] < WINDOW[0].isoformat() for r in state.values())
        for day in WINDOW:
            delta = by_id(crm_records(company, obj, day=day))
            assert all(r["SystemModstamp"][:10] == day.isoformat() for r in delta.values())
            state.update(delta)
            assert state == by_id(crm_records(company, obj, through_day=day)), (obj, day)
        assert state == final
