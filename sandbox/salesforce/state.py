"""The running org: its records, sessions, API usage, query cursors and Bulk API jobs."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from .config import SandboxConfig
from .ids import make_id
from .schema import SCHEMA
from .store import Record, Store
from .values import now_utc

ORG_ID = make_id("00D", 42, pod="8c")
USER_ID = make_id("005", 42, pod="8c")
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
    _seq: int = 0

    def __post_init__(self) -> None:
        self.install_org()

    @property
    def org_id(self) -> str:
        return ORG_ID

    @property
    def user_id(self) -> str:
        return USER_ID

    def install_org(self) -> None:
        """(Re)create the Organization row and the integration User."""
        stamp = now_utc()
        audit = {"IsDeleted": False, "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
                 "CreatedById": USER_ID, "LastModifiedById": USER_ID}
        self.store.table("Organization").put({
            "Id": ORG_ID, "Name": self.config.org_name, "IsSandbox": self.config.is_sandbox,
            "InstanceName": self.config.instance_name, "OrganizationType": "Enterprise Edition",
            "TimeZoneSidKey": "GMT", "DefaultLocaleSidKey": "en_US", **audit,
        })
        self.store.table("User").put({
            "Id": USER_ID, "Username": self.config.username, "Email": self.config.username,
            "FirstName": "Integration", "LastName": "User", "Name": "Integration User", "Alias": "integ",
            "IsActive": True, "TimeZoneSidKey": "GMT", **audit,
        })

    def reset(self) -> None:
        """Empty every object (the org and its integration user come back), cursors and jobs."""
        self.store.reset()
        self.cursors.clear()
        self.jobs.clear()
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
            "bulk_jobs": len(self.jobs),
            "open_query_cursors": len(self.cursors),
            "sessions": len(self.sessions),
        }
