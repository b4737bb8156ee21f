"""Property-based: random create/update/upsert/delete/query sequences against the sandbox and a small model.

Hypothesis drives simple-salesforce against a running sandbox; after every step the sandbox must give the
same answers as a plain-Python model of a Contact table with a unique, case-insensitive external id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from sandbox.salesforce.process import SandboxProcess, start_sandbox

pytestmark = pytest.mark.integration

EXT_IDS = st.sampled_from(["a", "A", "b", "B", "c", "dd", "Dd"])  # few, mixed case: collisions are likely
NAMES = st.sampled_from(["Smith", "smith", "O'Brien", "Zed", "Ünal"])
COUNTS = st.one_of(st.none(), st.integers(min_value=0, max_value=5))


@dataclass
class Row:
    ext: str | None
    last_name: str
    count: int | None = None
    deleted: bool = False


@dataclass
class Model:
    rows: dict[str, Row] = field(default_factory=dict)

    def live_by_ext(self, ext: str) -> str | None:
        return next((rid for rid, r in self.rows.items()
                     if not r.deleted and r.ext is not None and r.ext.casefold() == ext.casefold()), None)


SERVER: dict[str, SandboxProcess] = {}


@pytest.fixture(scope="module", autouse=True)
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    with start_sandbox(tmp_path_factory.mktemp("sf-props")) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
        SERVER["org"] = server
        yield server
        SERVER.clear()


def error_code(exc: SalesforceError) -> str:
    content = exc.content
    return content[0]["errorCode"] if isinstance(content, list) else str(content)


class ContactTable(RuleBasedStateMachine):
    """One Contact table seen through REST; the model says what every call must answer."""

    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        server = SERVER["org"]
        requests.post(server.url("/sandbox/reset"), timeout=10).raise_for_status()
        self.sf = Salesforce(username="integration@crm360.sandbox", password="sandbox-password",
                             security_token="sandbox-token", domain=server.domain)
        self.model = Model()

    @rule(target=ids, ext=st.one_of(st.none(), EXT_IDS), name=NAMES, count=COUNTS)
    def create(self, ext: str | None, name: str, count: int | None) -> str:
        body: dict[str, object] = {"LastName": name}
        if ext is not None:
            body["External_Id__c"] = ext
        if count is not None:
            body["Crm360_Order_Count__c"] = count
        duplicate = ext is not None and self.model.live_by_ext(ext) is not None
        try:
            rid = self.sf.Contact.create(body)["id"]
        except SalesforceError as exc:
            assert duplicate, f"create failed unexpectedly: {exc.content}"
            assert error_code(exc) == "DUPLICATE_VALUE"
            return "003000000000000AAA"  # an id that names no record
        assert not duplicate, "a duplicate external id was accepted"
        self.model.rows[rid] = Row(ext, name, count)
        return rid

    @rule(rid=ids, name=st.one_of(st.none(), NAMES), count=COUNTS)
    def update(self, rid: str, name: str | None, count: int | None) -> None:
        row = self.model.rows.get(rid)
        body: dict[str, object] = {"Crm360_Order_Count__c": count}
        if name is not None:
            body["LastName"] = name
        try:
            self.sf.Contact.update(rid, body)
        except SalesforceError as exc:
            assert row is None or row.deleted, f"update failed unexpectedly: {exc.content}"
            assert error_code(exc) == ("ENTITY_IS_DELETED" if row else "NOT_FOUND")
            return
        assert row is not None and not row.deleted, "update of a missing or deleted record succeeded"
        row.count = count
        if name is not None:
            row.last_name = name

    @rule(target=ids, ext=EXT_IDS, name=st.one_of(st.none(), NAMES), count=COUNTS)
    def upsert(self, ext: str, name: str | None, count: int | None) -> str:
        body: dict[str, object] = {"Crm360_Order_Count__c": count}
        if name is not None:
            body["LastName"] = name
        existing = self.model.live_by_ext(ext)
        try:
            status = self.sf.Contact.upsert(f"External_Id__c/{ext}", body)
        except SalesforceError as exc:
            assert existing is None and name is None, f"upsert failed unexpectedly: {exc.content}"
            assert error_code(exc) == "REQUIRED_FIELD_MISSING"
            return "003000000000000AAA"
        assert status == (200 if existing else 201)
        rid = self.sf.Contact.get_by_custom_id("External_Id__c", ext)["Id"]
        if existing:
            assert rid == existing
            row = self.model.rows[rid]
            row.count = count
            if name is not None:
                row.last_name = name
        else:
            assert name is not None
            self.model.rows[rid] = Row(ext, name, count)
        return rid

    @rule(rid=consumes(ids))
    def delete(self, rid: str) -> None:
        row = self.model.rows.get(rid)
        try:
            self.sf.Contact.delete(rid)
        except SalesforceError as exc:
            assert row is None or row.deleted, f"delete failed unexpectedly: {exc.content}"
            assert error_code(exc) == ("ENTITY_IS_DELETED" if row else "NOT_FOUND")
            return
        assert row is not None and not row.deleted
        row.deleted = True

    @rule(threshold=st.integers(min_value=0, max_value=5), name=NAMES)
    def filtered_query(self, threshold: int, name: str) -> None:
        escaped = name.replace("'", "\\'")
        got = self.sf.query_all(f"SELECT Id FROM Contact WHERE Crm360_Order_Count__c >= {threshold} "
                                f"OR LastName = '{escaped}'")["records"]
        want = {rid for rid, r in self.model.rows.items() if not r.deleted and (
            (r.count is not None and r.count >= threshold) or r.last_name.casefold() == name.casefold())}
        assert {r["Id"] for r in got} == want

    @invariant()
    def same_rows(self) -> None:
        got = self.sf.query_all("SELECT Id, External_Id__c, LastName, Crm360_Order_Count__c FROM Contact")["records"]
        seen = {r["Id"]: (r["External_Id__c"], r["LastName"], r["Crm360_Order_Count__c"]) for r in got}
        want = {rid: (r.ext, r.last_name, None if r.count is None else float(r.count))
                for rid, r in self.model.rows.items() if not r.deleted}
        assert seen == want
        deleted = self.sf.query_all("SELECT Id FROM Contact WHERE IsDeleted = true", include_deleted=True)
        assert {r["Id"] for r in deleted["records"]} == {rid for rid, r in self.model.rows.items() if r.deleted}


ContactTable.TestCase.settings = settings(max_examples=12, stateful_step_count=12, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
test_contact_table_matches_the_model = ContactTable.TestCase
