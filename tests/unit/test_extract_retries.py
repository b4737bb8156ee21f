"""Retry policy and atomic partitions of the Salesforce extract (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

from crm360 import landing
from crm360.salesforce.extract import ExtractError, SalesforceSession, is_transient, with_retries


def _server_error(status: int) -> SalesforceGeneralError:
    return SalesforceGeneralError("https://org/services/data", status, "x", [{"errorCode": "SERVER_UNAVAILABLE"}])


def test_transient_faults_are_retried_then_succeed() -> None:
    calls = []

    def flaky(sf: object) -> str:
        calls.append(sf)
        if len(calls) < 3:
            raise _server_error(503)
        return "landed"

    session = SalesforceSession(lambda: object())
    assert with_retries(session, "Contact ds=2026-11-20", flaky, attempts=3, wait_seconds=0.001) == "landed"
    assert len(calls) == 3


def test_giving_up_names_the_object_and_the_last_error() -> None:
    def down(sf: object) -> None:
        raise _server_error(500)

    with pytest.raises(ExtractError, match=r"Contact ds=2026-11-20: gave up after 2 attempts.*SalesforceGeneralError"):
        with_retries(SalesforceSession(lambda: object()), "Contact ds=2026-11-20", down, attempts=2,
                     wait_seconds=0.001)


def test_a_bad_request_is_not_retried() -> None:
    calls = []

    def malformed(sf: object) -> None:
        calls.append(1)
        raise SalesforceMalformedRequest("url", 400, "x", [{"errorCode": "MALFORMED_QUERY"}])

    with pytest.raises(SalesforceMalformedRequest):
        with_retries(SalesforceSession(lambda: object()), "Contact", malformed, attempts=5, wait_seconds=0.001)
    assert calls == [1]
    assert not is_transient(_server_error(404)) and is_transient(_server_error(502))


def test_a_failed_write_leaves_the_previous_partition_and_no_debris(tmp_path: Path) -> None:
    schema = pa.schema([("Id", pa.string())])
    landing.write_partition(pa.table({"Id": ["a", "b"]}, schema=schema), tmp_path, "salesforce", "contact",
                            "2026-11-20")
    before = landing.partition_path(tmp_path, "salesforce", "contact", "2026-11-20").read_bytes()
    with pytest.raises(RuntimeError), \
            landing.PartitionWriter(tmp_path, "salesforce", "contact", "2026-11-20", schema) as writer:
        writer.write(pa.table({"Id": ["c"]}, schema=schema))
        raise RuntimeError("connection lost mid-extract")
    folder = landing.partition_dir(tmp_path, "salesforce", "contact", "2026-11-20")
    assert [p.name for p in folder.iterdir()] == [landing.PART_NAME]
    assert landing.partition_path(tmp_path, "salesforce", "contact", "2026-11-20").read_bytes() == before
