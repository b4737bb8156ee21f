"""Bulk API 2.0: ingest jobs (CSV upload, processing, result CSVs) and query jobs (paged CSV results).

Jobs run synchronously: an ingest job is processed when its state is set to UploadComplete and a
query job when it is created, so the first status poll already sees JobComplete.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from . import soql
from .errors import ApiError
from .ids import make_id
from .rest import Ctx, ok, route
from .schema import SObject, find_object
from .values import format_datetime, now_utc

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
INTERNAL_BATCH = 10_000


@dataclass
class Job:
    """One Bulk API 2.0 job, ingest or query."""

    id: str
    kind: str  # V2Ingest | V2Query
    operation: str
    obj: SObject
    api_version: str
    created_by: str
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    external_id_field: str | None = None
    query: soql.Query | None = None
    state: str = "Open"
    created: Any = field(default_factory=now_utc)
    modstamp: Any = field(default_factory=now_utc)
    uploads: list[bytes] = field(default_factory=list)
    upload_bytes: int = 0
    columns: list[str] = field(default_factory=list)
    successes: list[tuple[str, bool, list[str]]] = field(default_factory=list)
    failures: list[tuple[str, str, list[str]]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    error_message: str | None = None
    processing_ms: int = 0

    @property
    def processed(self) -> int:
        if self.kind == "V2Query":
            return len(self.rows)
        return len(self.successes) + len(self.failures)

    def info(self, detail: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.obj.name,
            "createdById": self.created_by,
            "createdDate": format_datetime(self.created),
            "systemModstamp": format_datetime(self.modstamp),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "jobType": self.kind,
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if self.kind == "V2Ingest":
            body["externalIdFieldName"] = self.external_id_field
            body["contentUrl"] = f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"
        else:
            body["query"] = self.query.text if self.query else None
        if detail:
            body.update({
                "numberRecordsProcessed": self.processed,
                "retries": 0,
                "totalProcessingTime": self.processing_ms,
            })
            if self.kind == "V2Ingest":
                body.update({"numberRecordsFailed": len(self.failures), "apiActiveProcessingTime": self.processing_ms,
                             "apexProcessingTime": 0})
            if self.error_message:
                body["errorMessage"] = self.error_message
        if body.get("externalIdFieldName") is None:
            body.pop("externalIdFieldName", None)
        return body


def _job(ctx: Ctx, job_id: str, kind: str) -> Job:
    job = ctx.state.jobs.get(job_id)
    if job is None or job.kind != kind:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return job


def _new_job_id(ctx: Ctx) -> str:
    return make_id("750", ctx.state.next_seq())


def _options(body: dict[str, Any]) -> tuple[str, str]:
    delimiter = body.get("columnDelimiter") or "COMMA"
    ending = body.get("lineEnding") or "LF"
    if delimiter not in DELIMITERS:
        raise ApiError(400, "INVALIDJOB", f"Invalid column delimiter: {delimiter}")
    if ending not in LINE_ENDINGS:
        raise ApiError(400, "INVALIDJOB", f"Invalid line ending: {ending}")
    return delimiter, ending


def _body(ctx: Ctx) -> dict[str, Any]:
    body = ctx.json()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return body


# ---------------------------------------------------------------------- ingest


def check_batch_limit(ctx: Ctx) -> None:
    """Bulk API batches (1.0 batches and 2.0's internal 10,000-record batches) share a daily allocation."""
    if ctx.state.bulk_batches_used >= ctx.state.config.bulk_batch_limit:
        raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "Daily Bulk API batch limit exceeded "
                       f"({ctx.state.config.bulk_batch_limit} batches in 24 hours).")


@route("POST", "jobs/ingest")
def create_ingest(ctx: Ctx) -> Response:
    body = _body(ctx)
    check_batch_limit(ctx)
    operation = body.get("operation")
    if operation not in INGEST_OPERATIONS:
        raise ApiError(400, "INVALIDJOB", f"Invalid operation: {operation}")
    name = body.get("object") or ""
    obj = find_object(name)
    if obj is None:
        raise ApiError(400, "INVALIDENTITY", f"Entity '{name}' is not supported by the Bulk API.")
    if (body.get("contentType") or "CSV") != "CSV":
        raise ApiError(400, "INVALIDJOB", "Only CSV content is supported")
    external = body.get("externalIdFieldName")
    if operation == "upsert":
        ext_field = obj.field(external or "")
        if ext_field is None or not (ext_field.external_id or ext_field.name == "Id"):
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Field name provided, {external} is not an External Id "
                           f"or indexed field for {obj.name}")
        external = ext_field.name
    delimiter, ending = _options(body)
    job = Job(_new_job_id(ctx), "V2Ingest", operation, obj, ctx.version, ctx.state.user_id, delimiter,
              ending, external if operation == "upsert" else None)
    ctx.state.jobs[job.id] = job
    return ok(job.info(detail=False))


