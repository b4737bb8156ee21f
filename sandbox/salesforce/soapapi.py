"""The two SOAP partner API calls that have no REST equivalent: ``convertLead`` and ``merge``.

They are posted to the ``serverUrl`` login returned (``/services/Soap/u/{version}/{orgId}``) with
the session in ``<SessionHeader><sessionId>``. Results use the partner WSDL's shapes
(``convertLeadResponse``/``mergeResponse``, per-record ``success`` and ``errors``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape
from typing import Any

from starlette.responses import Response

from .errors import ApiError
from .ids import looks_like_id, to18
from .schema import SCHEMA, SObject, object_for_id
from .state import SandboxState
from .store import Record
from .values import now_utc
from .writes import Writer

_ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
             'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body>'
             '</soapenv:Envelope>')
_FAULT = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
          'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" '
          'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
          '<faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring><detail>'
          '<sf:{kind} xsi:type="sf:{kind}"><sf:exceptionCode>{code}</sf:exceptionCode>'
          '<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:{kind}></detail></soapenv:Fault>'
          '</soapenv:Body></soapenv:Envelope>')
MERGEABLE = ("Account", "Contact", "Lead")
_NOT_REPARENTED = {"CreatedById", "LastModifiedById", "OwnerId", "MasterRecordId"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _text(element: ET.Element, name: str) -> str | None:
    found = _child(element, name)
    return found.text.strip() if found is not None and found.text and found.text.strip() else None


def fault(code: str, message: str, kind: str = "UnexpectedErrorFault") -> Response:
    return Response(_FAULT.format(code=code, message=escape(message), kind=kind), status_code=500,
                    media_type="text/xml; charset=utf-8")


def _errors_xml(exc: ApiError) -> str:
    fields = "".join(f"<fields>{escape(f)}</fields>" for f in exc.fields or [])
    return f"<errors>{fields}<message>{escape(exc.message)}</message><statusCode>{exc.code}</statusCode></errors>"


def handle(state: SandboxState, body: bytes) -> Response:
    """Serve one SOAP partner API call (convertLead or merge)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return fault("INVALID_XML", "The request is not well-formed XML")
    session = next((e.text for e in root.iter() if _local(e.tag) == "sessionId"), None)
    if not state.valid_session((session or "").strip()):
        return fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session",
                     "UnexpectedErrorFault")
    soap_body = next((e for e in root if _local(e.tag) == "Body"), None)
    call = soap_body[0] if soap_body is not None and len(soap_body) else None
    if call is None:
        return fault("INVALID_OPERATION", "No operation in the SOAP body")
    if state.api_used >= state.config.daily_api_limit:
        return fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    state.api_used += 1
    operation = _local(call.tag)
    writer = Writer(state.store, state.user_id, state.faults)
    if operation == "convertLead":
        results = [_convert(state, writer, item) for item in call if _local(item.tag) == "leadConverts"]
        return _respond("convertLeadResponse", results)
    if operation == "merge":
        results = [_merge(state, writer, item) for item in call if _local(item.tag) == "request"]
        return _respond("mergeResponse", results)
    return fault("INVALID_OPERATION", f"The sandbox does not implement the SOAP call {operation}; use REST")


def _respond(name: str, results: list[str]) -> Response:
    body = "".join(f"<result>{r}</result>" for r in results)
    return Response(_ENVELOPE.format(body=f"<{name}>{body}</{name}>"), media_type="text/xml; charset=utf-8")


def _live(state: SandboxState, obj: SObject, rid: str | None, what: str) -> Record:
    if not rid or not looks_like_id(rid) or object_for_id(to18(rid)) is not obj:
        raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {what} {rid}", [what])
    record = state.store.get_in(obj, rid)
    if record is None:
        raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {what} {rid}", [what])
    if record.get("IsDeleted"):
        raise ApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [what])
    return record


def _system_update(state: SandboxState, obj: SObject, record: Record, changes: dict[str, Any]) -> Record:
    """Write fields the API cannot (IsConverted, MasterRecordId, ...), keeping the audit fields current."""
    stamp = now_utc()
    new = {**record, **changes, "LastModifiedDate": stamp, "LastModifiedById": state.user_id,
           "SystemModstamp": stamp}
    state.store.put(obj, new)
    return new


# Lead field -> Contact field, for the standard fields a conversion carries over.
_LEAD_TO_CONTACT = {"Salutation": "Salutation", "FirstName": "FirstName", "LastName": "LastName", "Title": "Title",
                    "Email": "Email", "Phone": "Phone", "MobilePhone": "MobilePhone", "LeadSource": "LeadSource",
                    "HasOptedOutOfEmail": "HasOptedOutOfEmail", "HasOptedOutOfFax": "HasOptedOutOfFax",
                    "DoNotCall": "DoNotCall", "Street": "MailingStreet", "City": "MailingCity",
                    "State": "MailingState", "PostalCode": "MailingPostalCode", "Country": "MailingCountry",
                    "CurrencyIsoCode": "CurrencyIsoCode"}


