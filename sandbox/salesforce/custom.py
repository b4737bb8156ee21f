"""Custom fields and objects: declared in a schema file loaded at start, or added/removed at run time.

A schema file (JSON, or YAML if it ends in ``.yml``/``.yaml``)::

    objects:
      Contact:
        fields:
          - {name: Loyalty_Tier__c, type: picklist, values: [Gold, Silver, Bronze]}
          - {name: Loyalty_Points__c, type: double, precision: 18, scale: 0}
          - {name: Loyalty_Number__c, type: string, length: 32, externalId: true, unique: true}
          - {name: Loyalty_Since__c, type: date, updateable: false}   # read-only for the integration user
      Loyalty_Program__c:          # a custom object: needs a keyPrefix
        keyPrefix: a01
        fields:
          - {name: Contact__c, type: reference, referenceTo: Contact}

Every change is a small dict (``{"op": "add_field", "object": ..., "field": {...}}``,
``{"op": "drop_field", ...}``, ``{"op": "add_object", ...}``) so that the running org can journal it
and replay it after a restart. :func:`apply` changes the shared :data:`~.schema.SCHEMA` in place.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .schema import (
    SCHEMA,
    SCHEMA_BY_LOWER,
    SCHEMA_BY_PREFIX,
    Field,
    SObject,
    _audit,
    _label,
    _obj,
    _owner,
    build_schema,
    find_object,
)

FIELD_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "boolean",
                         "int", "double", "currency", "percent", "date", "datetime", "reference"})
_CUSTOM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$")


class SchemaError(ValueError):
    """A schema declaration or change that cannot be applied; the message says what to fix."""


def field_from_spec(obj_name: str, spec: dict[str, Any]) -> Field:
    """Build a custom :class:`Field` from its declaration (describe-style keys, camelCase)."""
    if not isinstance(spec, dict):
        raise SchemaError(f"{obj_name}: a field must be an object with at least name and type, got {spec!r}")
    name = str(spec.get("name") or "")
    if not _CUSTOM_NAME.match(name) or "__" in name[:-3]:
        raise SchemaError(f"{obj_name}: custom field names look like My_Field__c (letters, digits, single "
                          f"underscores, ending in __c); got {name!r}")
    ftype = str(spec.get("type") or "").lower()
    if ftype == "checkbox":
        ftype = "boolean"
    if ftype not in FIELD_TYPES:
        raise SchemaError(f"{obj_name}.{name}: unknown type {spec.get('type')!r}; use one of {sorted(FIELD_TYPES)}")
    kw: dict[str, Any] = {"label": str(spec.get("label") or _label(name)), "custom": True}
    if ftype in {"string", "email", "phone", "url", "picklist", "multipicklist"}:
        kw["length"] = int(spec.get("length") or (80 if ftype == "email" else 255))
    elif ftype == "textarea":
        kw["length"] = int(spec.get("length") or 32768)
    elif ftype in {"double", "currency", "percent", "int"}:
        kw["precision"] = int(spec.get("precision") or 18)
        kw["scale"] = int(spec.get("scale") or (2 if ftype == "currency" else 0))
    if ftype in {"picklist", "multipicklist"}:
        values = spec.get("values") or spec.get("picklistValues") or []
        kw["picklist"] = tuple(str(v) for v in values)
    if ftype == "boolean":
        kw["nillable"] = False
        kw["default"] = bool(spec.get("defaultValue", False))
    elif spec.get("defaultValue") is not None:
        kw["default"] = spec["defaultValue"]
    if ftype == "reference":
        targets = spec.get("referenceTo")
        targets = [targets] if isinstance(targets, str) else list(targets or [])
        resolved = []
        for target in targets:
            target_obj = find_object(str(target))
            if target_obj is None:
                raise SchemaError(f"{obj_name}.{name}: referenceTo names an unknown object {target!r}")
            resolved.append(target_obj.name)
        if not resolved:
            raise SchemaError(f"{obj_name}.{name}: a reference field needs referenceTo")
        kw["reference_to"] = tuple(resolved)
        kw["relationship_name"] = str(spec.get("relationshipName") or name[:-3] + "__r")
        kw["length"] = 18
    external = bool(spec.get("externalId", False))
    unique = bool(spec.get("unique", False))
    if (external or unique) and ftype not in {"string", "email", "int", "double"}:
        raise SchemaError(f"{obj_name}.{name}: only text, email and number fields can be External ID or Unique")
    required = bool(spec.get("required", False))
    kw.update(external_id=external, id_lookup=external or unique, unique=unique, required=required)
    # read-only for the integration user, as field-level security without edit access makes a field
    for flag in ("createable", "updateable"):
        value = spec.get(flag, True)
        if not isinstance(value, bool):
            raise SchemaError(f"{obj_name}.{name}: {flag} must be true or false, got {value!r}")
        kw[flag] = value
    if required:
        kw["nillable"] = False
    return Field(name, ftype, **kw)


def object_from_spec(name: str, spec: dict[str, Any]) -> SObject:
    """A custom object with the standard fields (Id, audit fields, Name, OwnerId) and its declared fields."""
    if not _CUSTOM_NAME.match(name):
        raise SchemaError(f"custom object names look like My_Object__c; got {name!r}")
    prefix = str(spec.get("keyPrefix") or "")
    if not re.fullmatch(r"[a-zA-Z0-9]{3}", prefix) or prefix in SCHEMA_BY_PREFIX:
        raise SchemaError(f"{name}: keyPrefix must be 3 letters/digits not used by another object (e.g. a01); "
                          f"got {prefix!r}")
    name_field = Field("Name", "string", length=80, nillable=False, name_field=True,
                       label=str(spec.get("nameLabel") or f"{_label(name)} Name"))
    obj = _obj(name, prefix, [*_audit(), name_field, *_owner()], plural=spec.get("labelPlural"))
    obj.label = str(spec.get("label") or obj.label)
    return obj


def _register(obj: SObject) -> None:
    obj.__post_init__()
    SCHEMA[obj.name] = obj
    SCHEMA_BY_LOWER[obj.name.lower()] = obj
    SCHEMA_BY_PREFIX[obj.key_prefix] = obj


def apply(change: dict[str, Any]) -> None:
    """Apply one schema change to :data:`SCHEMA` (raises :class:`SchemaError` without changing anything)."""
    op = change.get("op")
    if op == "add_object":
        name = str(change.get("object") or "")
        if find_object(name) is not None:
            raise SchemaError(f"object {name} already exists")
        obj = object_from_spec(name, change.get("spec") or {})
        fields = [field_from_spec(name, f) for f in (change.get("spec") or {}).get("fields") or []]
        _register(obj)
        for f in fields:
            obj.fields[f.name] = f
        obj.__post_init__()
        return
    obj = find_object(str(change.get("object") or ""))
    if obj is None:
        raise SchemaError(f"unknown object {change.get('object')!r}")
    if op == "add_field":
        new = field_from_spec(obj.name, change.get("field") or {})
        if obj.field(new.name) is not None:
            raise SchemaError(f"{obj.name}.{new.name} already exists")
        obj.fields[new.name] = new
        obj.__post_init__()
        return
    if op == "drop_field":
        f = obj.field(str(change.get("field") or ""))
        if f is None:
            raise SchemaError(f"{obj.name} has no field {change.get('field')!r}")
        if not f.custom:
            raise SchemaError(f"{obj.name}.{f.name} is a standard field; only custom fields can be deleted")
        del obj.fields[f.name]
        obj.__post_init__()
        return
    raise SchemaError(f"unknown schema change {op!r}")


def reset_schema() -> None:
    """Back to the built-in objects (the schema file is applied again by the caller)."""
    base = build_schema()
    SCHEMA.clear()
    SCHEMA.update(base)
    SCHEMA_BY_LOWER.clear()
    SCHEMA_BY_LOWER.update({name.lower(): o for name, o in base.items()})
    SCHEMA_BY_PREFIX.clear()
    SCHEMA_BY_PREFIX.update({o.key_prefix: o for o in base.values()})


def changes_from_file(path: Path) -> list[dict[str, Any]]:
    """The schema file as a list of changes (objects first, then fields), validated by :func:`apply` later."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() in {".yml", ".yaml"}:
        import yaml

        doc = yaml.safe_load(text)
    else:
        doc = json.loads(text)
    objects = (doc or {}).get("objects") if isinstance(doc, dict) else None
    if not isinstance(objects, dict):
        raise SchemaError(f"{path}: expected a top-level 'objects' mapping of object name -> {{fields: [...]}}")
    changes: list[dict[str, Any]] = []
    fields: list[dict[str, Any]] = []
    for name, spec in objects.items():
        spec = spec or {}
        if find_object(name) is None:
            changes.append({"op": "add_object", "object": name, "spec": {k: v for k, v in spec.items()
                                                                          if k != "fields"}})
        for f in spec.get("fields") or []:
            fields.append({"op": "add_field", "object": name, "field": f})
    return changes + fields