@route("GET", "jobs/ingest")
def list_ingest(ctx: Ctx) -> Response:
    jobs = [j.info(detail=False) for j in ctx.state.jobs.values() if j.kind == "V2Ingest"]
    return ok({"done": True, "records": jobs, "nextRecordsUrl": None})


@route("GET", r"jobs/ingest/(?P<job_id>750\w+)")
def get_ingest(ctx: Ctx, job_id: str) -> Response:
    return ok(_job(ctx, job_id, "V2Ingest").info())


@route("PUT", r"jobs/ingest/(?P<job_id>750\w+)/batches")
def upload(ctx: Ctx, job_id: str) -> Response:
    job = _job(ctx, job_id, "V2Ingest")
    if job.state != "Open":
        raise ApiError(400, "INVALIDJOBSTATE", f"Job {job.id} is not in the Open state; it is {job.state}")
    if job.upload_bytes + len(ctx.body) > ctx.state.config.bulk_ingest_max_bytes:
        raise ApiError(400, "INVALIDBATCH", "Maximum upload size exceeded for this job "
                       f"({ctx.state.config.bulk_ingest_max_bytes} bytes)")
    job.uploads.append(ctx.body)
    job.upload_bytes += len(ctx.body)
    return Response(status_code=201)


@route("PATCH", r"jobs/ingest/(?P<job_id>750\w+)")
def set_ingest_state(ctx: Ctx, job_id: str) -> Response:
    job = _job(ctx, job_id, "V2Ingest")
    wanted = _body(ctx).get("state")
    if wanted == "UploadComplete":
        if job.state != "Open":
            raise ApiError(400, "INVALIDJOBSTATE", f"Job {job.id} is not in the Open state; it is {job.state}")
        job.state = "UploadComplete"
        response = job.info(detail=False)
        _process_ingest(ctx, job)
        return ok(response)
    if wanted == "Aborted":
        if job.state in {"JobComplete", "Failed", "Aborted"}:
            raise ApiError(400, "INVALIDJOBSTATE", f"Job {job.id} is already {job.state}")
        job.state = "Aborted"
        job.modstamp = now_utc()
        return ok(job.info(detail=False))
    raise ApiError(400, "INVALIDJOBSTATE", f"Cannot set job state to {wanted}")


@route("DELETE", r"jobs/ingest/(?P<job_id>750\w+)")
def delete_ingest(ctx: Ctx, job_id: str) -> Response:
    job = _job(ctx, job_id, "V2Ingest")
    if job.state not in {"JobComplete", "Failed", "Aborted", "UploadComplete"}:
        raise ApiError(400, "INVALIDJOBSTATE", f"Job {job.id} must be closed before it is deleted")
    del ctx.state.jobs[job.id]
    return Response(status_code=204)


