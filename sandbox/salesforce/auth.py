"""Logins: the SOAP partner ``login`` call and the OAuth 2.0 token endpoint, with Salesforce's error shapes."""

from __future__ import annotations

import base64
import json
import time
import xml.etree.ElementTree as ET
from html import escape
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import JSONResponse, Response

from .state import PROFILE_ID, SandboxState

_FAULT = """<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope \
xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>\
<faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring><detail>\
<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>\
<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body>\
</soapenv:Envelope>"""

_LOGIN_OK = """<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope \
xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>\
<metadataServerUrl>{base}/services/Soap/m/{version}/{org}</metadataServerUrl>\
<passwordExpired>false</passwordExpired><sandbox>{sandbox}</sandbox>\
<serverUrl>{base}/services/Soap/u/{version}/{org}</serverUrl><sessionId>{session}</sessionId>\
<userId>{user}</userId><userInfo><accessibilityMode>false</accessibilityMode><chatterExternal>false\
</chatterExternal><currencySymbol>$</currencySymbol><orgAttachmentFileSizeLimit>5242880\
</orgAttachmentFileSizeLimit><orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode>\
<orgDisallowHtmlAttachments>false</orgDisallowHtmlAttachments><orgHasPersonAccounts>false\
</orgHasPersonAccounts><organizationId>{org}</organizationId><organizationMultiCurrency>true\
</organizationMultiCurrency><organizationName>{org_name}</organizationName><profileId>{profile}\
</profileId><roleId xsi:nil="true"/><sessionSecondsValid>7200</sessionSecondsValid>\
<userDefaultCurrencyIsoCode xsi:nil="true"/><userEmail>{username}</userEmail><userFullName>Integration User\
</userFullName><userId>{user}</userId><userLanguage>en_US</userLanguage><userLocale>en_US</userLocale>\
<userName>{username}</userName><userTimeZone>GMT</userTimeZone><userType>Standard</userType>\
<userUiSkin>Theme3</userUiSkin></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"""

_INVALID_LOGIN = "Invalid username, password, security token; or user locked out."


def _password_ok(state: SandboxState, username: str | None, password: str | None) -> bool:
    cfg = state.config
    if username is None or password is None or username.lower() != cfg.username.lower():
        return False
    # the token may be appended; logins from loopback (a "trusted IP range") may leave it off
    return password in {cfg.password + cfg.security_token, cfg.password}


def soap_login(state: SandboxState, body: bytes, version: str) -> Response:
    """Answer a SOAP partner ``login`` request."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return _soap_fault("INVALID_LOGIN", _INVALID_LOGIN)
    found: dict[str, str] = {}
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1]
        if local in {"username", "password"}:
            found[local] = element.text or ""
    if not _password_ok(state, found.get("username"), found.get("password")):
        return _soap_fault("INVALID_LOGIN", _INVALID_LOGIN)
    session = state.new_session()
    xml = _LOGIN_OK.format(base=state.base_url, version=version, org=state.org_id, session=escape(session),
                           user=state.user_id, profile=PROFILE_ID, sandbox=str(state.config.is_sandbox).lower(),
                           username=escape(state.config.username), org_name=escape(state.config.org_name))
    return Response(xml, media_type="text/xml; charset=utf-8")


def _soap_fault(code: str, message: str) -> Response:
    return Response(_FAULT.format(code=code, message=escape(message)), status_code=500,
                    media_type="text/xml; charset=utf-8")


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _token_response(state: SandboxState, extra: dict[str, Any] | None = None) -> JSONResponse:
    token = state.new_session()
    issued = str(int(time.time() * 1000))
    body = {
        "access_token": token,
        "instance_url": state.base_url,
        "id": f"{state.base_url}/id/{state.org_id}/{state.user_id}",
        "token_type": "Bearer",
        "issued_at": issued,
        "signature": base64.b64encode(f"{state.user_id}{issued}".encode()).decode(),
        **(extra or {}),
    }
    return JSONResponse(body)


def _jwt_claims(assertion: str) -> dict[str, Any] | None:
    try:
        payload = assertion.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def oauth_token(state: SandboxState, body: bytes, authorization: str | None) -> JSONResponse:
    """Answer ``POST /services/oauth2/token`` for the password, client_credentials, refresh_token and JWT flows."""
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    cfg = state.config
    client_id = form.get("client_id")
    client_secret = form.get("client_secret")
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization.split(" ", 1)[1]).decode()
            client_id, _, client_secret = decoded.partition(":")
        except ValueError:
            return _oauth_error("invalid_client", "invalid client credentials")
    grant = form.get("grant_type")
    if grant == "password":
        if client_id != cfg.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if client_secret != cfg.client_secret:
            return _oauth_error("invalid_client", "invalid client credentials")
        if not _password_ok(state, form.get("username"), form.get("password")):
            return _oauth_error("invalid_grant", "authentication failure")
        return _token_response(state)
    if grant == "client_credentials":
        if client_id != cfg.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if client_secret != cfg.client_secret:
            return _oauth_error("invalid_client", "invalid client credentials")
        return _token_response(state)
    if grant == "refresh_token":
        if client_id and client_id != cfg.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if form.get("refresh_token") != cfg.refresh_token:
            return _oauth_error("invalid_grant", "expired access/refresh token")
        return _token_response(state)
    if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        claims = _jwt_claims(form.get("assertion", ""))
        if claims is None:
            return _oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != cfg.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if str(claims.get("sub", "")).lower() != cfg.username.lower():
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
        return _token_response(state)
    return _oauth_error("unsupported_grant_type", "grant type not supported")


def userinfo(state: SandboxState) -> dict[str, Any]:
    """The ``/services/oauth2/userinfo`` document for the integration user."""
    base = state.base_url
    return {
        "sub": f"{base}/id/{state.org_id}/{state.user_id}",
        "user_id": state.user_id,
        "organization_id": state.org_id,
        "preferred_username": state.config.username,
        "nickname": "integ",
        "name": "Integration User",
        "email": state.config.username,
        "email_verified": True,
        "given_name": "Integration",
        "family_name": "User",
        "zoneinfo": "GMT",
        "active": True,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "is_app_installed": True,
        "urls": {
            "rest": f"{base}/services/data/v{{version}}/",
            "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
            "query": f"{base}/services/data/v{{version}}/query/",
        },
    }