def _convert(state: SandboxState, writer: Writer, item: ET.Element) -> str:
    lead_obj = SCHEMA["Lead"]
    lead_id = _text(item, "leadId")
    log = state.store.savepoint()
    try:
        lead = _live(state, lead_obj, lead_id, "leadId")
        if lead.get("IsConverted"):
            raise ApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", ["leadId"])
        status = _text(item, "convertedStatus")
        if status != "Closed - Converted":
            raise ApiError(400, "INVALID_STATUS", f"invalid convertedStatus: {status}", ["convertedStatus"])
        account_id = _text(item, "accountId")
        if account_id:
            account_id = _live(state, SCHEMA["Account"], account_id, "accountId")["Id"]
        else:
            account_id = writer.create(SCHEMA["Account"], {"Name": lead.get("Company") or lead.get("LastName")})
        contact_id = _text(item, "contactId")
        if contact_id:
            contact_id = _live(state, SCHEMA["Contact"], contact_id, "contactId")["Id"]
        else:
            payload = {dst: lead[src] for src, dst in _LEAD_TO_CONTACT.items() if lead.get(src) is not None}
            contact_id = writer.create(SCHEMA["Contact"], {**payload, "AccountId": account_id})
        opportunity_id = None
        if (_text(item, "doNotCreateOpportunity") or "false").lower() != "true":
            name = _text(item, "opportunityName") or f"{lead.get('Company') or lead.get('LastName')}-"
            close = now_utc().date().isoformat()
            opportunity_id = writer.create(SCHEMA["Opportunity"], {"Name": name, "StageName": "Prospecting",
                                                                     "CloseDate": close, "AccountId": account_id})
        _system_update(state, lead_obj, lead, {
            "IsConverted": True, "ConvertedDate": now_utc().date(), "Status": status,
            "ConvertedAccountId": account_id, "ConvertedContactId": contact_id,
            **({"ConvertedOpportunityId": opportunity_id} if opportunity_id else {}),
        })
    except ApiError as exc:
        state.store.rollback_to(log)
        return f"{_errors_xml(exc)}<leadId>{escape(lead_id or '')}</leadId><success>false</success>"
    state.store.release(log)
    opp = f"<opportunityId>{opportunity_id}</opportunityId>" if opportunity_id else '<opportunityId xsi:nil="true"/>'
    return (f"<accountId>{account_id}</accountId><contactId>{contact_id}</contactId><leadId>{lead['Id']}</leadId>"
            f"{opp}<success>true</success>")


def _merge(state: SandboxState, writer: Writer, item: ET.Element) -> str:
    master_el = _child(item, "masterRecord")
    losers = [e.text.strip() for e in item if _local(e.tag) == "recordToMergeIds" and e.text]
    log = state.store.savepoint()
    master_id = None
    try:
        if master_el is None:
            raise ApiError(400, "INVALID_FIELD", "masterRecord is required", ["masterRecord"])
        master_id = _text(master_el, "Id")
        obj = object_for_id(to18(master_id)) if master_id and looks_like_id(master_id) else None
        if obj is None or obj.name not in MERGEABLE:
            raise ApiError(400, "INVALID_TYPE", "merge works on Account, Contact and Lead records", ["Id"])
        master = _live(state, obj, master_id, "masterRecord")
        if not 1 <= len(losers) <= 2:
            raise ApiError(400, "INVALID_ARGUMENT_TYPE", "merge takes one or two recordToMergeIds", [])
        loser_records = [_live(state, obj, rid, "recordToMergeIds") for rid in losers]
        if any(r["Id"] == master["Id"] for r in loser_records):
            raise ApiError(400, "INVALID_ID_FIELD", "the master record cannot be merged into itself", [])
        updates = {_local(e.tag): e.text for e in master_el if _local(e.tag) not in {"Id", "type"}}
        if updates:
            writer.update(obj, master["Id"], updates)
        loser_ids = {r["Id"] for r in loser_records}
        related = _reparent(state, loser_ids, master["Id"])
        for record in loser_records:
            _system_update(state, obj, record, {"IsDeleted": True, "MasterRecordId": master["Id"]})
    except ApiError as exc:
        state.store.rollback_to(log)
        return f"{_errors_xml(exc)}<id>{escape(master_id or '')}</id><success>false</success>"
    state.store.release(log)
    merged = "".join(f"<mergedRecordIds>{rid}</mergedRecordIds>" for rid in sorted(loser_ids))
    updated = "".join(f"<updatedRelatedIds>{rid}</updatedRelatedIds>" for rid in related)
    return f"<id>{master['Id']}</id>{merged}<success>true</success>{updated}"


def _reparent(state: SandboxState, loser_ids: set[str], master_id: str) -> list[str]:
    """Point the losers' child records at the master; a child that would duplicate one is deleted."""
    moved = []
    for obj in SCHEMA.values():
        refs = [f.name for f in obj.fields.values() if f.type == "reference" and f.name not in _NOT_REPARENTED]
        if not refs:
            continue
        table = state.store.table(obj.name)
        for record in list(table.records.values()):
            if record.get("IsDeleted"):
                continue
            changes = {name: master_id for name in refs if record.get(name) in loser_ids}
            if not changes:
                continue
            candidate = {**record, **changes}
            duplicate = any(
                table.lookup_together(names, tuple(candidate.get(n) for n in names)) - {record["Id"]}
                for names in obj.unique_together if all(candidate.get(n) is not None for n in names)
            )
            if duplicate:
                _system_update(state, obj, record, {"IsDeleted": True})
            else:
                _system_update(state, obj, record, changes)
            moved.append(record["Id"])
    return moved