def _csv_text(job: Job, header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=DELIMITERS[job.column_delimiter],
                        lineterminator=LINE_ENDINGS[job.line_ending], quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _csv(text: str) -> Response:
    return Response(text, media_type="text/csv; charset=UTF-8")


@route("GET", r"jobs/ingest/(?P<job_id>750\w+)/(?P<kind>(?i:successfulResults|failedResults|unprocessedRecords))")
def ingest_results(ctx: Ctx, job_id: str, kind: str) -> Response:
    job = _job(ctx, job_id, "V2Ingest")
    kind = kind.lower()
    if kind == "successfulresults":
        rows = [[rid, "true" if created else "false", *values] for rid, created, values in job.successes]
        return _csv(_csv_text(job, ["sf__Id", "sf__Created", *job.columns], rows))
    if kind == "failedresults":
        rows = [[rid, error, *values] for rid, error, values in job.failures]
        return _csv(_csv_text(job, ["sf__Id", "sf__Error", *job.columns], rows))
    return _csv(_csv_text(job, job.columns, job.unprocessed))


def _error_text(exc: ApiError) -> str:
    return f"{exc.code}:{exc.message}:{','.join(exc.fields or []) or '--'}"


def _resolve_reference_column(ctx: Ctx, obj: SObject, column: str) -> tuple[str, SObject, str] | None:
    """``Account.Crm360_Customer_Id__c`` style columns: (reference field, target object, external field)."""
    if "." not in column:
        return None
    rel_name, ext_name = column.split(".", 1)
    if rel_name.lower() in {"attributes"}:
        return None
    rel = obj.relationships.get(rel_name.lower())
    if rel is None or len(rel.reference_to) != 1:
        return None
    target = find_object(rel.reference_to[0])
    if target is None:
        return None
    ext = target.field(ext_name)
    if ext is None or not (ext.external_id or ext.name == "Id"):
        return None
    return rel.name, target, ext.name


def _process_ingest(ctx: Ctx, job: Job) -> None:
    started = time.perf_counter()
    text = b"".join(job.uploads).decode("utf-8-sig", "replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.column_delimiter])
    rows = [row for row in reader if row]
    job.modstamp = now_utc()
    injected = ctx.state.faults.fail_job(job.obj.name, "V2Ingest")
    if injected:
        job.state = "Failed"
        job.error_message = injected
        job.columns = rows[0] if rows else []
        job.unprocessed = rows[1:]
        return
    if not rows:
        job.state = "Failed"
        job.error_message = "InvalidBatch : No data was uploaded for this job"
        return
    header, data = rows[0], rows[1:]
    job.columns = header
    obj = job.obj
    refs: dict[str, tuple[str, SObject, str]] = {}
    for column in header:
        ref = _resolve_reference_column(ctx, obj, column)
        if ref is not None:
            refs[column] = ref
        elif obj.field(column) is None:
            job.state = "Failed"
            job.error_message = f"InvalidBatch : Field name not found : {column}"
            job.unprocessed = data
            return
    if job.operation in {"delete", "hardDelete"} and [c.lower() for c in header] != ["id"]:
        job.state = "Failed"
        job.error_message = "InvalidBatch : The 'delete' batch must contain only ids"
        job.unprocessed = data
        return
    from .writes import Writer

    writer = Writer(ctx.state.store, ctx.state.user_id, ctx.state.faults)
    store = ctx.state.store
    faults = ctx.state.faults
    for position, values in enumerate(data, start=1):
        values = values + [""] * (len(header) - len(values))
        record: dict[str, Any] = {}
        rid_given = ""
        try:
            if faults.rules and faults.lock_row(obj.name, position):
                given = next((v for k, v in zip(header, values, strict=False) if k.lower() == "id"), "")
                raise ApiError(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or "
                               f"1 records: {given}".rstrip(), [])
            for column, value in zip(header, values, strict=False):
                if column in refs:
                    if value == "":
                        continue
                    ref_field, target, ext_name = refs[column]
                    matches = store.table(target.name).lookup_unique(ext_name, value) if ext_name != "Id" else {value}
                    if not matches:
                        raise ApiError(400, "INVALID_FIELD", f"Foreign key external ID: {value} not found for field "
                                       f"{ext_name} in entity {target.name}", [])
                    record[ref_field] = sorted(matches)[0]
                else:
                    record[column] = value
            if job.operation == "insert":
                rid, created = writer.create(obj, record, from_csv=True), True
            elif job.operation == "update":
                rid_given = next((v for k, v in record.items() if k.lower() == "id"), "")
                if not rid_given:
                    raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
                body = {k: v for k, v in record.items() if k.lower() != "id"}
                rid, created = writer.update(obj, rid_given, body, from_csv=True), False
            elif job.operation == "upsert":
                ext = job.external_id_field or "Id"
                key = next((v for k, v in record.items() if k.lower() == ext.lower()), "")
                rid, created = writer.upsert(obj, ext, key, record, from_csv=True)
            else:
                rid_given = record.get("Id") or next(iter(record.values()), "")
                rid = writer.delete(obj, rid_given)
                if job.operation == "hardDelete":
                    store.table(obj.name).remove(rid)
                created = False
            job.successes.append((rid, created, values))
        except ApiError as exc:
            if exc.status == 300:
                exc = ApiError(300, "DUPLICATE_EXTERNAL_ID", f"more than one record found for external id field "
                               f"{job.external_id_field}: {exc.message}", [])
            if exc.code == "NOT_FOUND" and job.operation in {"update", "delete", "hardDelete"}:
                exc = ApiError(400, "ENTITY_IS_DELETED" if "deleted" in exc.message else "INVALID_CROSS_REFERENCE_KEY",
                               "entity is deleted" if "deleted" in exc.message else "invalid cross reference id", [])
            job.failures.append((rid_given, _error_text(exc), values))
    batches = max(1, -(-len(data) // INTERNAL_BATCH))
    ctx.state.bulk_batches_used += batches
    job.state = "JobComplete"
    job.processing_ms = int((time.perf_counter() - started) * 1000)
    job.modstamp = now_utc()


# ---------------------------------------------------------------------- query


@route("POST", "jobs/query")
def create_query(ctx: Ctx) -> Response:
    body = _body(ctx)
    operation = body.get("operation") or "query"
    if operation not in {"query", "queryAll"}:
        raise ApiError(400, "INVALIDJOB", f"Invalid operation: {operation}")
    text = body.get("query")
    if not text:
        raise ApiError(400, "INVALIDJOB", "A query is required for a query job")
    try:
        parsed = soql.parse(text)
    except soql.SoqlError as exc:
        raise ApiError(400, exc.code, exc.message) from exc
    delimiter, ending = _options(body)
    if parsed.count_only:
        raise ApiError(400, "API_ERROR", "Aggregate queries are not supported by the Bulk API")
    if ctx.state.bulk_query_jobs_used >= ctx.state.config.bulk_query_job_limit:
        raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "Daily Bulk API 2.0 query job limit exceeded "
                       f"({ctx.state.config.bulk_query_job_limit} jobs in 24 hours).")
    compound = [p.dotted for p in parsed.select if p.leaf.type == "address"]
    job = Job(_new_job_id(ctx), "V2Query", operation, parsed.obj, ctx.version, ctx.state.user_id, delimiter, ending,
              query=parsed,
              state="UploadComplete")
    ctx.state.jobs[job.id] = job
    ctx.state.bulk_query_jobs_used += 1
    response = job.info(detail=False)
    started = time.perf_counter()
    injected = ctx.state.faults.fail_job(parsed.obj.name, "V2Query")
    if compound:
        job.state = "Failed"
        job.error_message = f"FeatureNotEnabled : Cannot serialize value for '{compound[0]}' in CSV format"
    elif injected:
        job.state = "Failed"
        job.error_message = injected
    else:
        job.rows = soql.execute(parsed, ctx.state.store, include_deleted=operation == "queryAll")
        job.state = "JobComplete"
    job.processing_ms = int((time.perf_counter() - started) * 1000)
    job.modstamp = now_utc()
    return ok(response)


@route("GET", "jobs/query")
def list_query(ctx: Ctx) -> Response:
    jobs = [j.info(detail=False) for j in ctx.state.jobs.values() if j.kind == "V2Query"]
    return ok({"done": True, "records": jobs, "nextRecordsUrl": None})


@route("GET", r"jobs/query/(?P<job_id>750\w+)")
def get_query(ctx: Ctx, job_id: str) -> Response:
    return ok(_job(ctx, job_id, "V2Query").info())


@route("PATCH", r"jobs/query/(?P<job_id>750\w+)")
def abort_query(ctx: Ctx, job_id: str) -> Response:
    job = _job(ctx, job_id, "V2Query")
    if _body(ctx).get("state") != "Aborted":
        raise ApiError(400, "INVALIDJOBSTATE", "Query jobs can only be set to Aborted")
    if job.state in {"JobComplete", "Failed", "Aborted"}:
        raise ApiError(400, "INVALIDJOBSTATE", f"Job {job.id} is already {job.state}")
    job.state = "Aborted"
    return ok(job.info(detail=False))


@route("DELETE", r"jobs/query/(?P<job_id>750\w+)")
def delete_query(ctx: Ctx, job_id: str) -> Response:
    job = _job(ctx, job_id, "V2Query")
    del ctx.state.jobs[job.id]
    return Response(status_code=204)


def _encode_locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _decode_locator(locator: str) -> int:
    try:
        return int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
    except (ValueError, binascii.Error) as exc:
        raise ApiError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from exc


@route("GET", r"jobs/query/(?P<job_id>750\w+)/results")
def query_results(ctx: Ctx, job_id: str) -> Response:
    job = _job(ctx, job_id, "V2Query")
    if job.state != "JobComplete":
        raise ApiError(400, "INVALIDJOBSTATE", f"Job {job.id} is {job.state}; results are available once it is "
                       "JobComplete")
    assert job.query is not None
    locator = ctx.params.get("locator")
    offset = _decode_locator(locator) if locator and locator != "null" else 0
    max_records = ctx.params.get("maxRecords")
    try:
        size = int(max_records) if max_records else len(job.rows)
    except ValueError as exc:
        raise ApiError(400, "INVALIDREQUEST", f"maxRecords must be a positive integer, got {max_records}") from exc
    if size <= 0:
        raise ApiError(400, "INVALIDREQUEST", "maxRecords must be a positive integer")
    page = job.rows[offset : offset + size]
    getters = soql.csv_row_getters(job.query, ctx.state.store)
    text = _csv_text(job, job.query.columns, [[g(r) for g in getters] for r in page])
    next_offset = offset + len(page)
    headers = {
        "Sforce-NumberOfRecords": str(len(page)),
        "Sforce-Locator": _encode_locator(next_offset) if next_offset < len(job.rows) else "null",
    }
    return Response(text, media_type="text/csv; charset=UTF-8", headers=headers)
