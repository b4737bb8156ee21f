"""Sandbox-only endpoints (not part of the Salesforce API): seed, reset, stats and test knobs. No auth."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from . import values
from .errors import ApiError
from .schema import find_object
from .state import SandboxState
from .values import parse_datetime
from .writes import seed_records


def build_router(state: SandboxState) -> APIRouter:
    """The ``/sandbox/*`` routes bound to one running org."""
    router = APIRouter(prefix="/sandbox")

    @router.post("/seed")
    async def seed(request: Request) -> JSONResponse:
        try:
            body: Any = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be JSON: {\"object\": ..., \"records\": [...]}"}, 400)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            return JSONResponse({"error": "expected {\"object\": \"Contact\", \"records\": [{...}]}"}, 400)
        obj = find_object(str(body.get("object", "")))
        if obj is None:
            return JSONResponse({"error": f"unknown object {body.get('object')!r}"}, 400)
        try:
            inserted = seed_records(state.store, obj, body["records"], state.user_id)
        except ApiError as exc:
            return JSONResponse({"error": exc.message, "errorCode": exc.code, "object": obj.name}, 400)
        return JSONResponse({"inserted": inserted})

    @router.post("/reset")
    async def reset() -> JSONResponse:
        state.reset()
        return JSONResponse({"reset": True})

    @router.get("/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(state.stats())

    @router.post("/expire-sessions")
    async def expire_sessions() -> JSONResponse:
        """Invalidate every session, as a real org does when sessions time out."""
        return JSONResponse({"expired": state.expire_sessions()})

    @router.post("/limits")
    async def set_limits(request: Request) -> JSONResponse:
        """Change the daily API limit or the calls used so far: {"daily_api_limit": n, "api_used": n}."""
        body = await request.json()
        if "daily_api_limit" in body:
            state.config.daily_api_limit = int(body["daily_api_limit"])
        if "api_used" in body:
            state.api_used = int(body["api_used"])
        return JSONResponse({"daily_api_limit": state.config.daily_api_limit, "api_used": state.api_used})

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
