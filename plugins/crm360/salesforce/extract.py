"""Describe-driven, incremental extraction of Salesforce objects into the landing zone.

* Field lists come from describe: a custom field added in the org lands on the next run; a removed
  field simply stops appearing. Compound fields (addresses, geolocations) are skipped in favour of
  their components, as the Bulk API requires.
* Incremental on SystemModstamp over the run's data interval plus an overlap window, through
  queryAll so that deleted records arrive with IsDeleted = true (marked, never dropped).
* A landed partition is history Salesforce cannot give back: it is reused, not re-extracted,
  unless `force` is set. A date before the first landed partition is filled from current state
  (records created before the interval's end, as they are now), and the result says so.
* Completeness: a SOQL COUNT() over the same window must equal the rows landed.
* Large extracts use a Bulk API 2.0 queryAll job (CSV pages), small ones REST; rows stream into
  the partition file written aside, published atomically only when complete.
* Transient faults (5xx, dropped connections, expired sessions, failed Bulk jobs) are retried with
  exponential backoff, from scratch, then fail with a message naming the object and date.
* Schema drift: fields added or removed since the previous partition are logged as a warning and
  recorded in `crm360_ops.sf_extracts`.
* Forgotten people (`crm360.privacy`): rows carrying an identifier on the suppression list (their
  Contact or Lead Id, wherever a row points at it, their email or phone) are dropped before they are
  written and counted as suppressed; COUNT() = rows landed + rows suppressed.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from crm360 import landing
from crm360.rundate import RunWindow
from crm360.salesforce import client
from crm360.salesforce.client import SalesforceSession, is_transient  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

    from crm360.privacy import Suppression

log = logging.getLogger(__name__)

SOURCE = "salesforce"
REST_PAGE_SIZE = 2000
BULK_PAGE_SIZE = 50_000
BATCH_ROWS = 10_000
T = TypeVar("T")
SKIPPED_TYPES = {"address", "location", "base64"}

_ARROW_TYPES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "int": pa.int64(),
    "long": pa.int64(),
    "double": pa.float64(),
    "currency": pa.float64(),
    "percent": pa.float64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
}


class ExtractError(RuntimeError):
    """Extraction could not produce a complete, trustworthy partition."""


@dataclass(frozen=True)
class ObjectExtract:
    sobject: str
    ds: str
    mode: str  # incremental | current_state | reused
    rows: int
    deleted: int
    expected: int | None
    path: Path
    fields: int
    window_start: datetime | None
    window_end: datetime | None
    method: str = "reused"  # rest | bulk | reused
    newest_modstamp: datetime | None = None
    added_fields: list[str] = field(default_factory=list)
    removed_fields: list[str] = field(default_factory=list)
    suppressed: int = 0  # rows of forgotten people, dropped (crm360.privacy)


def entity_name(sobject: str) -> str:
    return sobject.lower()


def soql_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_fields(sf: Salesforce, sobject: str) -> list[dict[str, Any]]:
    """The object's queryable scalar fields, from describe."""
    described = getattr(sf, sobject).describe()
    return [f for f in described["fields"] if f.get("type") not in SKIPPED_TYPES]


def arrow_schema(fields: list[dict[str, Any]]) -> pa.Schema:
    return pa.schema([pa.field(f["name"], _ARROW_TYPES.get(f["type"], pa.string())) for f in fields])


def _parse_datetime(value: str) -> datetime:
    # Salesforce: 2026-11-20T03:04:05.000+0000
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def _convert(value: Any, sf_type: str) -> Any:
    if value is None:
        return None
    if sf_type == "datetime":
        return _parse_datetime(value)
    if sf_type == "date":
        return date.fromisoformat(value)
    if sf_type in ("int", "long"):
        return int(value)
    if sf_type in ("double", "currency", "percent"):
        return float(value)
    if sf_type == "boolean":
        return bool(value) if not isinstance(value, str) else value.lower() == "true"
    if isinstance(value, (dict, list)):
        return str(value)
    return value


