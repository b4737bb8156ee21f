"""The publish -> Salesforce field mapping (YAML)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_MAPPING = Path(__file__).with_name("salesforce_mapping.yml")
OWNERSHIPS = {"overwrite"}


class MappingError(ValueError):
    """The mapping file is not usable; the message names the entry and what to fix."""


@dataclass(frozen=True)
class FieldMap:
    field: str
    column: str
    ownership: str


@dataclass(frozen=True)
class PublishMap:
    model: str
    key: str
    sobject_column: str
    fields: tuple[FieldMap, ...]


def load_mapping(path: Path | None = None) -> list[PublishMap]:
    path = path or Path(os.environ.get("CRM360_MAPPING", DEFAULT_MAPPING))
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"cannot read the Salesforce mapping {path}: {exc}") from exc
    maps = []
    for i, entry in enumerate(document.get("publish") or []):
        where = f"{path}: publish[{i}]"
        for key in ("model", "key", "sobject_column", "fields"):
            if key not in entry:
                raise MappingError(f"{where} has no '{key}'")
        fields = []
        for field_name, spec in entry["fields"].items():
            ownership = spec.get("ownership", "overwrite")
            if ownership not in OWNERSHIPS:
                raise MappingError(f"{where}.fields.{field_name}: ownership {ownership!r} is not one of "
                                   f"{sorted(OWNERSHIPS)}")
            if "column" not in spec:
                raise MappingError(f"{where}.fields.{field_name} has no 'column'")
            fields.append(FieldMap(field_name, spec["column"], ownership))
        maps.append(PublishMap(entry["model"], entry["key"], entry["sobject_column"], tuple(fields)))
    if not maps:
        raise MappingError(f"{path} maps no publish model to Salesforce")
    return maps
