"""Sandbox-only endpoints (not part of the Salesforce API): seed, reset, stats and test knobs. No auth."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from . import values
from .custom import SchemaError
from .errors import ApiError
from .faults import FaultError
from .schema import find_object
from .state import SandboxState
from .values import parse_datetime


def build_router(state: SandboxState) -> APIRouter:
    """The ``/sandbox/*`` routes bound to one running org."""
    router = APIRouter(prefix="/sandbox")

    @router.post("/seed")
    async def seed(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "the body must be JSON: {\"object\": ..., \"records\": [...]}"}, 400)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            return JSONResponse({"error": "expected {\"object\": \"Contact\", \"records\": [{...}]}"}, 400)
        obj = find_object(str(body.get("object", "")))
        if obj is None:
            return JSONResponse({"error": f"unknown object {body.get('object')!r}"}, 400)
        try:
            inserted = state.seed(obj, body["records"], raw)
        except ApiError as exc:
            return JSONResponse({"error": exc.message, "errorCode": exc.code, "object": obj.name}, 400)
        state.commit()
        return JSONResponse({"inserted": inserted})

    @router.post("/reset")
    async def reset() -> JSONResponse:
        state.reset()
        state.commit()
        return JSONResponse({"reset": True})

    # ------------------------------------------------------------------ faults (see faults.py)
    @router.get("/faults")
    async def list_faults() -> JSONResponse:
        return JSONResponse({"faults": state.faults.describe()})

    @router.post("/faults")
    async def add_fault(request: Request) -> JSONResponse:
        """Install one rule (a JSON object) or several (a JSON array); answers the installed rules."""
        try:
            body: Any = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be a JSON fault rule or a list of them"}, 400)
        specs = body if isinstance(body, list) else [body]
        added = []
        for spec in specs:
            try:
                added.append(state.faults.add(spec).describe())
            except FaultError as exc:
                for rule in added:
                    state.faults.remove(rule["id"])
                return JSONResponse({"error": str(exc), "rule": spec}, 400)
        return JSONResponse({"faults": added}, 201)

    @router.delete("/faults")
    async def clear_faults() -> JSONResponse:
        state.faults.clear()
        return JSONResponse({"faults": []})

    @router.delete("/faults/{fault_id}")
    async def remove_fault(fault_id: str) -> JSONResponse:
        if not state.faults.remove(fault_id):
            return JSONResponse({"error": f"no fault {fault_id}"}, 404)
        return JSONResponse({"removed": fault_id})

    # ------------------------------------------------------------------ schema drift (see custom.py)
    @router.get("/schema")
    async def schema_changes() -> JSONResponse:
        """The run-time changes since the last reset (the schema file's declarations not included)."""
        return JSONResponse({"schema_file": str(state.schema_file) if state.schema_file else None,
                             "changes": state.schema_changes})

    @router.post("/schema/{object_name}/fields")
    async def add_field(object_name: str, request: Request) -> JSONResponse:
        """Add a custom field: {"name": "Tier__c", "type": "picklist", "values": [...], ...}."""
        try:
            spec: Any = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be a JSON field declaration"}, 400)
        return _change({"op": "add_field", "object": object_name, "field": spec}, 201)

    @router.delete("/schema/{object_name}/fields/{field_name}")
    async def drop_field(object_name: str, field_name: str) -> JSONResponse:
        """Delete a custom field and its values."""
        return _change({"op": "drop_field", "object": object_name, "field": field_name}, 200)

    @router.post("/schema/objects/{object_name}")
    async def add_object(object_name: str, request: Request) -> JSONResponse:
        """Add a custom object: {"keyPrefix": "a01", "label": ..., "fields": [...]}."""
        try:
            spec: Any = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be a JSON object declaration"}, 400)
        if not isinstance(spec, dict):
            return JSONResponse({"error": "the body must be a JSON object declaration"}, 400)
        fields = spec.pop("fields", None) or []
        response = _change({"op": "add_object", "object": object_name, "spec": spec}, 201)
        if response.status_code != 201:
            return response
        for f in fields:
            answer = _change({"op": "add_field", "object": object_name, "field": f}, 201)
            if answer.status_code != 201:
                return answer
        return response

    def _change(change: dict[str, Any], status: int) -> JSONResponse:
        try:
            state.change_schema(change)
        except SchemaError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        state.commit()
        return JSONResponse({"applied": change}, status)

    @router.get("/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(state.stats())

    @router.post("/expire-sessions")
    async def expire_sessions() -> JSONResponse:
        """Invalidate every session, as a real org does when sessions time out."""
        return JSONResponse({"expired": state.expire_sessions()})

    @router.post("/limits")
    async def set_limits(request: Request) -> JSONResponse:
        """Change limits or usage so far: daily_api_limit, api_used, bulk_batch_limit, bulk_batches_used,
        bulk_query_job_limit, bulk_query_jobs_used."""
        body = await request.json()
        for key in ("daily_api_limit", "bulk_batch_limit", "bulk_query_job_limit"):
            if key in body:
                setattr(state.config, key, int(body[key]))
        for key in ("api_used", "bulk_batches_used", "bulk_query_jobs_used"):
            if key in body:
                setattr(state, key, int(body[key]))
        return JSONResponse({"daily_api_limit": state.config.daily_api_limit, "api_used": state.api_used,
                             "bulk_batch_limit": state.config.bulk_batch_limit,
                             "bulk_batches_used": state.bulk_batches_used,
                             "bulk_query_job_limit": state.config.bulk_query_job_limit,
                             "bulk_query_jobs_used": state.bulk_query_jobs_used})

    @router.post("/clock")
    async def set_clock(request: Request) -> JSONResponse:
        """Set the org's clock: {"now": "2026-11-21T00:30:00Z"} (it keeps running), or {"now": null}."""
        body = await request.json()
        raw = body.get("now") if isinstance(body, dict) else None
        target = parse_datetime(raw) if isinstance(raw, str) else None
        if raw is not None and target is None:
            return JSONResponse({"error": f"not a datetime: {raw!r}; use ISO 8601 such as 2026-11-21T00:30:00Z"}, 400)
        return JSONResponse({"now": values.set_clock(target).isoformat()})

    @router.get("/clock")
    async def get_clock() -> JSONResponse:
        return JSONResponse({"now": values.now_utc().isoformat()})

    return router
