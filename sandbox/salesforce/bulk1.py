"""Bulk API 1.0 with JSON content (``/services/async/{version}/job...``), as simple-salesforce's
``sf.bulk.<Object>.insert/update/upsert/delete/hard_delete/query/query_all`` and the Airflow
Salesforce provider's bulk operator use it.

Batches are processed when they are added, so the first status poll sees ``Completed``. Errors use
Bulk 1.0's shape ``{"exceptionCode": ..., "exceptionMessage": ...}``. Query results come as one or
more result files of JSON records (``attributes`` included); dates and datetimes are epoch
milliseconds, as Bulk 1.0 JSON sends them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response

from . import soql
from .errors import ApiError
from .ids import make_id
from .schema import SObject, find_object
from .state import SandboxState
from .values import UTC, format_datetime, now_utc
from .writes import Writer

OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete", "query", "queryAll"}
RESULT_FILE_RECORDS = 100_000
MAX_BATCH_RECORDS = 10_000


class BulkError(Exception):
    """A Bulk 1.0 error: HTTP status, exceptionCode, exceptionMessage."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def exception(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"exceptionCode": code, "exceptionMessage": message}, status_code=status)


@dataclass
class Batch:
    id: str
    job_id: str
    state: str = "Queued"
    state_message: str | None = None
    created: dt.datetime = field(default_factory=now_utc)
    modstamp: dt.datetime = field(default_factory=now_utc)
    request: list[Any] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)  # ingest: one per record
    result_files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # query: id -> records
    processed: int = 0
    failed: int = 0
    processing_ms: int = 0

    def info(self) -> dict[str, Any]:
        return {"apexProcessingTime": 0, "apiActiveProcessingTime": self.processing_ms,
                "createdDate": format_datetime(self.created), "id": self.id, "jobId": self.job_id,
                "numberRecordsFailed": self.failed, "numberRecordsProcessed": self.processed, "state": self.state,
                "stateMessage": self.state_message, "systemModstamp": format_datetime(self.modstamp),
                "totalProcessingTime": self.processing_ms}


@dataclass
class ClassicJob:
    id: str
    operation: str
    obj: SObject
    api_version: str
    created_by: str
    content_type: str
    concurrency: str
    external_id_field: str | None
    state: str = "Open"
    created: dt.datetime = field(default_factory=now_utc)
    modstamp: dt.datetime = field(default_factory=now_utc)
    batches: dict[str, Batch] = field(default_factory=dict)
    kind: str = "Classic"

    def info(self) -> dict[str, Any]:
        batches = list(self.batches.values())
        count = {s: sum(1 for b in batches if b.state == s) for s in ("Queued", "InProgress", "Completed", "Failed")}
        return {
            "apexProcessingTime": 0,
            "apiActiveProcessingTime": sum(b.processing_ms for b in batches),
            "apiVersion": float(self.api_version),
            "assignmentRuleId": None,
            "concurrencyMode": self.concurrency,
            "contentType": self.content_type,
            "createdById": self.created_by,
            "createdDate": format_datetime(self.created),
            "externalIdFieldName": self.external_id_field,
            "fastPathEnabled": False,
            "id": self.id,
            "numberBatchesCompleted": count["Completed"],
            "numberBatchesFailed": count["Failed"],
            "numberBatchesInProgress": count["InProgress"],
            "numberBatchesQueued": count["Queued"],
            "numberBatchesTotal": len(batches),
            "numberRecordsFailed": sum(b.failed for b in batches),
            "numberRecordsProcessed": sum(b.processed for b in batches),
            "numberRetries": 0,
            "object": self.obj.name,
            "operation": self.operation,
            "state": self.state,
            "systemModstamp": format_datetime(self.modstamp),
            "totalProcessingTime": sum(b.processing_ms for b in batches),
        }


def _epoch_ms(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dt.date):
        return int(dt.datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp() * 1000)
    return value


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError as exc:
        raise BulkError(400, "InvalidBatch", f"Failed to parse the request body as JSON: {exc}") from exc


