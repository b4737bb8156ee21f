"""Request/response pairs as Salesforce's REST API and Bulk API 2.0 developer guides document them, replayed
against the sandbox: status codes, content types, headers and body shapes must match.

Each scenario is a list of steps. A step's ``path`` may use ``{v}`` (API version) and names captured by
earlier steps (``capture``: name -> key of the JSON body). ``shape`` describes the body: a type name
("str", "int", "float", "number", "bool", "null", "any", or alternatives "str|null"), ``{"=": value}``
for an exact value, a dict of key -> shape (keys listed must be present; others may be too), or
``["each", shape]`` for a non-empty list whose elements all match. The cases were written from the
guides' examples (REST API Developer Guide: "Get a List of Resources", "Create a Record", "Update a
Record", "Upsert a Record Using an External ID", "Execute a SOQL Query", "Get Deleted/Updated Records",
"sObject Collections", "Status Codes and Error Responses"; Bulk API 2.0 Developer Guide: "Create a Job",
"Upload Job Data", "Close or Abort a Job", "Get Job Info", "Get Job Successful/Failed Record Results",
"Get Job Unprocessed Record Results", "Delete a Job", "Create a Query Job", "Get Results for a Query Job").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from sandbox.salesforce.process import SandboxProcess, start_sandbox

pytestmark = pytest.mark.integration

V = "59.0"
JOB_INFO = {"id": "str", "operation": "str", "object": "str", "createdById": "str", "createdDate": "str",
            "systemModstamp": "str", "state": "str", "concurrencyMode": "str", "contentType": {"=": "CSV"},
            "apiVersion": "number", "lineEnding": "str", "columnDelimiter": "str"}
ERROR_LIST = ["each", {"message": "str", "errorCode": "str"}]
SAVE_RESULT = {"id": "str", "success": {"=": True}, "errors": {"=": []}}
CSV_ROW = "Name,ShippingCity,NumberOfEmployees,AnnualRevenue,Website,Description\n" \
          'Lorem Ipsum,Milano,2676,912260031,https://ft.com/lacus/at.jsp,"Lorem ipsum dolor sit amet"\n'

SCENARIOS: dict[str, list[dict[str, Any]]] = {
    "versions": [
        {"method": "GET", "path": "/services/data/", "status": 200,
         "shape": ["each", {"label": "str", "url": "str", "version": "str"}]},
    ],
    "resources by version": [
        {"method": "GET", "path": "/services/data/v{v}/", "status": 200,
         "shape": {"sobjects": "str", "query": "str", "queryAll": "str", "limits": "str", "composite": "str"}},
    ],
    "limits": [
        {"method": "GET", "path": "/services/data/v{v}/limits/", "status": 200,
         "shape": {"DailyApiRequests": {"Max": "int", "Remaining": "int"},
                   "DailyBulkApiBatches": {"Max": "int", "Remaining": "int"},
                   "DailyBulkV2QueryJobs": {"Max": "int", "Remaining": "int"},
                   "DataStorageMB": {"Max": "int", "Remaining": "int"}},
         "headers": {"Sforce-Limit-Info": r"^api-usage=\d+/\d+$"}},
    ],
    "describe global and object": [
        {"method": "GET", "path": "/services/data/v{v}/sobjects/", "status": 200,
         "shape": {"encoding": {"=": "UTF-8"}, "maxBatchSize": {"=": 200},
                   "sobjects": ["each", {"name": "str", "label": "str", "keyPrefix": "str|null", "queryable": "bool",
                                         "urls": {"sobject": "str", "describe": "str", "rowTemplate": "str"}}]}},
        {"method": "GET", "path": "/services/data/v{v}/sobjects/Account/describe/", "status": 200,
         "shape": {"name": {"=": "Account"}, "keyPrefix": {"=": "001"}, "childRelationships": "any",
                   "fields": ["each", {"name": "str", "type": "str", "soapType": "str", "length": "int",
                                       "nillable": "bool", "createable": "bool", "updateable": "bool",
                                       "externalId": "bool", "referenceTo": "any", "picklistValues": "any"}]}},
    ],
    "create, retrieve, update, delete a record": [
        {"method": "POST", "path": "/services/data/v{v}/sobjects/Account/",
         "json": {"Name": "Express Logistics and Transport"}, "status": 201, "shape": SAVE_RESULT,
         "capture": {"account": "id"}},
        {"method": "GET", "path": "/services/data/v{v}/sobjects/Account/{account}?fields=Name,BillingPostalCode",
         "status": 200, "shape": {"attributes": {"type": {"=": "Account"}, "url": "str"},
                                  "Name": {"=": "Express Logistics and Transport"}, "BillingPostalCode": "null"}},
        {"method": "PATCH", "path": "/services/data/v{v}/sobjects/Account/{account}",
         "json": {"BillingCity": "San Francisco"}, "status": 204, "empty": True},
        {"method": "DELETE", "path": "/services/data/v{v}/sobjects/Account/{account}", "status": 204, "empty": True},
        {"method": "GET", "path": "/services/data/v{v}/sobjects/Account/{account}", "status": 404,
         "shape": ERROR_LIST},
    ],
    "create errors": [
        {"method": "POST", "path": "/services/data/v{v}/sobjects/Account/", "json": {"Nmae": "Typo"}, "status": 400,
         "shape": ["each", {"message": "str", "errorCode": {"=": "INVALID_FIELD"}, "fields": ["each", "str"]}]},
        {"method": "POST", "path": "/services/data/v{v}/sobjects/Contact/", "json": {"FirstName": "No last name"},
         "status": 400, "shape": ["each", {"message": "str", "errorCode": {"=": "REQUIRED_FIELD_MISSING"},
                                           "fields": {"=": ["LastName"]}}]},
        {"method": "GET", "path": "/services/data/v{v}/sobjects/Account/001000000000000AAA", "status": 404,
         "shape": ["each", {"message": "str", "errorCode": {"=": "NOT_FOUND"}}]},
    ],
    "upsert by external id": [
        {"method": "PATCH", "path": "/services/data/v{v}/sobjects/Contact/External_Id__c/doc-1",
         "json": {"LastName": "Doc"}, "status": 201, "shape": {**SAVE_RESULT, "created": {"=": True}}},
        {"method": "PATCH", "path": "/services/data/v{v}/sobjects/Contact/External_Id__c/doc-1",
         "json": {"LastName": "Doc2"}, "status": 200, "shape": {**SAVE_RESULT, "created": {"=": False}}},
        {"method": "PATCH", "path": "/services/data/v{v}/sobjects/Contact/Nope__c/doc-1",
         "json": {"LastName": "Doc"}, "status": 404, "shape": ERROR_LIST},
    ],
    "query": [
        {"method": "POST", "path": "/services/data/v{v}/sobjects/Account/", "json": {"Name": "GenePoint"},
         "status": 201, "shape": SAVE_RESULT},
        {"method": "GET", "path": "/services/data/v{v}/query/?q=SELECT+name+from+Account", "status": 200,
         "shape": {"totalSize": {"=": 1}, "done": {"=": True},
                   "records": ["each", {"attributes": {"type": {"=": "Account"}, "url": "str"},
                                        "Name": {"=": "GenePoint"}}]}},
        {"method": "GET", "path": "/services/data/v{v}/queryAll/?q=SELECT+Id+FROM+Account", "status": 200,
         "shape": {"totalSize": "int", "done": "bool", "records": "any"}},
        {"method": "GET", "path": "/services/data/v{v}/query/?q=SELECT+Id+FROM", "status": 400,
         "shape": ["each", {"message": "str", "errorCode": {"=": "MALFORMED_QUERY"}}]},
        {"method": "GET", "path": "/services/data/v{v}/query/?q=SELECT+Nope+FROM+Account", "status": 400,
         "shape": ["each", {"message": "str", "errorCode": {"=": "INVALID_FIELD"}}]},
        {"method": "GET", "path": "/services/data/v{v}/query/?q=SELECT+Id+FROM+Nope", "status": 400,
         "shape": ["each", {"message": "str", "errorCode": {"=": "INVALID_TYPE"}}]},
        {"method": "GET", "path": "/services/data/v{v}/query/01g8c0000000000AAA-2000", "status": 400,
         "shape": ["each", {"message": "str", "errorCode": {"=": "INVALID_QUERY_LOCATOR"}}]},
    ],
    "deleted and updated records": [
        {"method": "GET", "path": "/services/data/v{v}/sobjects/Account/deleted/"
                                  "?start=2026-01-01T00:00:00%2B00:00&end=2099-01-01T00:00:00%2B00:00",
         "status": 200, "shape": {"deletedRecords": "any", "earliestDateAvailable": "str",
                                  "latestDateCovered": "str"}},
        {"method": "GET", "path": "/services/data/v{v}/sobjects/Account/updated/"
                                  "?start=2026-01-01T00:00:00%2B00:00&end=2099-01-01T00:00:00%2B00:00",
         "status": 200, "shape": {"ids": "any", "latestDateCovered": "str"}},
    ],
    "sObject collections": [
        {"method": "POST", "path": "/services/data/v{v}/composite/sobjects",
         "json": {"allOrNone": False, "records": [
             {"attributes": {"type": "Account"}, "Name": "example.com", "BillingCity": "San Francisco"},
             {"attributes": {"type": "Contact"}, "LastName": "Johnson", "FirstName": "Sarah"}]},
         "status": 200, "shape": ["each", SAVE_RESULT], "capture": {"first": "0.id", "second": "1.id"}},
        {"method": "PATCH", "path": "/services/data/v{v}/composite/sobjects",
         "json": {"allOrNone": True, "records": [
             {"attributes": {"type": "Account"}, "id": "{first}", "NumberOfEmployees": 27000},
             {"attributes": {"type": "Contact"}, "id": "{second}", "Title": "Lead Engineer"}]},
         "status": 200, "shape": ["each", SAVE_RESULT]},
        {"method": "POST", "path": "/services/data/v{v}/composite/sobjects",
         "json": {"allOrNone": True, "records": [
             {"attributes": {"type": "Account"}, "Name": "fine"},
             {"attributes": {"type": "Contact"}, "FirstName": "Missing LastName"}]},
         "status": 200, "shape": ["each", {"success": {"=": False},
                                           "errors": ["each", {"statusCode": "str", "message": "str",
                                                               "fields": "any"}]}]},
        {"method": "DELETE", "path": "/services/data/v{v}/composite/sobjects?ids={first},{second}&allOrNone=false",
         "status": 200, "shape": ["each", SAVE_RESULT]},
    ],
    "bad session": [
        {"method": "GET", "path": "/services/data/v{v}/limits/", "session": "00Dxx!invalid", "status": 401,
         "shape": {"=": [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]}},
    ],
    "bulk 2.0 ingest job": [
        {"method": "POST", "path": "/services/data/v{v}/jobs/ingest/",
         "json": {"object": "Account", "contentType": "CSV", "operation": "insert", "lineEnding": "LF"},
         "status": 200, "shape": {**JOB_INFO, "state": {"=": "Open"}, "operation": {"=": "insert"},
                                  "contentUrl": "str"},
         "capture": {"job": "id"}},
        {"method": "PUT", "path": "/services/data/v{v}/jobs/ingest/{job}/batches/", "csv": CSV_ROW,
         "status": 201, "empty": True},
        {"method": "PATCH", "path": "/services/data/v{v}/jobs/ingest/{job}/", "json": {"state": "UploadComplete"},
         "status": 200, "shape": {**JOB_INFO, "state": {"=": "UploadComplete"}}},
        {"method": "GET", "path": "/services/data/v{v}/jobs/ingest/{job}/", "status": 200,
         "shape": {**JOB_INFO, "state": {"=": "JobComplete"}, "numberRecordsProcessed": {"=": 1},
                   "numberRecordsFailed": {"=": 0}, "retries": "int", "totalProcessingTime": "int",
                   "apiActiveProcessingTime": "int", "apexProcessingTime": "int"}},
        {"method": "GET", "path": "/services/data/v{v}/jobs/ingest/{job}/successfulResults/", "status": 200,
         "content_type": "text/csv", "first_line": '"sf__Id","sf__Created","Name","ShippingCity",'
                                                   '"NumberOfEmployees","AnnualRevenue","Website","Description"'},
        {"method": "GET", "path": "/services/data/v{v}/jobs/ingest/{job}/failedResults/", "status": 200,
         "content_type": "text/csv", "first_line": '"sf__Id","sf__Error","Name","ShippingCity",'
                                                   '"NumberOfEmployees","AnnualRevenue","Website","Description"'},
        {"method": "GET", "path": "/services/data/v{v}/jobs/ingest/{job}/unprocessedrecords/", "status": 200,
         "content_type": "text/csv"},
        {"method": "PUT", "path": "/services/data/v{v}/jobs/ingest/{job}/batches/", "csv": CSV_ROW,
         "status": 400, "shape": ERROR_LIST},
        {"method": "GET", "path": "/services/data/v{v}/jobs/ingest/", "status": 200,
         "shape": {"done": "bool", "records": ["each", JOB_INFO], "nextRecordsUrl": "str|null"}},
        {"method": "DELETE", "path": "/services/data/v{v}/jobs/ingest/{job}/", "status": 204, "empty": True},
        {"method": "GET", "path": "/services/data/v{v}/jobs/ingest/{job}/", "status": 404,
         "shape": ["each", {"errorCode": {"=": "NOT_FOUND"}, "message": "str"}]},
    ],
    "bulk 2.0 ingest errors": [
        {"method": "POST", "path": "/services/data/v{v}/jobs/ingest/",
         "json": {"object": "Nope", "contentType": "CSV", "operation": "insert"}, "status": 400,
         "shape": ["each", {"errorCode": {"=": "INVALIDENTITY"}, "message": "str"}]},
        {"method": "POST", "path": "/services/data/v{v}/jobs/ingest/",
         "json": {"object": "Account", "contentType": "CSV", "operation": "upsert"}, "status": 400,
         "shape": ERROR_LIST},
    ],
    "bulk 2.0 query job": [
        {"method": "POST", "path": "/services/data/v{v}/sobjects/Account/", "json": {"Name": "One"}, "status": 201,
         "shape": SAVE_RESULT},
        {"method": "POST", "path": "/services/data/v{v}/sobjects/Account/", "json": {"Name": "Two"}, "status": 201,
         "shape": SAVE_RESULT},
        {"method": "POST", "path": "/services/data/v{v}/jobs/query",
         "json": {"operation": "query", "query": "SELECT Id, Name FROM Account"}, "status": 200,
         "shape": {**JOB_INFO, "operation": {"=": "query"}, "object": {"=": "Account"}, "state": "str"},
         "capture": {"job": "id"}},
        {"method": "GET", "path": "/services/data/v{v}/jobs/query/{job}", "status": 200,
         "shape": {**JOB_INFO, "state": {"=": "JobComplete"}, "numberRecordsProcessed": {"=": 2}, "retries": "int",
                   "totalProcessingTime": "int"}},
        {"method": "GET", "path": "/services/data/v{v}/jobs/query/{job}/results?maxRecords=1", "status": 200,
         "content_type": "text/csv", "first_line": '"Id","Name"',
         "headers": {"Sforce-NumberOfRecords": r"^1$", "Sforce-Locator": r"^(?!null$)\S+$"}},
        {"method": "GET", "path": "/services/data/v{v}/jobs/query/", "status": 200,
         "shape": {"done": "bool", "records": ["each", JOB_INFO], "nextRecordsUrl": "str|null"}},
        {"method": "PATCH", "path": "/services/data/v{v}/jobs/query/{job}", "json": {"state": "Aborted"},
         "status": 400, "shape": ERROR_LIST},
        {"method": "DELETE", "path": "/services/data/v{v}/jobs/query/{job}", "status": 204, "empty": True},
    ],
    "bulk 2.0 query errors": [
        {"method": "POST", "path": "/services/data/v{v}/jobs/query",
         "json": {"operation": "query", "query": "SELECT Id FROM"}, "status": 400,
         "shape": ["each", {"errorCode": {"=": "MALFORMED_QUERY"}, "message": "str"}]},
        {"method": "GET", "path": "/services/data/v{v}/jobs/query/750000000000000AAA", "status": 404,
         "shape": ["each", {"errorCode": {"=": "NOT_FOUND"}, "message": "str"}]},
    ],
}

_TYPES: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool, "null": type(None),
                          "number": (int, float)}


def mismatches(value: Any, shape: Any, where: str = "$") -> list[str]:
    """Where ``value`` differs from ``shape`` (see the module docstring); empty when it matches."""
    if isinstance(shape, str):
        if shape == "any":
            return []
        kinds = tuple(_TYPES[k] for k in shape.split("|"))
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        return [] if ok else [f"{where}: expected {shape}, got {value!r}"]
    if isinstance(shape, dict) and set(shape) == {"="}:
        return [] if value == shape["="] else [f"{where}: expected {shape['=']!r}, got {value!r}"]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {value!r}"]
        out = []
        for key, sub in shape.items():
            if key not in value:
                out.append(f"{where}: missing key {key!r}")
            else:
                out.extend(mismatches(value[key], sub, f"{where}.{key}"))
        return out
    if isinstance(shape, list) and shape and shape[0] == "each":
        if not isinstance(value, list) or not value:
            return [f"{where}: expected a non-empty list, got {value!r}"]
        return [m for i, item in enumerate(value) for m in mismatches(item, shape[1], f"{where}[{i}]")]
    raise AssertionError(f"bad shape {shape!r}")


def test_the_matcher_catches_differences() -> None:
    assert mismatches({"a": 1, "b": [1, 2]}, {"a": "int", "b": ["each", "int"]}) == []
    assert mismatches({"a": True}, {"a": "int"}) == ["$.a: expected int, got True"]
    assert mismatches({}, {"a": "str"}) == ["$: missing key 'a'"]
    assert mismatches([], ["each", "str"]) == ["$: expected a non-empty list, got []"]
    assert mismatches({"s": "x"}, {"s": {"=": "y"}}) == ["$.s: expected 'y', got 'x'"]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    with start_sandbox(tmp_path_factory.mktemp("sf-docs")) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
        yield server


@pytest.fixture(scope="module")
def session(sandbox: SandboxProcess) -> str:
    return Salesforce(username="integration@crm360.sandbox", password="sandbox-password",
                      security_token="sandbox-token", domain=sandbox.domain).session_id


def _fill(template: Any, names: dict[str, str]) -> Any:
    if isinstance(template, str):
        return re.sub(r"\{(\w+)\}", lambda m: names.get(m.group(1), m.group(0)), template)
    if isinstance(template, dict):
        return {k: _fill(v, names) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, names) for v in template]
    return template


def _dig(body: Any, path: str) -> Any:
    for part in path.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_documented_exchange(name: str, sandbox: SandboxProcess, session: str) -> None:
    requests.post(sandbox.url("/sandbox/reset"), timeout=10).raise_for_status()
    names = {"v": V}
    for number, step in enumerate(SCENARIOS[name], start=1):
        label = f"{name} step {number}: {step['method']} {step['path']}"
        headers = {"Authorization": f"Bearer {step.get('session', session)}"}
        kwargs: dict[str, Any] = {}
        if "json" in step:
            kwargs["json"] = _fill(step["json"], names)
        if "csv" in step:
            kwargs["data"] = step["csv"].encode()
            headers["Content-Type"] = "text/csv"
        response = requests.request(step["method"], sandbox.url(_fill(step["path"], names)), headers=headers,
                                    timeout=30, **kwargs)
        assert response.status_code == step["status"], f"{label}: {response.status_code} {response.text[:300]}"
        if step.get("empty"):
            assert response.content == b"", label
        if "shape" in step:
            assert response.headers["content-type"].startswith("application/json"), label
            problems = mismatches(response.json(), step["shape"])
            assert not problems, f"{label}: {problems}"
        if "content_type" in step:
            assert response.headers["content-type"].startswith(step["content_type"]), label
        if "first_line" in step:
            assert response.text.splitlines()[0] == step["first_line"], label
        for header, pattern in step.get("headers", {}).items():
            assert re.search(pattern, response.headers.get(header, "")), f"{label}: {header}"
        for key, path in step.get("capture", {}).items():
            names[key] = _dig(response.json(), path)
