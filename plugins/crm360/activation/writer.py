"""Writing records to Salesforce with a stored outcome for every one of them.

`write_records` sends inserts, updates or deletes of one object:

* fewer than `bulk_threshold` records: sObject Collections (200 per call, allOrNone false);
  at least that many: Bulk API 2.0 ingest jobs of at most `bulk_job_size` records each, polled
  with backoff (simple-salesforce's `wait`), whose successfulResults, failedResults and
  unprocessedrecords are all read back;
* a call that fails transiently (5xx, dropped connection, expired session, a Bulk job that ends
  Failed) is retried with exponential backoff; updates and deletes by Id are idempotent, and an
  insert that was in fact done before the fault comes back DUPLICATE_VALUE where the object has a
  uniqueness rule (CampaignMember), which the caller resolves;
* records that fail with a transient record error (UNABLE_TO_LOCK_ROW) or were left unprocessed are
  sent again within the run, up to `record_attempts` times; every other error is permanent and is
  returned as such for the caller to dead-letter.

The caller gets one `RecordOutcome` per input record, in input order, and an `on_chunk` callback
after every call so that outcomes are stored as they arrive: a run that dies halfway has stored the
results of everything it sent.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crm360.salesforce.client import SalesforceSession, SalesforceUnavailable, with_retries

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

log = logging.getLogger(__name__)

OPERATIONS = ("insert", "update", "delete")
COLLECTION_SIZE = 200
TRANSIENT_RECORD_ERRORS = {"UNABLE_TO_LOCK_ROW", "UNPROCESSED"}
BULK_NULL = "#N/A"  # Bulk API 2.0 CSV: sets the field to null (an empty cell leaves it unchanged)


class WriteFailed(SalesforceUnavailable):
    """Salesforce did not take the write; what was sent before is stored, the rest is retried next run."""


@dataclass(frozen=True)
class WriteOptions:
    bulk_threshold: int = 10_000      # at least this many records: Bulk API 2.0; fewer: sObject Collections
    bulk_job_size: int = 100_000      # records per Bulk ingest job
    bulk_wait_seconds: float = 5.0    # first poll of a Bulk job (simple-salesforce `wait`)
    attempts: int = 3                 # per call, on transient faults
    retry_wait_seconds: float = 2.0   # exponential backoff from this
    record_attempts: int = 3          # per record, on UNABLE_TO_LOCK_ROW and unprocessed records


@dataclass
class RecordOutcome:
    success: bool
    record_id: str | None = None      # the Salesforce Id (for an insert, the new record's)
    error_code: str | None = None
    error: str | None = None
    attempts: int = 0

    @property
    def transient(self) -> bool:
        return not self.success and self.error_code in TRANSIENT_RECORD_ERRORS


@dataclass
class WriteResult:
    outcomes: list[RecordOutcome]
    method: str                        # collections | bulk
    api_calls: int = 0

    @property
    def succeeded(self) -> int:
        return sum(o.success for o in self.outcomes)

    @property
    def failed(self) -> int:
        return len(self.outcomes) - self.succeeded


def choose_method(count: int, bulk_threshold: int) -> str:
    return "bulk" if bulk_threshold > 0 and count >= bulk_threshold else "collections"


def write_records(session: SalesforceSession, sobject: str, operation: str, records: Sequence[dict[str, Any]],
                  options: WriteOptions = WriteOptions(), *,
                  on_chunk: Callable[[list[int], list[RecordOutcome]], None] | None = None) -> WriteResult:
    """Write `records` (dicts of field -> value; None clears a field; updates and deletes carry "Id").

    `on_chunk(indexes, outcomes)` is called with the final outcome of each record as soon as it is
    known (after its last attempt). Raises WriteFailed when Salesforce keeps failing a call; the
    records whose outcomes were already reported stay reported.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"operation {operation!r} is not one of {OPERATIONS}")
    method = choose_method(len(records), options.bulk_threshold)
    result = WriteResult([RecordOutcome(False, error_code="UNSENT", error="not sent") for _ in records], method)
    pending = list(range(len(records)))
    attempt = 0
    send = _collections if method == "collections" else _bulk
    while pending:
        attempt += 1
        size = COLLECTION_SIZE if method == "collections" else options.bulk_job_size
        retry: list[int] = []
        for start in range(0, len(pending), size):
            indexes = pending[start:start + size]
            chunk = [records[i] for i in indexes]
            what = f"{operation} of {len(chunk)} {sobject} records ({method}, attempt {attempt})"
            calls = [0]

            def call(sf: Salesforce, chunk: list[dict[str, Any]] = chunk, calls: list[int] = calls
                     ) -> list[RecordOutcome]:
                return send(sf, sobject, operation, chunk, options, calls)

            outcomes = with_retries(session, what, call, attempts=options.attempts,
                                    wait_seconds=options.retry_wait_seconds, error_type=WriteFailed,
                                    consequence="Records not yet sent are sent again by the next run.")
            result.api_calls += calls[0]
            done_indexes, done = [], []
            for i, outcome in zip(indexes, outcomes, strict=True):
                outcome.attempts = attempt
                result.outcomes[i] = outcome
                if outcome.transient and attempt < options.record_attempts:
                    retry.append(i)
                else:
                    done_indexes.append(i)
                    done.append(outcome)
            if on_chunk and done:
                on_chunk(done_indexes, done)
        if retry:
            log.warning("%s: %d records hit a transient error (%s); sending them again", sobject, len(retry),
                        ", ".join(sorted({result.outcomes[i].error_code or "" for i in retry})))
            time.sleep(min(options.retry_wait_seconds * 2 ** (attempt - 1), 60))
        pending = retry
    return result


