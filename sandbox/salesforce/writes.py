"""Record writes with Salesforce's validation: create, update, upsert, soft delete, and seeding.

Every function takes wire values (JSON or CSV text) keyed by field names in any case, validates and
coerces them, keeps the audit fields current, and raises :class:`ApiError` the way the REST API reports it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from .errors import ApiError, entity_deleted, not_found
from .faults import Faults
from .ids import looks_like_id, to18
from .schema import SCHEMA, Field, SObject, object_for_id
from .store import Record, Store
from .values import CoercionError, coerce, now_utc

IGNORED_KEYS = frozenset({"attributes"})


class Writer:
    """Validating writes against one :class:`Store` on behalf of one user."""

    def __init__(self, store: Store, user_id: str, faults: Faults | None = None) -> None:
        self.store = store
        self.user_id = user_id
        self.faults = faults

    def _automate(self, obj: SObject, record: Record, operation: str) -> None:
        """Run the automation rules (``/sandbox/faults``): a flow or trigger rewriting a field after the write."""
        if self.faults is None:
            return
        for rule in self.faults.automations(obj.name, operation):
            f = obj.field(str(rule.spec["field"]))
            if f is None:
                continue
            transform = rule.spec.get("transform")
            if transform in {"upper", "lower"}:
                current = record.get(f.name)
                value = (current.upper() if transform == "upper" else current.lower()) \
                    if isinstance(current, str) else current
            else:
                try:
                    value = coerce(f, rule.spec.get("value"))
                except CoercionError:
                    continue
            if value is None:
                record.pop(f.name, None)
            else:
                record[f.name] = value

    # ------------------------------------------------------------------ helpers
    def _resolve(self, obj: SObject, payload: dict[str, Any], *, creating: bool, from_csv: bool,
                 allow: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Validate field names, access and values; return canonical name -> stored value."""
        out: dict[str, Any] = {}
        for key, raw in payload.items():
            if key in IGNORED_KEYS:
                continue
            f = obj.field(key)
            if f is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key])
            if f.name in allow:
                continue
            if from_csv and isinstance(raw, str) and raw == "":
                continue
            if f.name == "Id":
                if creating:
                    raise ApiError(400, "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call",
                                   ["Id"])
                continue
            if not (f.createable if creating else f.updateable):
                raise ApiError(
                    400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {f.name}. Please check the security settings of this field "
                    "and verify that it is read/write for your profile or permission set.", [f.name])
            try:
                value = coerce(f, raw, from_csv=from_csv)
            except CoercionError as exc:
                raise ApiError(400, exc.code, exc.message, [f.name]) from exc
            if f.type == "reference" and value is not None:
                value = self._check_reference(f.name, f.label or f.name, f.reference_to, value)
            if value is None and not f.nillable and f.type != "boolean":
                raise ApiError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{f.name}]", [f.name])
            if value is None and f.type == "boolean":
                value = bool(f.default)
            out[f.name] = value
        return out

    def _check_reference(self, name: str, label: str, targets: tuple[str, ...], value: str) -> str:
        if not looks_like_id(value):
            raise ApiError(400, "MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [name])
        value = to18(value)
        target = object_for_id(value)
        if target is None or target.name not in targets:
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"{label}: id value of incorrect type: {value}", [name])
        found = self.store.get_in(target, value)
        if found is None:
            raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name])
        if found.get("IsDeleted"):
            raise ApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [name])
        return value

    @staticmethod
    def derive(obj: SObject, record: Record) -> None:
        """Fill calculated fields the way Salesforce formulas and standard logic do."""
        if obj.name in {"Contact", "Lead", "User"}:
            parts = [record.get("FirstName"), record.get("LastName")]
            name = " ".join(p for p in parts if p)
            if name:
                record["Name"] = name
        if obj.name == "Opportunity":
            stage = record.get("StageName") or ""
            record["IsClosed"] = stage in {"Closed Won", "Closed Lost"}
            record["IsWon"] = stage == "Closed Won"
        if obj.name == "CampaignMember":
            responded = record.get("Status") == "Responded"
            record["HasResponded"] = responded or bool(record.get("HasResponded"))
        if obj.name == "Task":
            record["IsClosed"] = record.get("Status") == "Completed"

    def _defaults(self, obj: SObject, record: Record) -> None:
        for f in obj.fields.values():
            if record.get(f.name) is None and f.default is not None:
                record[f.name] = f.default
        if "OwnerId" in obj.fields and record.get("OwnerId") is None:
            record["OwnerId"] = self.user_id

    def _check_required(self, obj: SObject, record: Record) -> None:
        missing = [f.name for f in obj.fields.values() if f.required and record.get(f.name) is None]
        if obj.name == "CampaignMember" and not record.get("ContactId") and not record.get("LeadId"):
            missing.extend(["ContactId", "LeadId"])
        if missing:
            raise ApiError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                           missing)

    def _check_unique(self, obj: SObject, record: Record) -> None:
        table = self.store.table(obj.name)
        rid = record["Id"]
        for f in obj.unique_fields:
            value = record.get(f.name)
            if value is None:
                continue
            others = table.lookup_unique(f.name, value) - {rid}
            if others:
                other = sorted(others)[0]
                raise ApiError(400, "DUPLICATE_VALUE",
                               f"duplicate value found: {f.name} duplicates value on record with id: {other}", [])
        for names in obj.unique_together:
            values = tuple(record.get(n) for n in names)
            if any(v is None for v in values):
                continue
            if table.lookup_together(names, values) - {rid}:
                raise ApiError(400, "DUPLICATE_VALUE", obj.unique_together_message, [])

    def live(self, obj: SObject, rid: str) -> Record:
        if not looks_like_id(rid) or object_for_id(to18(rid)) is not obj:
            raise not_found(f"Provided external ID field does not exist or is not accessible: {rid}")
        record = self.store.get_in(obj, rid)
        if record is None:
            raise not_found()
        if record.get("IsDeleted"):
            raise entity_deleted()
        return record

    # ------------------------------------------------------------------ operations
    def create(self, obj: SObject, payload: dict[str, Any], *, from_csv: bool = False,
               now: dt.datetime | None = None) -> str:
        """Insert one record; return its id."""
        if not obj.createable:
            raise ApiError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support insert", [])
        values = self._resolve(obj, payload, creating=True, from_csv=from_csv)
        record: Record = {k: v for k, v in values.items() if v is not None}
        self._defaults(obj, record)
        self.derive(obj, record)
        self._check_required(obj, record)
        stamp = now or now_utc()
        record["Id"] = self.store.new_id(obj)
        record.update({"IsDeleted": False, "CreatedDate": stamp, "CreatedById": self.user_id,
                       "LastModifiedDate": stamp, "LastModifiedById": self.user_id, "SystemModstamp": stamp})
        self._check_unique(obj, record)
        self._automate(obj, record, "insert")
        self.store.put(obj, record)
        return record["Id"]

    def update(self, obj: SObject, rid: str, payload: dict[str, Any], *, from_csv: bool = False,
               allow: frozenset[str] = frozenset()) -> str:
        """Update one live record; return its 18-character id."""
        if not obj.updateable:
            raise ApiError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support update", [])
        old = self.live(obj, rid)
        if obj.name == "Lead" and old.get("IsConverted"):
            raise ApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
        values = self._resolve(obj, payload, creating=False, from_csv=from_csv, allow=allow)
        for name, value in values.items():
            f = obj.fields[name]
            if value is None and f.required:
                raise ApiError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name])
        record = dict(old)
        for name, value in values.items():
            if value is None:
                record.pop(name, None)
            else:
                record[name] = value
        self.derive(obj, record)
        stamp = now_utc()
        record.update({"LastModifiedDate": stamp, "LastModifiedById": self.user_id, "SystemModstamp": stamp})
        self._check_unique(obj, record)
        self._automate(obj, record, "update")
        self.store.put(obj, record)
        return record["Id"]

    def upsert(self, obj: SObject, ext_field: str, ext_value: Any, payload: dict[str, Any], *,
               from_csv: bool = False) -> tuple[str, bool]:
        """Create or update by an external id; return (id, created). Several matches raise a 300."""
        f = obj.field(ext_field)
        if f is None or not (f.external_id or f.name == "Id"):
            raise not_found(f"Provided external ID field does not exist or is not accessible: {ext_field}")
        body = {k: v for k, v in payload.items() if obj.field(k) is None or obj.field(k).name != f.name}
        if f.name == "Id":
            if ext_value in (None, ""):
                return self.create(obj, body, from_csv=from_csv), True
            return self.update(obj, str(ext_value), body, from_csv=from_csv), False
        if ext_value is None or ext_value == "":
            raise ApiError(400, "MISSING_ARGUMENT", f"{f.name} not specified", [])
        try:
            key = coerce(f, ext_value, from_csv=from_csv)
        except CoercionError as exc:
            raise ApiError(400, exc.code, exc.message, [f.name]) from exc
        matches = sorted(self.store.table(obj.name).lookup_unique(f.name, key))
        if len(matches) > 1:
            raise ApiError(300, "MULTIPLE_CHOICES", ",".join(matches), [])
        if matches:
            return self.update(obj, matches[0], body, from_csv=from_csv), False
        return self.create(obj, {**body, f.name: ext_value}, from_csv=from_csv), True

    def delete(self, obj: SObject, rid: str) -> str:
        """Soft-delete one record (queryAll still sees it with IsDeleted = true)."""
        if not obj.deletable:
            raise ApiError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support delete", [])
        old = self.live(obj, rid)
        stamp = now_utc()
        record = dict(old)
        record.update({"IsDeleted": True, "LastModifiedDate": stamp, "LastModifiedById": self.user_id,
                       "SystemModstamp": stamp})
        self.store.put(obj, record)
        return record["Id"]