def handle(state: SandboxState, method: str, version: str, path: str, headers: dict[str, str],
           body: bytes) -> Response:
    """Serve one ``/services/async/{version}{path}`` call."""
    token = headers.get("x-sfdc-session")
    if not token:
        auth = headers.get("authorization", "")
        scheme, _, rest = auth.partition(" ")
        token = rest.strip() if scheme.lower() in {"bearer", "oauth"} else None
    if not state.valid_session(token):
        return exception(400, "InvalidSessionId", "Invalid session id")
    if state.api_used >= state.config.daily_api_limit:
        return exception(403, "ExceededQuota", "TotalRequests Limit exceeded.")
    state.api_used += 1
    try:
        return _route(state, method, version, path.strip("/"), body)
    except BulkError as exc:
        return exception(exc.status, exc.code, exc.message)


_JOB = r"job/(?P<job>750\w+)"
_BATCH = _JOB + r"/batch/(?P<batch>751\w+)"


def _route(state: SandboxState, method: str, version: str, path: str, body: bytes) -> Response:
    if path == "job" and method == "POST":
        return _create_job(state, version, body)
    routes: list[tuple[str, str, Any]] = [
        ("GET", _JOB, lambda m: JSONResponse(_job(state, m["job"]).info())),
        ("POST", _JOB, lambda m: _set_job_state(state, _job(state, m["job"]), body)),
        ("POST", _JOB + "/batch", lambda m: _add_batch(state, _job(state, m["job"]), body)),
        ("GET", _JOB + "/batch", lambda m: JSONResponse(
            {"batchInfo": [b.info() for b in _job(state, m["job"]).batches.values()]})),
        ("GET", _BATCH, lambda m: JSONResponse(_batch(state, m["job"], m["batch"]).info())),
        ("GET", _BATCH + "/request", lambda m: JSONResponse(_batch(state, m["job"], m["batch"]).request)),
        ("GET", _BATCH + "/result", lambda m: _results(state, m["job"], m["batch"])),
        ("GET", _BATCH + r"/result/(?P<result>752\w+)", lambda m: _result_file(state, m["job"], m["batch"],
                                                                              m["result"])),
    ]
    for verb, pattern, handler in routes:
        match = re.fullmatch(pattern, path)
        if match and verb == method:
            return handler(match)
    raise BulkError(404, "InvalidUrl", f"unknown Bulk API resource: {method} /{path}")


def _job(state: SandboxState, job_id: str) -> ClassicJob:
    job = state.jobs.get(job_id)
    if not isinstance(job, ClassicJob):
        raise BulkError(400, "InvalidJob", f"Unable to find job {job_id}")
    return job


def _batch(state: SandboxState, job_id: str, batch_id: str) -> Batch:
    batch = _job(state, job_id).batches.get(batch_id)
    if batch is None:
        raise BulkError(400, "InvalidBatch", f"Unable to find batch {batch_id} for job {job_id}")
    return batch


def _create_job(state: SandboxState, version: str, body: bytes) -> Response:
    spec = _json_body(body)
    if not isinstance(spec, dict):
        raise BulkError(400, "InvalidJob", "The job must be a JSON object with operation and object")
    operation = spec.get("operation")
    if operation not in OPERATIONS:
        raise BulkError(400, "InvalidJob", f"Invalid operation: {operation}")
    obj = find_object(str(spec.get("object") or ""))
    if obj is None:
        raise BulkError(400, "InvalidJob", f"Unable to find object: {spec.get('object')}")
    content = spec.get("contentType") or "JSON"
    if content != "JSON":
        raise BulkError(400, "InvalidJob", f"contentType {content} is not supported by the sandbox; use JSON")
    mode = spec.get("concurrencyMode", "Parallel")
    concurrency = {0: "Parallel", 1: "Serial", "0": "Parallel", "1": "Serial"}.get(mode, mode)
    if concurrency not in {"Parallel", "Serial"}:
        raise BulkError(400, "InvalidJob", f"Invalid concurrencyMode: {mode}")
    external = spec.get("externalIdFieldName")
    if operation == "upsert":
        ext = obj.field(str(external or ""))
        if ext is None or not (ext.external_id or ext.name == "Id"):
            raise BulkError(400, "InvalidJob", f"External ID was blank or not an External ID field for {obj.name}: "
                            f"{external}")
        external = ext.name
    else:
        external = None
    job = ClassicJob(make_id("750", state.next_seq()), operation, obj, version, state.user_id, content,
                     concurrency, external)
    state.jobs[job.id] = job
    return JSONResponse(job.info(), status_code=201)