def records_to_table(records: list[dict[str, Any]], fields: list[dict[str, Any]]) -> pa.Table:
    schema = arrow_schema(fields)
    columns = {
        f["name"]: [_convert(r.get(f["name"]), f["type"]) for r in records] for f in fields
    }
    return pa.table(columns, schema=schema)


def plan_window(root: Path, sobject: str, window: RunWindow, overlap: timedelta) -> tuple[str, str]:
    """(mode, where-clause) for this object and run."""
    dates = landing.landed_dates(root, SOURCE, entity_name(sobject))
    end = soql_datetime(window.end)
    if not dates or window.ds_str < dates[0]:
        return "current_state", f"CreatedDate < {end}"
    start = soql_datetime(window.start - overlap)
    return "incremental", f"SystemModstamp >= {start} AND SystemModstamp < {end}"


def count_rows(sf: Salesforce, sobject: str, where: str) -> int:
    # query(), not query_all(): simple-salesforce's query_all() recomputes totalSize as the number of
    # records it collected, which is 0 for COUNT().
    return int(sf.query(f"SELECT COUNT() FROM {sobject} WHERE {where}", include_deleted=True)["totalSize"])


def choose_method(expected_rows: int, bulk_threshold: int) -> str:
    """Bulk API 2.0 for large extracts (few calls, CSV pages), REST for small ones (no job overhead)."""
    return "bulk" if bulk_threshold > 0 and expected_rows >= bulk_threshold else "rest"


def estimate_api_calls(expected_rows: int, method: str = "rest") -> int:
    """API calls to extract `expected_rows` (plus describe and count)."""
    if method == "bulk":  # create job, a few status polls, one call per result page
        return 2 + 4 + max(1, math.ceil(expected_rows / BULK_PAGE_SIZE))
    return 2 + max(1, math.ceil(expected_rows / REST_PAGE_SIZE))


# ----------------------------------------------------------------------------- retries

def with_retries(session: SalesforceSession, what: str, attempt: Callable[[Salesforce], T], *,
                 attempts: int = 3, wait_seconds: float = 2.0) -> T:
    """`client.with_retries` for extraction: gives up with an ExtractError saying nothing was landed."""
    return client.with_retries(session, what, attempt, attempts=attempts, wait_seconds=wait_seconds,
                               error_type=ExtractError,
                               consequence="Nothing was landed for it; re-run the task when Salesforce answers again.")


# ----------------------------------------------------------------------------- schema drift

def schema_changes(root: Path, sobject: str, ds: str, fields: list[str]) -> tuple[list[str], list[str]]:
    """(added, removed) field names compared with the newest partition landed before `ds`."""
    import pyarrow.parquet as pq

    earlier = [d for d in landing.landed_dates(root, SOURCE, entity_name(sobject)) if d < ds]
    if not earlier:
        return [], []
    before = pq.read_schema(landing.partition_path(root, SOURCE, entity_name(sobject), earlier[-1])).names
    return sorted(set(fields) - set(before)), sorted(set(before) - set(fields))


# ----------------------------------------------------------------------------- extraction

def _rest_batches(sf: Salesforce, soql: str, fields: list[dict[str, Any]]) -> Iterator[pa.Table]:
    batch: list[dict[str, Any]] = []
    for record in sf.query_all_iter(soql, include_deleted=True):
        batch.append(record)
        if len(batch) >= BATCH_ROWS:
            yield records_to_table(batch, fields)
            batch = []
    if batch:
        yield records_to_table(batch, fields)


def _csv_options(fields: list[dict[str, Any]]) -> tuple[Any, Any]:
    from pyarrow import csv as pacsv

    schema = arrow_schema(fields)
    read = pacsv.ReadOptions(block_size=1 << 24)
    convert = pacsv.ConvertOptions(
        column_types={f.name: f.type for f in schema}, strings_can_be_null=True, null_values=[""],
        true_values=["true"], false_values=["false"], timestamp_parsers=[pacsv.ISO8601])
    return read, convert


