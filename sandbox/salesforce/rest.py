"""REST resources under ``/services/data/v{version}/``: query, sObjects, describe, collections, limits."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from . import soql
from .errors import ApiError, invalid_type, not_found
from .faults import Faults
from .ids import to18
from .schema import SCHEMA, SObject, find_object, object_for_id
from .state import Cursor, SandboxState
from .values import format_datetime, parse_datetime, to_json
from .writes import Writer

MIN_BATCH = 200


@dataclass
class Ctx:
    """One authenticated REST call."""

    state: SandboxState
    method: str
    version: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}", []) from exc

    @property
    def writer(self) -> Writer:
        return Writer(self.state.store, self.state.user_id, self.state.faults)

    def url(self, obj: str, rid: str) -> str:
        return f"/services/data/v{self.version}/sobjects/{obj}/{rid}"


Handler = Callable[..., Response]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}/?$"), func))
        return func

    return register


def dispatch(ctx: Ctx, rest_path: str) -> Response:
    """Find the handler for ``rest_path`` (the part after ``/services/data/vXX.X/``) and run it."""
    path = rest_path.strip("/")
    allowed = False
    for method, pattern, handler in ROUTES:
        match = pattern.match(path)
        if match:
            allowed = True
            if method == ctx.method:
                return handler(ctx, **match.groupdict())
    if allowed:
        raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{ctx.method}' not allowed. Allowed are GET,HEAD")
    raise not_found()


def _obj(name: str) -> SObject:
    obj = find_object(name)
    if obj is None:
        raise not_found()
    return obj


def ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


# ---------------------------------------------------------------------- service documents


@route("GET", "")
def resources(ctx: Ctx) -> Response:
    base = f"/services/data/v{ctx.version}"
    names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs", "search", "tooling"]
    return ok({name: f"{base}/{name}" for name in names})


@route("GET", "limits")
def limits(ctx: Ctx) -> Response:
    cfg = ctx.state.config
    state = ctx.state

    def pair(total: int, used: int = 0) -> dict[str, int]:
        return {"Max": total, "Remaining": max(total - used, 0)}

    return ok({
        "ConcurrentAsyncGetReportInstances": pair(200),
        "ConcurrentSyncReportRuns": pair(20),
        "DailyApiRequests": pair(cfg.daily_api_limit, state.api_used),
        "DailyAsyncApexExecutions": pair(250000),
        "DailyBulkApiBatches": pair(cfg.bulk_batch_limit, state.bulk_batches_used),
        "DailyBulkV2QueryFileStorageMB": pair(976562),
        "DailyBulkV2QueryJobs": pair(cfg.bulk_query_job_limit, state.bulk_query_jobs_used),
        "DailyDurableGenericStreamingApiEvents": pair(10000),
        "DailyDurableStreamingApiEvents": pair(10000),
        "DailyGenericStreamingApiEvents": pair(10000),
        "DailyStandardVolumePlatformEvents": pair(10000),
        "DailyStreamingApiEvents": pair(10000),
        "DailyWorkflowEmails": pair(1000),
        "DataStorageMB": pair(1024),
        "FileStorageMB": pair(1024),
        "HourlyAsyncReportRuns": pair(1200),
        "HourlyDashboardRefreshes": pair(200),
        "HourlyODataCallout": pair(10000),
        "HourlySyncReportRuns": pair(500),
        "MassEmail": pair(5000),
        "PermissionSets": {"Max": 1500, "Remaining": 1500},
        "SingleEmail": pair(5000),
    })


def _object_summary(ctx: Ctx, obj: SObject) -> dict[str, Any]:
    base = f"/services/data/v{ctx.version}/sobjects/{obj.name}"
    return {
        "activateable": False, "associateEntityType": None, "associateParentEntity": None,
        "createable": obj.createable, "custom": False, "customSetting": False, "deepCloneable": False,
        "deletable": obj.deletable, "deprecatedAndHidden": False, "feedEnabled": False, "hasSubtypes": False,
        "isInterface": False, "isSubtype": False, "keyPrefix": obj.key_prefix, "label": obj.label,
        "labelPlural": obj.label_plural, "layoutable": True, "mergeable": obj.name in {"Account", "Contact", "Lead"},
        "mruEnabled": True, "name": obj.name, "queryable": True, "replicateable": True, "retrieveable": True,
        "searchable": True, "triggerable": True, "undeletable": obj.deletable, "updateable": obj.updateable,
        "urls": {"rowTemplate": f"{base}/{{ID}}", "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
                 "describe": f"{base}/describe", "sobject": base},
    }


@route("GET", "sobjects")
def describe_global(ctx: Ctx) -> Response:
    return ok({"encoding": "UTF-8", "maxBatchSize": 200,
               "sobjects": [_object_summary(ctx, obj) for obj in SCHEMA.values()]})


@route("GET", r"sobjects/(?P<name>\w+)")
def sobject_basic(ctx: Ctx, name: str) -> Response:
    obj = _obj(name)
    return ok({"objectDescribe": _object_summary(ctx, obj), "recentItems": []})


@route("GET", r"sobjects/(?P<name>\w+)/describe")
def describe(ctx: Ctx, name: str) -> Response:
    obj = _obj(name)
    children = []
    for other in SCHEMA.values():
        for f in other.fields.values():
            if f.type == "reference" and obj.name in f.reference_to and f.name not in {
                "CreatedById", "LastModifiedById", "OwnerId", "MasterRecordId"
            }:
                children.append({
                    "cascadeDelete": False, "childSObject": other.name, "deprecatedAndHidden": False,
                    "field": f.name, "junctionIdListNames": [], "junctionReferenceTo": [],
                    "relationshipName": (other.label_plural.replace(" ", "") if f.name != "ParentId"
                                         else "ChildAccounts"),
                    "restrictedDelete": False,
                })
    body = _object_summary(ctx, obj)
    body.update({
        "actionOverrides": [], "childRelationships": children, "compactLayoutable": True,
        "defaultImplementation": None, "extendedBy": None, "extendsInterfaces": None,
        "fields": [f.describe() for f in obj.fields.values()], "implementedBy": None, "implementsInterfaces": None,
        "listviewable": None, "lookupLayoutable": None, "namedLayoutInfos": [], "networkScopeFieldName": None,
        "recordTypeInfos": [], "searchLayoutable": True, "sobjectDescribeOption": "FULL", "supportedScopes": [
            {"label": "All records", "name": "everything"}, {"label": "My records", "name": "mine"}],
    })
    return ok(body)


# ---------------------------------------------------------------------- records


def _record_json(ctx: Ctx, obj: SObject, record: dict[str, Any], fields: list[str] | None = None) -> dict[str, Any]:
    names = fields if fields is not None else list(obj.fields)
    paths = []
    for name in names:
        f = obj.field(name)
        if f is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'. If you are "
                           "attempting to use a custom field, be sure to append the '__c' after the custom field "
                           "name. Please reference your WSDL or the describe call for the appropriate names.")
        paths.append(soql.Path([], f, [f.name]))
    query = soql.Query("", obj, paths, False, None, [], None, 0)
    return soql.record_serializer(query, ctx.state.store, ctx.version)(record)


@route("POST", r"sobjects/(?P<name>\w+)")
def create(ctx: Ctx, name: str) -> Response:
    obj = _obj(name)
    body = ctx.json()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object", [])
    rid = ctx.writer.create(obj, body)
    return ok({"id": rid, "success": True, "errors": []}, 201)


def _get_live(ctx: Ctx, obj: SObject, rid: str) -> dict[str, Any]:
    return ctx.writer.live(obj, rid)


@route("GET", r"sobjects/(?P<name>\w+)/(?P<rid>[A-Za-z0-9]{15}|[A-Za-z0-9]{18})")
def get_record(ctx: Ctx, name: str, rid: str) -> Response:
    obj = _obj(name)
    record = _get_live(ctx, obj, rid)
    fields = [f.strip() for f in ctx.params["fields"].split(",") if f.strip()] if ctx.params.get("fields") else None
    return ok(_record_json(ctx, obj, record, fields))


@route("PATCH", r"sobjects/(?P<name>\w+)/(?P<rid>[A-Za-z0-9]{15}|[A-Za-z0-9]{18})")
def update_record(ctx: Ctx, name: str, rid: str) -> Response:
    obj = _obj(name)
    body = ctx.json() or {}
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object", [])
    ctx.writer.update(obj, rid, body)
    return Response(status_code=204)


@route("DELETE", r"sobjects/(?P<name>\w+)/(?P<rid>[A-Za-z0-9]{15}|[A-Za-z0-9]{18})")
def delete_record(ctx: Ctx, name: str, rid: str) -> Response:
    obj = _obj(name)
    ctx.writer.delete(obj, rid)
    return Response(status_code=204)


def _changed_window(ctx: Ctx) -> tuple[dt.datetime, dt.datetime]:
    start = parse_datetime(ctx.params.get("start", ""))
    end = parse_datetime(ctx.params.get("end", ""))
    if start is None or end is None:
        raise ApiError(400, "MALFORMED_QUERY", "Both start and end must be specified as dateTime values", [])
    return start, end


@route("GET", r"sobjects/(?P<name>\w+)/deleted")
def deleted(ctx: Ctx, name: str) -> Response:
    obj = _obj(name)
    start, end = _changed_window(ctx)
    rows = [r for r in ctx.state.store.rows(obj, include_deleted=True)
            if r.get("IsDeleted") and start <= r["SystemModstamp"] <= end]
    earliest = min((r["SystemModstamp"] for r in rows), default=start)
    return ok({
        "deletedRecords": [{"id": r["Id"], "deletedDate": format_datetime(r["SystemModstamp"])} for r in rows],
        "earliestDateAvailable": format_datetime(earliest),
        "latestDateCovered": format_datetime(end),
    })


@route("GET", r"sobjects/(?P<name>\w+)/updated")
def updated(ctx: Ctx, name: str) -> Response:
    obj = _obj(name)
    start, end = _changed_window(ctx)
    ids = [r["Id"] for r in ctx.state.store.rows(obj) if start <= r["SystemModstamp"] <= end]
    return ok({"ids": ids, "latestDateCovered": format_datetime(end)})


@route("GET", r"sobjects/(?P<name>\w+)/(?P<field>\w+)/(?P<value>[^/]+)")
def get_by_external_id(ctx: Ctx, name: str, field: str, value: str) -> Response:
    obj = _obj(name)
    f = obj.field(field)
    if f is None or not (f.external_id or f.id_lookup):
        raise not_found(f"Provided external ID field does not exist or is not accessible: {field}")
    ids = sorted(ctx.state.store.table(obj.name).lookup_unique(f.name, value)) if f.name != "Id" else [value]
    if not ids:
        raise not_found()
    if len(ids) > 1:
        return ok([ctx.url(obj.name, rid) for rid in ids], 300)
    return ok(_record_json(ctx, obj, _get_live(ctx, obj, ids[0])))


@route("PATCH", r"sobjects/(?P<name>\w+)/(?P<field>\w+)/(?P<value>[^/]*)")
def upsert_record(ctx: Ctx, name: str, field: str, value: str) -> Response:
    obj = _obj(name)
    body = ctx.json() or {}
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object", [])
    try:
        rid, created = ctx.writer.upsert(obj, field, value, body)
    except ApiError as exc:
        if exc.status == 300:
            return ok([ctx.url(obj.name, r) for r in exc.message.split(",")], 300)
        raise
    return ok({"id": rid, "success": True, "errors": [], "created": created}, 201 if created else 200)


@route("DELETE", r"sobjects/(?P<name>\w+)/(?P<field>\w+)/(?P<value>[^/]+)")
def delete_by_external_id(ctx: Ctx, name: str, field: str, value: str) -> Response:
    obj = _obj(name)
    f = obj.field(field)
    if f is None or not f.external_id:
        raise not_found(f"Provided external ID field does not exist or is not accessible: {field}")
    ids = sorted(ctx.state.store.table(obj.name).lookup_unique(f.name, value))
    if not ids:
        raise not_found()
    if len(ids) > 1:
        return ok([ctx.url(obj.name, rid) for rid in ids], 300)
    ctx.writer.delete(obj, ids[0])
    return Response(status_code=204)


# ---------------------------------------------------------------------- query


def _batch_size(ctx: Ctx, default: int) -> int:
    options = ctx.headers.get("sforce-query-options", "")
    match = re.search(r"batchSize\s*=\s*(\d+)", options, re.IGNORECASE)
    if not match:
        return default
    return max(MIN_BATCH, min(int(match.group(1)), ctx.state.config.query_page_size))


def _query_page(ctx: Ctx, locator: str, cursor: Cursor, offset: int, batch: int, endpoint: str) -> Response:
    page = cursor.rows[offset : offset + batch]
    body: dict[str, Any] = {"totalSize": cursor.total, "done": offset + batch >= len(cursor.rows)}
    if not body["done"]:
        body["nextRecordsUrl"] = f"/services/data/v{ctx.version}/{endpoint}/{locator}-{offset + batch}"
    body["records"] = [cursor.render(r) for r in page]
    if body["done"]:
        ctx.state.cursors.pop(locator, None)
    return ok(body)


def _run_query(ctx: Ctx, include_deleted: bool) -> Response:
    text = ctx.params.get("q")
    endpoint = "queryAll" if include_deleted else "query"
    if text is None:
        raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
    try:
        parsed = soql.parse(text)
        rows = soql.execute(parsed, ctx.state.store, include_deleted=include_deleted)
    except soql.SoqlError as exc:
        raise ApiError(400, exc.code, exc.message) from exc
    if parsed.count_only:
        return ok({"totalSize": len(rows), "done": True, "records": []})
    batch = _batch_size(ctx, ctx.state.config.query_page_size)
    cursor = Cursor(rows, soql.record_serializer(parsed, ctx.state.store, ctx.version), len(rows), batch)
    locator = ctx.state.add_cursor(cursor) if len(rows) > batch else ""
    return _query_page(ctx, locator, cursor, 0, batch, endpoint)


def _query_more(ctx: Ctx, locator: str, offset: str, endpoint: str) -> Response:
    cursor = ctx.state.cursors.get(locator)
    if cursor is None:
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    batch = _batch_size(ctx, cursor.batch)
    return _query_page(ctx, locator, cursor, int(offset), batch, endpoint)


@route("GET", "query")
def query(ctx: Ctx) -> Response:
    return _run_query(ctx, include_deleted=False)


@route("GET", "queryAll")
def query_all(ctx: Ctx) -> Response:
    return _run_query(ctx, include_deleted=True)


@route("GET", r"query/(?P<locator>01g\w+)-(?P<offset>\d+)")
def query_more(ctx: Ctx, locator: str, offset: str) -> Response:
    return _query_more(ctx, locator, offset, "query")


@route("GET", r"queryAll/(?P<locator>01g\w+)-(?P<offset>\d+)")
def query_all_more(ctx: Ctx, locator: str, offset: str) -> Response:
    return _query_more(ctx, locator, offset, "queryAll")


# ---------------------------------------------------------------------- sObject collections

_ROLLED_BACK = ApiError(400, "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                        "Record rolled back because not all records were valid and the request was using AllOrNone "
                        "header", [])


def _collection_body(ctx: Ctx) -> tuple[list[Any], bool]:
    body = ctx.json()
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be an object with a records array", [])
    records = body["records"]
    if len(records) > ctx.state.config.collection_limit:
        raise ApiError(400, "EXCEEDED_ID_LIMIT",
                       f"record limit reached. cannot submit more than {ctx.state.config.collection_limit} records "
                       "into this call", [])
    return records, bool(body.get("allOrNone", False))


def _type_of(record: Any) -> SObject:
    if not isinstance(record, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object", [])
    attributes = record.get("attributes") or {}
    name = attributes.get("type") if isinstance(attributes, dict) else None
    if not name:
        raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.", [])
    obj = find_object(name)
    if obj is None:
        raise invalid_type(name)
    return obj


def _injected_lock(faults: Faults, item: Any, position: int) -> None:
    """A ``lock_row`` fault rule (``/sandbox/faults``) on this record of a collection."""
    if isinstance(item, dict):
        attributes = item.get("attributes") or {}
        name = attributes.get("type") if isinstance(attributes, dict) else None
        rid = item.get("id") or item.get("Id") or ""
    else:
        rid = item if isinstance(item, str) else ""
        found = object_for_id(to18(rid)) if rid else None
        name = found.name if found else None
    if name and faults.lock_row(str(name), position):
        raise ApiError(400, "UNABLE_TO_LOCK_ROW",
                       f"unable to obtain exclusive access to this record or 1 records: {rid}".rstrip(), [])


def _run_collection(ctx: Ctx, items: list[Any], all_or_none: bool,
                    operation: Callable[[Any], dict[str, Any]]) -> Response:
    """Apply ``operation`` to each item; with allOrNone roll everything back after the first failure."""
    store = ctx.state.store
    results: list[dict[str, Any]] = []
    savepoint = store.savepoint()
    failed = False
    faults = ctx.state.faults
    for position, item in enumerate(items, start=1):
        inner = store.savepoint()
        try:
            if faults.rules:
                _injected_lock(faults, item, position)
            results.append(operation(item))
            store.release(inner)
        except ApiError as exc:
            store.rollback_to(inner)
            failed = True
            entry: dict[str, Any] = {"success": False, "errors": [exc.collection_entry()]}
            if isinstance(item, dict):
                rid = item.get("id") or item.get("Id")
            else:
                rid = item if isinstance(item, str) else None
            if rid and ctx.method != "POST":
                entry = {"id": rid, **entry}
            results.append(entry)
    if failed and all_or_none:
        store.rollback_to(savepoint)
        out = []
        for result in results:
            if result["success"]:
                out.append({"id": result.get("id"), "success": False, "errors": [_ROLLED_BACK.collection_entry()]}
                           if ctx.method != "POST" else
                           {"success": False, "errors": [_ROLLED_BACK.collection_entry()]})
            else:
                out.append(result)
        return ok(out)
    store.release(savepoint)
    return ok(results)


@route("POST", "composite/sobjects")
def collection_create(ctx: Ctx) -> Response:
    records, all_or_none = _collection_body(ctx)

    def one(record: Any) -> dict[str, Any]:
        obj = _type_of(record)
        if record.get("id") or record.get("Id"):
            raise ApiError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        return {"id": ctx.writer.create(obj, record), "success": True, "errors": []}

    return _run_collection(ctx, records, all_or_none, one)


@route("PATCH", "composite/sobjects")
def collection_update(ctx: Ctx) -> Response:
    records, all_or_none = _collection_body(ctx)

    def one(record: Any) -> dict[str, Any]:
        obj = _type_of(record)
        rid = record.get("id") or record.get("Id")
        if not rid:
            raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
        body = {k: v for k, v in record.items() if k.lower() != "id"}
        return {"id": ctx.writer.update(obj, rid, body), "success": True, "errors": []}

    return _run_collection(ctx, records, all_or_none, one)


@route("PATCH", r"composite/sobjects/(?P<name>\w+)/(?P<field>\w+)")
def collection_upsert(ctx: Ctx, name: str, field: str) -> Response:
    obj = _obj(name)
    f = obj.field(field)
    if f is None or not (f.external_id or f.name == "Id"):
        raise not_found(f"Provided external ID field does not exist or is not accessible: {field}")
    records, all_or_none = _collection_body(ctx)

    def one(record: Any) -> dict[str, Any]:
        rec_obj = _type_of(record)
        if rec_obj is not obj:
            raise ApiError(400, "INVALID_TYPE", f"All records must be of type {obj.name}", [])
        value = next((v for k, v in record.items() if k.lower() == f.name.lower()), None)
        if value in (None, "") and f.name != "Id":
            raise ApiError(400, "MISSING_ARGUMENT", f"{f.name} not specified", [])
        try:
            rid, created = ctx.writer.upsert(obj, f.name, value, record)
        except ApiError as exc:
            if exc.status == 300:
                raise ApiError(300, "DUPLICATE_EXTERNAL_ID",
                               f"The value for {f.name} is used by more than one record: {exc.message}", []) from exc
            raise
        return {"id": rid, "success": True, "errors": [], "created": created}

    return _run_collection(ctx, records, all_or_none, one)


@route("DELETE", "composite/sobjects")
def collection_delete(ctx: Ctx) -> Response:
    ids = [i for i in ctx.params.get("ids", "").split(",") if i]
    if len(ids) > ctx.state.config.collection_limit:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into "
                       "this call", [])
    all_or_none = ctx.params.get("allOrNone", "false").lower() == "true"

    def one(rid: Any) -> dict[str, Any]:
        found = ctx.state.store.get(rid)
        if found is None:
            raise ApiError(404, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        return {"id": ctx.writer.delete(found[0], rid), "success": True, "errors": []}

    return _run_collection(ctx, ids, all_or_none, one)


@route("GET", r"composite/sobjects/(?P<name>\w+)")
def collection_retrieve(ctx: Ctx, name: str) -> Response:
    obj = _obj(name)
    ids = [i for i in ctx.params.get("ids", "").split(",") if i]
    fields = [f for f in ctx.params.get("fields", "").split(",") if f]
    if not fields:
        raise ApiError(400, "MISSING_ARGUMENT", "fields not specified", [])
    out: list[Any] = []
    for rid in ids:
        record = ctx.state.store.get_in(obj, rid)
        out.append(None if record is None or record.get("IsDeleted") else _record_json(ctx, obj, record, fields))
    return ok(out)


def to_json_value(value: Any) -> Any:
    """Exposed for the Bulk API module: a stored value in REST form."""
    return to_json(value)
