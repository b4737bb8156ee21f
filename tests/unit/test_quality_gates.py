"""Great Expectations gates: suites from the committed file context, failures named, the context untouched."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from crm360 import warehouse
from crm360.quality.gates import GateFailed, run_publish_gate, validate_frame

EXPECTATIONS = Path(__file__).resolve().parents[2] / "expectations"


def _contacts(ids: list[str | None], last_names: list[str | None]) -> pd.DataFrame:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    return pd.DataFrame({"Id": ids, "LastName": last_names, "SystemModstamp": [now] * len(ids)})


def _digest(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "uncommitted" not in p.parts)
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def test_good_contacts_pass_and_the_committed_context_is_not_rewritten() -> None:
    before = _digest(EXPECTATIONS)
    result = validate_frame(EXPECTATIONS, "raw.salesforce_contact.critical",
                            _contacts(["0035g0000000001AAA", "0035g0000000002AAA"], ["Ng", "Okafor"]))
    assert result.success and result.failed == 0 and result.evaluated == 5
    assert _digest(EXPECTATIONS) == before, "validation must not modify expectations/"


def test_bad_contacts_fail_with_the_column_named() -> None:
    result = validate_frame(EXPECTATIONS, "raw.salesforce_contact.critical",
                            _contacts(["0035g0000000001AAA", "0035g0000000001AAA"], ["Ng", None]))
    assert not result.success
    assert result.failed == 2  # duplicate Id, missing LastName
    assert "column 'Id'" in result.first_failure or "column 'LastName'" in result.first_failure


def test_publish_gate_blocks_the_push_and_records_results(tmp_path: Path) -> None:
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        con.execute("create schema publish")
        con.execute("""create table publish.contact_attributes as select * from (values
            ('0035g0000000001AAA', 'Contact', 'cus_1', 10.0, 1, 'engaged', 12.5, 9, 'email'),
            ('0035g0000000002AAA', 'Contact', null, -5.0, 1, 'engaged', null, 23, 'none'))
            t(sfdc_record_id, sobject_type, customer_id, lifetime_value, order_count, email_engagement,
              churn_risk_pct, best_send_hour, preferred_channel)""")
        con.execute("""create table publish.campaign_members as select * from (values
            ('RFM - Champions', 'email', 'rfm_champions', '0035g0000000001AAA', 'Contact', 'cus_1'),
            ('RFM - Champions', 'email', 'rfm_champions', '0035g0000000001AAA', 'Contact', 'cus_1'),
            ('Call them', 'sms', 'rfm_at_risk', '00Q5g0000000001AAA', 'Lead', 'cus_2'))
            t(campaign_name, campaign_channel, segment_name, sfdc_record_id, sobject_type, customer_id)""")
        with pytest.raises(GateFailed, match=r"publish\.campaign_members\.critical"):
            run_publish_gate(con, EXPECTATIONS, "run-1", "2026-11-20")
        rows = con.execute("select suite, success, expectations_failed from crm360_ops.quality_results "
                           "order by suite").fetchall()
    # campaign members: a record twice in one campaign, an unknown channel; contact attributes: a
    # missing customer id, a negative lifetime value
    assert rows == [("publish.campaign_members.critical", False, 2), ("publish.contact_attributes.critical", False, 2)]


def test_unknown_suite_is_a_clear_error() -> None:
    with pytest.raises(Exception, match=r"raw\.nope\.critical"):
        validate_frame(EXPECTATIONS, "raw.nope.critical", pd.DataFrame({"a": [1]}))


def _events(n: int, event: str = "delivered", email: str = "a@x.example") -> pd.DataFrame:
    at = datetime(2026, 11, 20, 12, tzinfo=UTC)
    return pd.DataFrame({"sg_event_id": [f"e{i}" for i in range(n)], "event": [event] * n,
                         "email": [email] * n, "event_at": [at] * n})


PARAMS = {"event_min": datetime(2026, 10, 21, tzinfo=UTC), "event_max": datetime(2026, 11, 22, tzinfo=UTC),
          "volume_min": 0, "volume_max": None}


def test_volume_against_recent_days_is_a_parameter_of_the_run() -> None:
    ok = validate_frame(EXPECTATIONS, "raw.sendgrid_email_events.warning", _events(3), PARAMS)
    assert ok.success
    low = validate_frame(EXPECTATIONS, "raw.sendgrid_email_events.warning", _events(3),
                         {**PARAMS, "volume_min": 100, "volume_max": 1000})
    assert not low.success
    assert low.first_failure == "expect_table_row_count_to_be_between failed (observed 3)"


def test_failure_samples_mask_emails_and_phone_numbers() -> None:
    from crm360.quality.gates import mask

    assert mask("jane.doe@example.com") == "ja***@example.com"
    assert mask("+44 20 7946 0958") == "***58"
    frame = _events(2, event="teleported", email="jane.doe@example.com")
    result = validate_frame(EXPECTATIONS, "raw.sendgrid_email_events.warning", frame, PARAMS)
    assert "teleported" in result.first_failure
    assert "jane.doe@example.com" not in (result.first_failure or "")


def test_gates_keep_results_and_build_data_docs_outside_the_repo(tmp_path: Path) -> None:
    before = _digest(EXPECTATIONS)
    runtime = tmp_path / "gx-runtime"
    for _ in range(2):  # a second run rebuilds the definitions and keeps the earlier results
        validate_frame(EXPECTATIONS, "raw.sendgrid_email_events.warning", _events(3), PARAMS, runtime_dir=runtime)
    docs = runtime / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert docs.exists() and "raw.sendgrid_email_events.warning" in docs.read_text()
    assert len(list((runtime / "gx" / "uncommitted" / "validations").rglob("*.json"))) == 2
    assert _digest(EXPECTATIONS) == before