# ----------------------------------------------------------------------------- sObject Collections

def _collections(sf: Salesforce, sobject: str, operation: str, chunk: list[dict[str, Any]], options: WriteOptions,
                 calls: list[int]) -> list[RecordOutcome]:
    calls[0] += 1
    if operation == "delete":
        ids = ",".join(r["Id"] for r in chunk)
        response = sf.restful("composite/sobjects", method="DELETE", params={"ids": ids, "allOrNone": "false"})
    else:
        body = []
        for record in chunk:
            item = {"attributes": {"type": sobject}}
            item.update({("id" if k == "Id" else k): v for k, v in record.items()})
            body.append(item)
        response = sf.restful("composite/sobjects", method="POST" if operation == "insert" else "PATCH",
                              json={"allOrNone": False, "records": body})
    outcomes = []
    for record, answer in zip(chunk, response, strict=True):
        if answer.get("success"):
            outcomes.append(RecordOutcome(True, answer.get("id") or record.get("Id")))
        else:
            error = (answer.get("errors") or [{}])[0]
            message = str(error.get("message") or "")
            if error.get("fields"):
                message += f" (fields: {', '.join(error['fields'])})"
            outcomes.append(RecordOutcome(False, record.get("Id"), str(error.get("statusCode") or "UNKNOWN"),
                                          message))
    return outcomes


# ----------------------------------------------------------------------------- Bulk API 2.0

def _bulk_value(value: Any) -> str:
    return BULK_NULL if value is None or value == "" else str(value)


def _bulk(sf: Salesforce, sobject: str, operation: str, chunk: list[dict[str, Any]], options: WriteOptions,
          calls: list[int]) -> list[RecordOutcome]:
    """One ingest job for the chunk; every record's outcome read from the job's three result sets."""
    header = ["Id"] if operation == "delete" else sorted({k for r in chunk for k in r},
                                                           key=lambda k: (k != "Id", k))
    rows = []
    for record in chunk:
        # a field a record does not carry stays an empty cell: unchanged (Bulk 2.0 CSV semantics)
        rows.append({k: (_bulk_value(record[k]) if k in record else "") for k in header})
    handler = getattr(sf.bulk2, sobject)
    run = {"insert": handler.insert, "update": handler.update, "delete": handler.delete}[operation]
    jobs = run(records=rows, batch_size=len(rows) + 1, wait=options.bulk_wait_seconds)
    # create, upload, close, the polls simple-salesforce makes (counted as one), the job's final state
    calls[0] += 5
    by_key: dict[tuple[str, ...], deque[int]] = defaultdict(deque)
    for i, row in enumerate(rows):
        by_key[tuple(row[k] for k in header)].append(i)
    outcomes: list[RecordOutcome | None] = [None] * len(rows)

    def take(row: dict[str, str]) -> int | None:
        queue = by_key.get(tuple(row.get(k, "") for k in header))
        return queue.popleft() if queue else None

    for job in jobs:
        job_id = job["job_id"]
        for kind, fetch in (("successful", handler.get_successful_records), ("failed", handler.get_failed_records),
                            ("unprocessed", handler.get_unprocessed_records)):
            calls[0] += 1
            for row in csv.DictReader(io.StringIO(fetch(job_id))):
                i = take(row)
                if i is None:
                    continue
                if kind == "successful":
                    outcomes[i] = RecordOutcome(True, row.get("sf__Id") or row.get("Id") or None)
                elif kind == "failed":
                    code, _, message = (row.get("sf__Error") or "UNKNOWN").partition(":")
                    outcomes[i] = RecordOutcome(False, row.get("sf__Id") or row.get("Id") or None, code.strip(),
                                                message.strip())
                else:
                    outcomes[i] = RecordOutcome(False, row.get("Id") or None, "UNPROCESSED",
                                                "left unprocessed by the Bulk job")
    # a record in none of the result sets was not processed either
    return [o or RecordOutcome(False, chunk[i].get("Id"), "UNPROCESSED", "not in the Bulk job's results")
            for i, o in enumerate(outcomes)]