def _bulk_batches(sf: Salesforce, sobject: str, soql: str, fields: list[dict[str, Any]],
                  wait_seconds: float) -> Iterator[pa.Table]:
    """Bulk API 2.0 queryAll job; each result page (CSV) becomes one Arrow table."""
    from pyarrow import csv as pacsv

    read, convert = _csv_options(fields)
    for page in getattr(sf.bulk2, sobject).query_all(soql, max_records=BULK_PAGE_SIZE, wait=wait_seconds):
        data = page.encode("utf-8") if isinstance(page, str) else page
        if data.strip():
            yield pacsv.read_csv(io.BytesIO(data), read_options=read, convert_options=convert)


def extract_object(session: SalesforceSession, sobject: str, window: RunWindow, root: Path,
                   overlap: timedelta, force: bool = False, *, bulk_threshold: int = 0,
                   attempts: int = 3, retry_wait_seconds: float = 2.0,
                   bulk_wait_seconds: float = 5.0, suppression: Suppression | None = None) -> ObjectExtract:
    """Land one object's changes for the run's date; see the module docstring for the rules."""
    entity = entity_name(sobject)
    target = landing.partition_path(root, SOURCE, entity, window.ds_str)
    if target.exists() and not force:
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(target).metadata.num_rows
        log.info("%s ds=%s already landed (%d rows): reused, not re-extracted", sobject, window.ds_str, rows)
        return ObjectExtract(sobject, window.ds_str, "reused", rows, 0, None, target, 0, None, None)

    mode, where = plan_window(root, sobject, window, overlap)
    what = f"{sobject} ds={window.ds_str}"

    def attempt(sf: Salesforce) -> ObjectExtract:
        fields = describe_fields(sf, sobject)
        names = [f["name"] for f in fields]
        expected = count_rows(sf, sobject, where)
        method = choose_method(expected, bulk_threshold)
        if method == "bulk":  # Bulk API 2.0 does not take ORDER BY on large jobs; order is irrelevant here
            batches = _bulk_batches(sf, sobject, f"SELECT {', '.join(names)} FROM {sobject} WHERE {where}",
                                    fields, bulk_wait_seconds)
        else:
            batches = _rest_batches(
                sf, f"SELECT {', '.join(names)} FROM {sobject} WHERE {where} ORDER BY SystemModstamp, Id", fields)
        deleted = 0
        suppressed = 0
        newest: datetime | None = None
        with landing.PartitionWriter(root, SOURCE, entity, window.ds_str, arrow_schema(fields)) as writer:
            for table in batches:
                if suppression:
                    table, dropped = suppression.filter(table, SOURCE, entity)
                    suppressed += dropped
                writer.write(table)
                deleted += int(pc.sum(pc.fill_null(table["IsDeleted"], False)).as_py() or 0) \
                    if "IsDeleted" in table.column_names else 0
                if "SystemModstamp" in table.column_names and table.num_rows:
                    top = pc.max(table["SystemModstamp"]).as_py()
                    newest = top if newest is None or (top is not None and top > newest) else newest
            if writer.rows + suppressed != expected:
                raise ExtractError(
                    f"{what}: COUNT() says {expected} records in the window but {writer.rows + suppressed} were "
                    "returned "
                    f"({method}); nothing was landed. Re-run the task; if it persists, check for records "
                    "changing during extraction.")
            path = writer.publish()
        added, removed = schema_changes(root, sobject, window.ds_str, names)
        if added or removed:
            log.warning("%s: schema changed since the previous partition: added %s; removed %s. Added fields "
                        "land from now on; removed ones are null from this date.", what, added or "none",
                        removed or "none")
        if mode == "current_state":
            log.warning("%s: no earlier partition, filled from current state (%d records created before %s)",
                        what, writer.rows, soql_datetime(window.end))
        start = window.start - overlap if mode == "incremental" else None
        return ObjectExtract(sobject, window.ds_str, mode, writer.rows, deleted, expected, path, len(fields),
                             start, window.end, method=method, newest_modstamp=newest, added_fields=added,
                             removed_fields=removed, suppressed=suppressed)

    return with_retries(session, what, attempt, attempts=attempts, wait_seconds=retry_wait_seconds)
