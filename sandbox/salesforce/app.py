"""The ASGI application: login endpoints, the authenticated REST and Bulk API, and the sandbox admin routes."""

from __future__ import annotations

import asyncio
import re

from fastapi import FastAPI, Request
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import JSONResponse, Response

from . import bulk as _bulk  # noqa: F401 - registers the Bulk API 2.0 routes
from . import bulk1, rest, soapapi
from .admin import build_router
from .auth import oauth_token, soap_login, userinfo
from .config import SandboxConfig
from .errors import ApiError, invalid_session, not_found
from .state import SandboxState

_SOAP_LOGIN = re.compile(r"^.*/services/Soap/u/(?P<version>\d+\.\d+)/?$")
_OAUTH_TOKEN = re.compile(r"^.*/services/oauth2/token/?$")
_DATA = re.compile(r"^/services/data/v(?P<version>\d+\.\d+)(?P<rest>/.*)?$")
_ASYNC = re.compile(r"^/services/async/(?P<version>\d+\.\d+)(?P<rest>/.*)?$")
_SOAP_API = re.compile(r"^/services/Soap/u/(?P<version>\d+\.\d+)/(?P<org>\w+)/?$")
_VERSIONS = [f"{v}.0" for v in range(31, 63)]
_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"]


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() in {"bearer", "oauth"} and token:
        return token.strip()
    return request.headers.get("x-sfdc-session")


def _error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def create_app(state: SandboxState | None = None) -> FastAPI:
    """Build the app around ``state`` (a fresh org from the environment's settings if None)."""
    state = state or SandboxState(SandboxConfig.from_env())
    app = FastAPI(title="crm360 Salesforce sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = state
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.include_router(build_router(state))

    def limit_header(response: Response) -> Response:
        response.headers["Sforce-Limit-Info"] = f"api-usage={state.api_used}/{state.config.daily_api_limit}"
        return response

    @app.api_route("/{path:path}", methods=_METHODS)
    async def salesforce(request: Request, path: str) -> Response:
        state.requests_served += 1
        url_path = request.url.path
        method = request.method
        body = await request.body()
        if state.faults.rules:
            for fault in state.faults.for_request(method, url_path):
                if fault.kind == "delay":
                    await asyncio.sleep(float(fault.spec["seconds"]))
                elif fault.kind == "expire_session":
                    state.expire_sessions()
                elif _ASYNC.match(url_path):
                    return bulk1.exception(fault.status, fault.error_code, fault.message)
                else:
                    return _error_response(ApiError(fault.status, fault.error_code, fault.message))
        try:
            return _serve(request, url_path, method, body)
        finally:
            state.commit()

    def _serve(request: Request, url_path: str, method: str, body: bytes) -> Response:
        if method == "POST":
            soap = _SOAP_LOGIN.match(url_path)
            if soap:
                return soap_login(state, body, soap["version"])
            if _OAUTH_TOKEN.match(url_path):
                return oauth_token(state, body, request.headers.get("authorization"))
        if url_path.rstrip("/") == "/services/data" and method == "GET":
            return JSONResponse([{"label": f"Release {v}", "url": f"/services/data/v{v}", "version": v}
                                 for v in _VERSIONS])
        if method == "POST" and _SOAP_API.match(url_path):
            return soapapi.handle(state, body)
        headers = {k.lower(): v for k, v in request.headers.items()}
        bulk_v1 = _ASYNC.match(url_path)
        if bulk_v1:
            return bulk1.handle(state, method, bulk_v1["version"], bulk_v1["rest"] or "", headers, body)
        data = _DATA.match(url_path)
        is_userinfo = url_path.rstrip("/") == "/services/oauth2/userinfo"
        if not data and not is_userinfo:
            return _error_response(not_found())
        if not state.valid_session(_token(request)):
            return limit_header(_error_response(invalid_session()))
        if state.api_used >= state.config.daily_api_limit:
            over = ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            return limit_header(_error_response(over))
        state.api_used += 1
        if is_userinfo:
            return limit_header(JSONResponse(userinfo(state)))
        assert data is not None
        ctx = rest.Ctx(
            state=state,
            method="GET" if method == "HEAD" else method,
            version=data["version"],
            params=dict(request.query_params),
            headers=headers,
            body=body,
        )
        try:
            response = rest.dispatch(ctx, data["rest"] or "")
        except ApiError as exc:
            response = _error_response(exc)
        return limit_header(response)

    return app
