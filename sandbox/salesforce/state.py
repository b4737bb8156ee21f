"""The running org: its records, sessions, API usage, query cursors and Bulk API jobs."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import custom
from .config import SandboxConfig
from .faults import Faults
from .ids import make_id
from .persist import Persistence
from .schema import SCHEMA, SObject, find_object
from .store import Record, Store
from .values import now_utc
from .writes import seed_records

ORG_ID = make_id("00D", 42, pod="8c")
USER_ID = make_id("005", 42, pod="8c")
PROFILE_ID = make_id("00e", 42, pod="8c")
MAX_CURSORS = 500


@dataclass
class Cursor:
    """Rows of a REST query still to be paged through with nextRecordsUrl."""

    rows: list[Record]
    render: Any
    total: int
    batch: int = 2000


@dataclass
class SandboxState:
    """Everything that lives for the life of the server."""

    config: SandboxConfig
    store: Store = field(default_factory=Store)
    sessions: dict[str, float] = field(default_factory=dict)
    api_used: int = 0
    requests_served: int = 0
    bulk_batches_used: int = 0
    bulk_query_jobs_used: int = 0
    cursors: OrderedDict[str, Cursor] = field(default_factory=OrderedDict)
    jobs: dict[str, Any] = field(default_factory=dict)
    base_url: str = ""
    faults: Faults = field(default_factory=Faults)
    schema_file: Path | None = None
    schema_changes: list[dict[str, Any]] = field(default_factory=list)  # run-time changes since the last reset
    persistence: Persistence | None = None
    _seq: int = 0

    def __post_init__(self) -> None:
        self._base_schema()
        if self.persistence is not None:
            self._restore()
        else:
            self.install_org()

    # ------------------------------------------------------------------ schema
    def _base_schema(self) -> None:
        """The built-in objects plus the schema file's declarations."""
        custom.reset_schema()
        if self.schema_file is not None:
            for change in custom.changes_from_file(self.schema_file):
                try:
                    custom.apply(change)
                except custom.SchemaError as exc:
                    raise custom.SchemaError(f"{self.schema_file}: {exc}") from exc
        self.store.ensure_tables()

    def change_schema(self, change: dict[str, Any]) -> None:
        """Apply and remember a run-time schema change (schema drift); raises SchemaError if it cannot be."""
        custom.apply(change)
        self.schema_changes.append(change)
        if change.get("op") == "drop_field":
            # Salesforce deletes the data with the field: drop the values in place (no copy of every row)
            table = self.store.tables.get(change["object"])
            if table is not None:
                for record in table.records.values():
                    record.pop(change["field"], None)
        self.store.ensure_tables()
        if self.store.log is not None:
            self.store.log.append(("schema", change))

    # ------------------------------------------------------------------ persistence
    def _meta(self) -> dict[str, Any]:
        return {"counter": self.store._counter, "seq": self._seq, "api_used": self.api_used,
                "bulk_batches_used": self.bulk_batches_used, "bulk_query_jobs_used": self.bulk_query_jobs_used}

    def _set_meta(self, meta: dict[str, Any]) -> None:
        self.store._counter = max(self.store._counter, int(meta.get("counter", 0)))
        self._seq = max(self._seq, int(meta.get("seq", 0)))
        self.api_used = int(meta.get("api_used", self.api_used))
        self.bulk_batches_used = int(meta.get("bulk_batches_used", self.bulk_batches_used))
        self.bulk_query_jobs_used = int(meta.get("bulk_query_jobs_used", self.bulk_query_jobs_used))

    def _restore(self) -> None:
        """Load the snapshot, replay the journal, compact, then keep a change log for the journal."""
        assert self.persistence is not None
        snapshot, frames = self.persistence.load()
        if snapshot is not None:
            for change in snapshot.get("schema_changes", []):
                self._replay_schema(change)
            for name, records in snapshot["tables"].items():
                table = self.store.tables.get(name)
                if table is None:
                    continue
                table.records = {r["Id"]: r for r in records}
                table.reindex()
            self._set_meta(snapshot.get("meta", {}))
        for ops, meta in frames:
            for op in ops:
                kind = op[0]
                if kind == "put":
                    table = self.store.tables.get(op[1])
                    if table is not None:
                        table.put(op[2])
                elif kind == "remove":
                    table = self.store.tables.get(op[1])
                    if table is not None:
                        table.remove(op[2])
                elif kind == "reset":
                    self.schema_changes = []
                    self._base_schema()
                    self.store.reset()
                elif kind == "schema":
                    self._replay_schema(op[1])
                elif kind == "seed":
                    obj = find_object(op[1])
                    if obj is not None:
                        seed_records(self.store, obj, json.loads(op[2])["records"], self.user_id, op[3])
            self._set_meta(meta)
        if not self.store.tables["Organization"].records:
            self.install_org()  # a new folder, or one whose first run ended before a compaction
        if frames or snapshot is None:
            self.persistence.compact(self.snapshot())
        self.store.keep_log()

    def _replay_schema(self, change: dict[str, Any]) -> None:
        # the schema file may now declare it, or it no longer applies: keep going
        with contextlib.suppress(custom.SchemaError):
            self.change_schema(change)

    def seed(self, obj: SObject, rows: list[dict[str, Any]], raw_body: bytes | None = None) -> int:
        """``/sandbox/seed``: store rows as given. The journal keeps the request body rather than the
        records (a seed is replayed by seeding again): writing bytes is far cheaper than pickling rows."""
        stamp = now_utc()
        log = self.store.log
        mark = len(log) if log is not None else 0
        inserted = seed_records(self.store, obj, rows, self.user_id, stamp)
        if log is not None and raw_body is not None:
            del log[mark:]
            log.append(("seed", obj.name, raw_body, stamp))
        return inserted

    def snapshot(self) -> dict[str, Any]:
        return {"tables": {name: list(t.records.values()) for name, t in self.store.tables.items()},
                "schema_changes": list(self.schema_changes), "meta": self._meta()}

    def commit(self) -> None:
        """Journal what the last request changed (a no-op without persistence or without changes)."""
        log = self.store.log
        if self.persistence is None or not log:
            return
        self.persistence.append(list(log), self._meta())
        log.clear()

    def close(self) -> None:
        """On shutdown: journal anything pending, compact, and release the data folder."""
        if self.persistence is None:
            return
        self.commit()
        if self.persistence.journal_bytes():
            self.persistence.compact(self.snapshot())
        self.persistence.close()

    @property
    def org_id(self) -> str:
        return ORG_ID

    @property
    def user_id(self) -> str:
        return USER_ID

    def install_org(self) -> None:
        """(Re)create the Organization row, the integration User and its Profile."""
        stamp = now_utc()
        audit = {"IsDeleted": False, "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
                 "CreatedById": USER_ID, "LastModifiedById": USER_ID}
        self.store.table("Organization").put({
            "Id": ORG_ID, "Name": self.config.org_name, "IsSandbox": self.config.is_sandbox,
            "InstanceName": self.config.instance_name, "OrganizationType": "Enterprise Edition",
            "TimeZoneSidKey": "GMT", "DefaultLocaleSidKey": "en_US", "LanguageLocaleKey": "en_US",
            "Country": "US", "FiscalYearStartMonth": 1, "IsReadOnly": False, "DefaultCurrencyIsoCode": "USD",
            **audit,
        })
        self.store.table("Profile").put({
            "Id": PROFILE_ID, "Name": "Integration User Profile", "UserType": "Standard",
            "Description": "API-only profile of the integration user", **audit,
        })
        self.store.table("User").put({
            "Id": USER_ID, "Username": self.config.username, "Email": self.config.username,
            "FirstName": "Integration", "LastName": "User", "Name": "Integration User", "Alias": "integ",
            "CommunityNickname": "integration", "CompanyName": self.config.org_name, "Department": "Data",
            "Title": "Integration User", "IsActive": True, "TimeZoneSidKey": "GMT", "LocaleSidKey": "en_US",
            "LanguageLocaleKey": "en_US", "EmailEncodingKey": "UTF-8", "ProfileId": PROFILE_ID,
            "UserType": "Standard", "ReceivesInfoEmails": False, "CurrencyIsoCode": "USD",
            "DefaultCurrencyIsoCode": "USD", "LastLoginDate": stamp, "LastPasswordChangeDate": stamp, **audit,
        })

    def reset(self) -> None:
        """Empty every object (the org and its integration user come back), cursors, jobs, faults, and
        run-time schema changes (the schema file's declarations stay)."""
        self.schema_changes = []
        self._base_schema()
        self.store.reset()
        self.cursors.clear()
        self.jobs.clear()
        self.faults.clear()
        self.install_org()

    # ------------------------------------------------------------------ sessions
    def new_session(self) -> str:
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(48)}"
        self.sessions[token] = time.time()
        return token

    def valid_session(self, token: str | None) -> bool:
        return bool(token) and token in self.sessions

    def expire_sessions(self) -> int:
        count = len(self.sessions)
        self.sessions.clear()
        return count

    # ------------------------------------------------------------------ ids for cursors and jobs
    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add_cursor(self, cursor: Cursor) -> str:
        locator = make_id("01g", self.next_seq(), pod="8c")
        self.cursors[locator] = cursor
        while len(self.cursors) > MAX_CURSORS:
            self.cursors.popitem(last=False)
        return locator

    def stats(self) -> dict[str, Any]:
        counts = self.store.counts()
        return {
            "objects": {name: counts[name]["records"] for name in SCHEMA},
            "deleted": {name: counts[name]["deleted"] for name in SCHEMA},
            "api_calls": self.api_used,
            "requests_served": self.requests_served,
            "daily_api_limit": self.config.daily_api_limit,
            "limits": {
                "DailyApiRequests": {"Max": self.config.daily_api_limit, "Used": self.api_used},
                "DailyBulkApiBatches": {"Max": self.config.bulk_batch_limit, "Used": self.bulk_batches_used},
                "DailyBulkV2QueryJobs": {"Max": self.config.bulk_query_job_limit, "Used": self.bulk_query_jobs_used},
            },
            "faults": len(self.faults.rules),
            "persistent": self.persistence is not None,
            "bulk_jobs": len(self.jobs),
            "open_query_cursors": len(self.cursors),
            "sessions": len(self.sessions),
        }
