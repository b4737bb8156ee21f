"""Fault injection: rules set at run time through ``/sandbox/faults`` that make the org misbehave on purpose.

Kinds (``kind`` in the rule), and where they act:

============== ================================================================================
error          answer matching calls with an HTTP error (``status``, default 503) in Salesforce's
               error shape instead of serving them
delay          sleep ``seconds`` before serving matching calls
expire_session invalidate every session just before a matching call, which then gets 401
               INVALID_SESSION_ID (a client that logs in again carries on)
lock_row       per-record ``UNABLE_TO_LOCK_ROW`` in Bulk ingest jobs (2.0 and 1.0) and sObject
               Collections on ``object``: every ``every``-th record of a job or call fails
               (default 1: all)
fail_job       the next Bulk job (``object``, ``jobType`` V2Ingest/V2Query/Classic optional; ``times``
               defaults to 1) ends ``Failed`` with ``message`` (Bulk 1.0: the batch fails)
automation     right after an API write (REST, collections, Bulk) to ``object``, set ``field`` to
               ``value`` (or upper-case it with ``transform: upper``), as a flow or trigger would;
               ``operations`` limits it to insert/update
============== ================================================================================

Request rules match on ``method`` and ``path`` (a regular expression searched in the URL path, e.g.
``/query`` or ``/jobs/ingest``). Any rule may say ``times`` (how many times it fires; absent means
until removed), ``skip`` (let the first n matches through) and ``probability`` (fire on that share
of the matches, drawn from a generator seeded with ``seed``, default 0, so a run can be replayed).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

KINDS = frozenset({"error", "delay", "expire_session", "lock_row", "fail_job", "automation"})
_DEFAULT_CODES = {500: "UNKNOWN_EXCEPTION", 502: "SERVER_UNAVAILABLE", 503: "SERVER_UNAVAILABLE",
                  504: "REQUEST_TIMEOUT"}
_DEFAULT_MESSAGES = {
    "UNKNOWN_EXCEPTION": "An unexpected error occurred. Please include this ErrorId if you contact support: "
                         "1234567890-12345 (-1234567890)",
    "SERVER_UNAVAILABLE": "Server temporarily unavailable: please retry your request later.",
    "REQUEST_TIMEOUT": "Your request was running for too long, and has been stopped.",
}


class FaultError(ValueError):
    """A rule that cannot be installed; the message says which key is wrong."""


@dataclass
class Fault:
    """One installed rule and how often it has fired."""

    id: str
    kind: str
    spec: dict[str, Any]
    method: str | None = None
    path: re.Pattern[str] | None = None
    object: str | None = None
    times: int | None = None
    skip: int = 0
    probability: float | None = None
    rng: random.Random | None = None
    seen: int = 0
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec, "fired": self.fired}

    @property
    def spent(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def hit(self) -> bool:
        """Count a matching occasion; True if the rule fires on it."""
        if self.spent:
            return False
        self.seen += 1
        if self.seen <= self.skip:
            return False
        if self.probability is not None and self.rng is not None and self.rng.random() >= self.probability:
            return False
        self.fired += 1
        return True

    @property
    def status(self) -> int:
        return int(self.spec.get("status", 503))

    @property
    def error_code(self) -> str:
        return str(self.spec.get("errorCode") or _DEFAULT_CODES.get(self.status, "UNKNOWN_EXCEPTION"))

    @property
    def message(self) -> str:
        return str(self.spec.get("message") or _DEFAULT_MESSAGES.get(self.error_code, "injected fault"))


@dataclass
class Faults:
    """The installed rules, in the order they were added."""

    rules: list[Fault] = field(default_factory=list)
    _next: int = 0

    def add(self, spec: Any) -> Fault:
        if not isinstance(spec, dict):
            raise FaultError("a fault is a JSON object such as {\"kind\": \"error\", \"status\": 503, "
                             "\"path\": \"/query\", \"times\": 1}")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise FaultError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
        try:
            path = re.compile(spec["path"]) if spec.get("path") else None
        except re.error as exc:
            raise FaultError(f"path is not a regular expression: {exc}") from exc
        for key in ("times", "skip", "every", "status"):
            if key in spec and spec[key] is not None and (not isinstance(spec[key], int) or spec[key] < 0):
                raise FaultError(f"{key} must be a non-negative integer, got {spec[key]!r}")
        probability = spec.get("probability")
        if probability is not None and (isinstance(probability, bool) or not isinstance(probability, (int, float))
                                        or not 0 <= probability <= 1):
            raise FaultError(f"probability must be a number from 0 to 1, got {probability!r}")
        if kind == "error" and not 400 <= int(spec.get("status", 503)) <= 599:
            raise FaultError("status must be an HTTP error status (400-599)")
        if kind == "delay" and not isinstance(spec.get("seconds"), (int, float)):
            raise FaultError("a delay needs seconds (a number)")
        if kind in {"lock_row", "automation"} and not spec.get("object"):
            raise FaultError(f"a {kind} rule needs object")
        if kind == "automation":
            if not spec.get("field"):
                raise FaultError("an automation needs field (and value, or transform: upper)")
            if "value" not in spec and spec.get("transform") not in {"upper", "lower"}:
                raise FaultError("an automation needs value, or transform: upper|lower")
        times = spec.get("times", 1 if kind == "fail_job" else None)  # "the next job" unless told otherwise
        self._next += 1
        fault = Fault(id=f"fault-{self._next}", kind=kind, spec=dict(spec),
                      method=str(spec["method"]).upper() if spec.get("method") else None, path=path,
                      object=str(spec["object"]).lower() if spec.get("object") else None,
                      times=times, skip=int(spec.get("skip") or 0),
                      probability=None if probability is None else float(probability),
                      rng=random.Random(spec.get("seed", 0)))
        self.rules.append(fault)
        return fault

    def remove(self, fault_id: str) -> bool:
        before = len(self.rules)
        self.rules = [f for f in self.rules if f.id != fault_id]
        return len(self.rules) < before

    def clear(self) -> None:
        self.rules = []

    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self.rules]

    # ------------------------------------------------------------------ matching
    def for_request(self, method: str, path: str) -> list[Fault]:
        """The request-level rules (error, delay, expire_session) that fire on this call."""
        out = []
        for fault in self.rules:
            if fault.kind not in {"error", "delay", "expire_session"}:
                continue
            if fault.method and fault.method != method:
                continue
            if fault.path and not fault.path.search(path):
                continue
            if fault.hit():
                out.append(fault)
        return out

    def _for_object(self, kind: str, obj_name: str) -> list[Fault]:
        name = obj_name.lower()
        return [f for f in self.rules if f.kind == kind and not f.spent and f.object in (None, name)]

    def fail_job(self, obj_name: str, job_type: str) -> str | None:
        """The error message if a fail_job rule claims this job, else None."""
        for fault in self._for_object("fail_job", obj_name):
            wanted = fault.spec.get("jobType")
            if wanted and str(wanted).lower() != job_type.lower():
                continue
            if fault.hit():
                return str(fault.spec.get("message") or "InternalServerError : the job failed (injected fault)")
        return None

    def lock_row(self, obj_name: str, position: int) -> bool:
        """True if record number ``position`` (1-based, within its job) must fail with UNABLE_TO_LOCK_ROW."""
        for fault in self._for_object("lock_row", obj_name):
            every = int(fault.spec.get("every") or 1)
            if position % every == 0 and fault.hit():
                return True
        return False

    def automations(self, obj_name: str, operation: str) -> list[Fault]:
        out = []
        for fault in self._for_object("automation", obj_name):
            ops = fault.spec.get("operations")
            if ops and operation not in ops:
                continue
            if fault.hit():
                out.append(fault)
        return out
