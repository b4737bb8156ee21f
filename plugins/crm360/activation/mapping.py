"""The publish -> Salesforce mapping (YAML): which publish model feeds which object fields, and how.

Per field:
  column           the publish model's column
  type             the Salesforce field type crm360 expects: text(N), number(P,S), currency(P,S),
                   percent(P,S), date, datetime, checkbox, and for standard fields of records
                   crm360 creates email, phone, picklist (checked against describe before a push,
                   and used to write the field definitions `crm360 salesforce check` prints)
  ownership        overwrite     crm360 owns the field and writes every change (default)
                   fill_empty    written only while the field is empty in the CRM
                   respect_edits written until a person edits it: when its current CRM value differs
                                 from the value crm360 last wrote, crm360 leaves it alone
  null_overwrites  whether a null from crm360 may clear a value in the CRM (default false: a null
                   is not sent)
  external_id      the field is an External ID (for the field definition; default false)
Per model:
  objects          the Salesforce objects its rows go to (describe checks them)
  on_removed       what happens to a record crm360 wrote before that is no longer published:
                   leave (default) or clear (crm360's fields are set to null)
A model whose rows are records to create (e.g. Leads for shoppers the CRM does not know) says
  create           the object to create; `key` is then the create key (one record per key, once)
  create_records   true to create them; false (the default) only counts them in the plan
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_MAPPING = Path(__file__).with_name("salesforce_mapping.yml")
OWNERSHIPS = ("overwrite", "fill_empty", "respect_edits")
REMOVAL_ACTIONS = ("leave", "clear")
TYPE_PATTERN = re.compile(r"^(text|number|currency|percent)\((\d+)(?:,\s*(\d+))?\)$"
                          r"|^(date|datetime|checkbox|email|phone|picklist)$")


class MappingError(ValueError):
    """The mapping file is not usable; the message names the entry and what to fix."""


@dataclass(frozen=True)
class FieldType:
    """A Salesforce field type as the mapping declares it: text(255), currency(16,2), date, ..."""

    kind: str  # text | number | currency | percent | date | datetime | checkbox | email | phone | picklist
    length: int | None = None  # text
    precision: int | None = None  # number, currency, percent
    scale: int | None = None

    @classmethod
    def parse(cls, spec: str) -> FieldType:
        match = TYPE_PATTERN.match(spec.strip().lower())
        if not match:
            raise ValueError(f"type {spec!r} is not one of text(N), number(P,S), currency(P,S), percent(P,S), "
                             "date, datetime, checkbox, email, phone, picklist")
        if match.group(4):
            return cls(match.group(4))
        kind, first, second = match.group(1), int(match.group(2)), match.group(3)
        if kind == "text":
            if second is not None:
                raise ValueError(f"type {spec!r}: text takes a length only, e.g. text(255)")
            return cls(kind, length=first)
        return cls(kind, precision=first, scale=int(second or 0))

    def __str__(self) -> str:
        if self.length is not None:
            return f"{self.kind}({self.length})"
        if self.precision is not None:
            return f"{self.kind}({self.precision},{self.scale})"
        return self.kind


@dataclass(frozen=True)
class FieldMap:
    field: str
    column: str
    ownership: str = "overwrite"
    type: FieldType | None = None
    null_overwrites: bool = False
    external_id: bool = False


@dataclass(frozen=True)
class PublishMap:
    model: str
    key: str
    sobject_column: str
    fields: tuple[FieldMap, ...]
    objects: tuple[str, ...] = ("Contact", "Lead")
    on_removed: str = "leave"
    create: str | None = None  # the object this model's rows create (None: rows update existing records)
    create_records: bool = False  # the explicit setting that lets crm360 create them


@dataclass(frozen=True)
class CampaignMap:
    """Campaign membership: the publish model of wanted members and what to do with Campaigns."""

    model: str = "campaign_members"
    create_missing: bool = False  # create a segment's target Campaign when the org has none of that name
    member_status: str = "Sent"


@dataclass(frozen=True)
class Mapping:
    path: Path
    publish: tuple[PublishMap, ...]
    campaigns: CampaignMap | None = None


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise MappingError(f"{where} must be true or false, not {value!r}")


def _field(where: str, name: str, spec: Any) -> FieldMap:
    if not isinstance(spec, dict):
        raise MappingError(f"{where}.fields.{name} must be a mapping like {{column: ..., type: text(255)}}")
    unknown = set(spec) - {"column", "type", "ownership", "null_overwrites", "external_id"}
    if unknown:
        raise MappingError(f"{where}.fields.{name}: unknown keys {sorted(unknown)}")
    if "column" not in spec:
        raise MappingError(f"{where}.fields.{name} has no 'column'")
    ownership = spec.get("ownership", "overwrite")
    if ownership not in OWNERSHIPS:
        raise MappingError(f"{where}.fields.{name}: ownership {ownership!r} is not one of {list(OWNERSHIPS)}")
    field_type = None
    if spec.get("type") is not None:
        try:
            field_type = FieldType.parse(str(spec["type"]))
        except ValueError as exc:
            raise MappingError(f"{where}.fields.{name}: {exc}") from exc
    return FieldMap(name, spec["column"], ownership, field_type,
                    _bool(spec.get("null_overwrites", False), f"{where}.fields.{name}.null_overwrites"),
                    _bool(spec.get("external_id", False), f"{where}.fields.{name}.external_id"))


def parse_mapping(document: Any, path: Path) -> Mapping:
    if not isinstance(document, dict):
        raise MappingError(f"{path} is not a YAML mapping with a 'publish' list")
    maps = []
    for i, entry in enumerate(document.get("publish") or []):
        where = f"{path}: publish[{i}]"
        create = entry.get("create")
        for key in ("model", "key", "fields", *(() if create else ("sobject_column",))):
            if key not in entry:
                raise MappingError(f"{where} has no '{key}'")
        create_records = _bool(entry.get("create_records", False), f"{where}.create_records")
        if create_records and not create:
            raise MappingError(f"{where}: create_records needs 'create: <Object>' (the object to create); "
                               "entries without it update records that exist")
        on_removed = entry.get("on_removed", "leave")
        if on_removed not in REMOVAL_ACTIONS:
            raise MappingError(f"{where}: on_removed {on_removed!r} is not one of {list(REMOVAL_ACTIONS)}")
        fields = tuple(_field(where, name, spec) for name, spec in (entry["fields"] or {}).items())
        if not fields:
            raise MappingError(f"{where} maps no fields")
        objects = (str(create),) if create else tuple(entry.get("objects") or ("Contact", "Lead"))
        maps.append(PublishMap(entry["model"], entry["key"], entry.get("sobject_column", ""), fields, objects,
                               on_removed, str(create) if create else None, create_records))
    if not maps:
        raise MappingError(f"{path} maps no publish model to Salesforce")
    campaigns = None
    if document.get("campaigns") is not None:
        spec = document["campaigns"]
        where = f"{path}: campaigns"
        if not isinstance(spec, dict):
            raise MappingError(f"{where} must be a mapping (model, create_missing, member_status)")
        unknown = set(spec) - {"model", "create_missing", "member_status"}
        if unknown:
            raise MappingError(f"{where}: unknown keys {sorted(unknown)}")
        campaigns = CampaignMap(spec.get("model", "campaign_members"),
                                _bool(spec.get("create_missing", False), f"{where}.create_missing"),
                                str(spec.get("member_status", "Sent")))
    return Mapping(path, tuple(maps), campaigns)


def mapping_path() -> Path:
    return Path(os.environ.get("CRM360_MAPPING", DEFAULT_MAPPING))


def load(path: Path | None = None) -> Mapping:
    """The whole mapping file: field publishing and campaign membership."""
    path = path or mapping_path()
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"cannot read the Salesforce mapping {path}: {exc}") from exc
    return parse_mapping(document, path)