def _set_job_state(state: SandboxState, job: ClassicJob, body: bytes) -> Response:
    wanted = (_json_body(body) or {}).get("state")
    if wanted not in {"Closed", "Aborted"}:
        raise BulkError(400, "InvalidJob", f"Invalid state: {wanted}; a job can be set to Closed or Aborted")
    if job.state != "Open":
        raise BulkError(400, "InvalidJobState", f"Job {job.id} is {job.state}, not Open")
    job.state = wanted
    job.modstamp = now_utc()
    return JSONResponse(job.info())


def _add_batch(state: SandboxState, job: ClassicJob, body: bytes) -> Response:
    if job.state != "Open":
        raise BulkError(400, "InvalidJobState", f"Job {job.id} is {job.state}: batches can be added only to Open jobs")
    if state.bulk_batches_used >= state.config.bulk_batch_limit:
        raise BulkError(403, "ExceededQuota", "Daily Bulk API batch limit exceeded "
                        f"({state.config.bulk_batch_limit} batches in 24 hours).")
    batch = Batch(make_id("751", state.next_seq()), job.id)
    job.batches[batch.id] = batch
    state.bulk_batches_used += 1
    started = time.perf_counter()
    injected = state.faults.fail_job(job.obj.name, "Classic") if state.faults.rules else None
    if injected:
        batch.state, batch.state_message = "Failed", injected
    elif job.operation in {"query", "queryAll"}:
        _run_query(state, job, batch, body.decode("utf-8", "replace"))
    else:
        records = _json_body(body)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise BulkError(400, "InvalidBatch", "A JSON batch must be an array of record objects")
        if len(records) > MAX_BATCH_RECORDS:
            raise BulkError(400, "InvalidBatch", f"Records in a batch exceeds {MAX_BATCH_RECORDS}")
        batch.request = records
        _run_ingest(state, job, batch, records)
    batch.processing_ms = int((time.perf_counter() - started) * 1000)
    batch.modstamp = now_utc()
    return JSONResponse(batch.info(), status_code=201)


def _run_query(state: SandboxState, job: ClassicJob, batch: Batch, text: str) -> None:
    try:
        parsed = soql.parse(text)
        if parsed.count_only:
            raise soql.SoqlError("MALFORMED_QUERY", "Aggregate Relationships not supported in Bulk Query")
        if parsed.obj is not job.obj:
            raise soql.SoqlError("INVALID_TYPE", f"the query is on {parsed.obj.name} but the job is on "
                                 f"{job.obj.name}")
        compound = [p.dotted for p in parsed.select if p.leaf.type == "address"]
        if compound:
            raise soql.SoqlError("FeatureNotEnabled", f"Cannot serialize value for '{compound[0]}'")
        rows = soql.execute(parsed, state.store, include_deleted=job.operation == "queryAll")
    except soql.SoqlError as exc:
        batch.state, batch.state_message = "Failed", f"{exc.code} : {exc.message}"
        return
    render = soql.record_serializer(parsed, state.store, job.api_version, encode=_epoch_ms)
    for start in range(0, max(len(rows), 1), RESULT_FILE_RECORDS):
        batch.result_files[make_id("752", state.next_seq())] = [render(r) for r in
                                                                 rows[start : start + RESULT_FILE_RECORDS]]
    batch.processed = len(rows)
    batch.state = "Completed"