_PLAIN_TEXT = frozenset({"string", "picklist", "multipicklist", "combobox", "textarea", "phone", "url"})


def _seed_converter(f: Field, parsed: dict[tuple[str, Any], Any]) -> Callable[[Any], Any]:
    """The fastest correct conversion of one column's wire values (``coerce`` does the checking)."""
    if f.type in _PLAIN_TEXT:
        limit = f.length

        def text(raw: Any) -> Any:
            if type(raw) is str and raw and (not limit or len(raw) <= limit):
                return raw
            return coerce(f, raw)

        return text
    if f.type == "boolean":
        return lambda raw: raw if type(raw) is bool else coerce(f, raw)
    if f.type in {"datetime", "date"}:
        # rows of one chunk share many stamps: parse each distinct text once (and share the object)

        def stamp(raw: Any) -> Any:
            if not isinstance(raw, str):
                return coerce(f, raw)
            key = (f.type, raw)
            value = parsed.get(key)
            if value is None:
                value = parsed[key] = coerce(f, raw)
            return value

        return stamp
    if f.type in {"id", "reference"}:

        def ident(raw: Any) -> Any:
            value = coerce(f, raw)
            return to18(value) if isinstance(value, str) else value

        return ident
    return lambda raw: coerce(f, raw)


def seed_records(store: Store, obj: SObject, rows: list[dict[str, Any]], user_id: str,
                 stamp: dt.datetime | None = None) -> int:
    """Insert records as given (Ids and audit fields included); fill defaults; skip write validation.

    Unknown field names and values that cannot be stored are errors so that generator bugs show.
    Nothing is stored unless every row is valid. ``stamp`` is the default CreatedDate (now).
    """
    stamp = stamp or now_utc()
    resolved: list[Record] = []
    # Seeding loads millions of rows: resolve each column once per call.
    columns: dict[str, tuple[str, Callable[[Any], Any]] | None] = {}
    parsed: dict[tuple[str, Any], Any] = {}
    defaults = [(f.name, f.default) for f in obj.fields.values() if f.default is not None]
    for n, row in enumerate(rows):
        record: Record = {}
        for key, raw in row.items():
            column = columns.get(key, False)
            if column is False:
                found = obj.field(key)
                if found is None and key not in IGNORED_KEYS:
                    raise ApiError(400, "INVALID_FIELD", f"record {n}: no field '{key}' on {obj.name}", [key])
                column = columns[key] = (found.name, _seed_converter(found, parsed)) if found else None
            if column is None:
                continue
            name, convert = column
            try:
                value = convert(raw)
            except CoercionError as exc:
                raise ApiError(400, exc.code, f"record {n}: {exc.message}", [name]) from exc
            if value is not None:
                record[name] = value
        rid = record.get("Id")
        if rid is None:
            record["Id"] = store.new_id(obj)
        elif object_for_id(rid) is not obj or not re.fullmatch(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?", rid):
            raise ApiError(400, "MALFORMED_ID", f"record {n}: Id {rid} is not a {obj.name} id "
                           f"(expected prefix {obj.key_prefix})", ["Id"])
        for name, default in defaults:
            if record.get(name) is None:
                record[name] = default
        if "OwnerId" in obj.fields:
            record.setdefault("OwnerId", user_id)
        record.setdefault("CreatedById", user_id)
        record.setdefault("LastModifiedById", user_id)
        created = record.setdefault("CreatedDate", stamp)
        modified = record.setdefault("LastModifiedDate", created)
        record.setdefault("SystemModstamp", modified)
        record.setdefault("IsDeleted", False)
        given_name = record.get("Name")
        Writer.derive(obj, record)
        if given_name and obj.name not in {"Contact", "Lead", "User"}:
            record["Name"] = given_name
        resolved.append(record)
    table = store.table(obj.name)
    for record in resolved:
        table.put(record)
    return len(resolved)


def all_objects() -> list[SObject]:
    return list(SCHEMA.values())