def _ingest_payload(state: SandboxState, obj: SObject, record: dict[str, Any]) -> dict[str, Any]:
    """Resolve nested relationship lookups ``{"Account": {"External_Id__c": "x"}}`` to reference ids."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            rel = obj.relationships.get(key.lower())
            lookup = [(k, v) for k, v in value.items() if k != "attributes"]
            if rel is None or len(rel.reference_to) != 1 or len(lookup) != 1:
                raise ApiError(400, "INVALID_FIELD", f"No such relationship {key} on {obj.name}", [key])
            target = find_object(rel.reference_to[0])
            assert target is not None
            ext = target.field(lookup[0][0])
            if ext is None or not ext.external_id:
                raise ApiError(400, "INVALID_FIELD", f"{lookup[0][0]} is not an External ID on {target.name}", [key])
            matches = sorted(state.store.table(target.name).lookup_unique(ext.name, lookup[0][1]))
            if not matches:
                raise ApiError(400, "INVALID_FIELD", f"Foreign key external ID: {lookup[0][1]} not found for field "
                               f"{ext.name} in entity {target.name}", [])
            out[rel.name] = matches[0]
        else:
            out[key] = value
    return out


def _run_ingest(state: SandboxState, job: ClassicJob, batch: Batch, records: list[dict[str, Any]]) -> None:
    writer = Writer(state.store, state.user_id, state.faults)
    obj = job.obj
    faults = state.faults
    for position, record in enumerate(records, start=1):
        given = next((v for k, v in record.items() if k.lower() == "id"), None)
        try:
            if faults.rules and faults.lock_row(obj.name, position):
                raise ApiError(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or "
                               f"1 records: {given or ''}".rstrip(), [])
            payload = _ingest_payload(state, obj, record)
            created = False
            if job.operation == "insert":
                rid, created = writer.create(obj, payload), True
            elif job.operation == "update":
                if not given:
                    raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
                rid = writer.update(obj, str(given), {k: v for k, v in payload.items() if k.lower() != "id"})
            elif job.operation == "upsert":
                ext = job.external_id_field or "Id"
                key = next((v for k, v in payload.items() if k.lower() == ext.lower()), None)
                rid, created = writer.upsert(obj, ext, key, payload)
            else:
                if not given:
                    raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in a delete call", [])
                rid = writer.delete(obj, str(given))
                if job.operation == "hardDelete":
                    state.store.table(obj.name).remove(rid)
            batch.results.append({"success": True, "created": created, "id": rid, "errors": []})
        except ApiError as exc:
            if exc.status == 300:
                exc = ApiError(300, "DUPLICATE_EXTERNAL_ID", f"more than one record found for external id field "
                               f"{job.external_id_field}: {exc.message}", [])
            elif exc.code == "NOT_FOUND" and job.operation in {"update", "delete", "hardDelete"}:
                deleted = "deleted" in exc.message
                exc = ApiError(400, "ENTITY_IS_DELETED" if deleted else "INVALID_CROSS_REFERENCE_KEY",
                               "entity is deleted" if deleted else "invalid cross reference id", [])
            batch.failed += 1
            batch.results.append({"success": False, "created": False, "id": given,
                                  "errors": [{"statusCode": exc.code, "message": exc.message,
                                              "fields": exc.fields or []}]})
    batch.processed = len(records)
    batch.state = "Completed"


def _results(state: SandboxState, job_id: str, batch_id: str) -> Response:
    job = _job(state, job_id)
    batch = _batch(state, job_id, batch_id)
    if batch.state == "Failed":
        raise BulkError(400, "InvalidBatch", f"Batch {batch.id} failed: {batch.state_message}")
    if job.operation in {"query", "queryAll"}:
        return JSONResponse(list(batch.result_files))
    return JSONResponse(batch.results)


def _result_file(state: SandboxState, job_id: str, batch_id: str, result_id: str) -> Response:
    batch = _batch(state, job_id, batch_id)
    records = batch.result_files.get(result_id)
    if records is None:
        raise BulkError(400, "InvalidBatch", f"Unable to find result {result_id} for batch {batch_id}")
    return JSONResponse(records)
