"""Before writing: is the Salesforce org ready for what the mapping pushes?

`check_org` describes every object the mapping writes to (and, when the mapping has campaign
membership, Campaign and CampaignMember) and runs one SOQL query (`Organization.IsSandbox`); it
writes nothing. For every mapped field on every object it reports ok, missing, not updateable,
incompatible type, too short (text) or too small (number precision/scale), plus warnings that do not
stop a push. `require_pushable` raises `PreflightFailed` naming every problem; the push calls it
before any write. `write_metadata` writes Salesforce DX source (custom fields and a permission set
for the integration user) that `sf project deploy start` deploys.

What stops a push and what only warns:
  missing, not updateable, incompatible type: every write of that field would fail, so nothing is
      written (a half-applied push is worse than none).
  text too short, number precision/scale too small: only values that do not fit fail (STRING_TOO_LONG,
      NUMBER_OUTSIDE_VALID_RANGE) or lose decimals, one record at a time; those failures are stored and
      retried like any other, so the push goes on and the check warns.
  picklist for a text mapping: Salesforce stores a value that is not in an unrestricted picklist's
      value set (it shows as an inactive value), so it is a warning; a restricted picklist rejects
      such values, and crm360's values (segment names, products, offers) are data, so that is an
      incompatible type.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crm360.activation.mapping import FieldMap, FieldType, Mapping

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

log = logging.getLogger(__name__)

PERMISSION_SET = "Crm360_Integration"
METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
SOURCE_DIR = Path("force-app", "main", "default")

OK = "ok"
MISSING = "missing"
NOT_UPDATEABLE = "not updateable"
INCOMPATIBLE = "incompatible type"
TOO_SHORT = "too short"
TOO_SMALL = "too small"
WARNING = "warning"
BLOCKING = (MISSING, NOT_UPDATEABLE, INCOMPATIBLE)

# describe `type` values that take each mapped kind
COMPATIBLE_TYPES: dict[str, frozenset[str]] = {
    "text": frozenset({"string", "textarea", "combobox"}),
    "number": frozenset({"double", "int"}),
    "currency": frozenset({"currency"}),
    "percent": frozenset({"percent"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime"}),
    "checkbox": frozenset({"boolean"}),
    "email": frozenset({"email"}),
    "phone": frozenset({"phone"}),
    "picklist": frozenset({"picklist"}),
}
PICKLIST_TYPES = frozenset({"picklist", "multipicklist"})
NUMERIC_TYPES = frozenset({"double", "int", "currency", "percent"})
# what to create for each kind (Metadata API FieldType)
METADATA_TYPES = {"text": "Text", "number": "Number", "currency": "Currency", "percent": "Percent",
                  "date": "Date", "datetime": "DateTime", "checkbox": "Checkbox"}
TEXT_MAX_LENGTH = 255  # longer text fields are Long Text Area
SETUP_NAMES = {"text": "Text (or Text Area / Long Text Area)", "number": "Number", "currency": "Currency",
               "percent": "Percent", "date": "Date", "datetime": "Date/Time", "checkbox": "Checkbox",
               "email": "Email", "phone": "Phone", "picklist": "Picklist"}
# Salesforce has no object permissions for these: every user can read User records (sharing decides
# which), and access to activities follows the records they relate to. A permission set naming them
# does not deploy.
NO_OBJECT_PERMISSIONS = frozenset({"User", "Task", "Event"})


class PreflightFailed(RuntimeError):
    """The org cannot take the push; nothing was written. The message lists every problem."""

    def __init__(self, report: CheckReport) -> None:
        self.report = report
        lines = "\n".join(f"  - {p}" for p in report.problems)
        super().__init__(
            f"Salesforce org {report.instance} is not ready for crm360's push, nothing was written "
            f"({len(report.problems)} problem(s)):\n{lines}\n"
            "Run `crm360 salesforce check --out metadata/` to see every mapped field and get the field "
            "definitions and permission set that fix what is missing.")


@dataclass(frozen=True)
class MappedField:
    """One mapped field on one object: (Contact, Crm360_Segment__c) from publish.contact_attributes."""

    sobject: str
    model: str
    map: FieldMap
    access: str = "updateable"  # the describe flag crm360's write needs: updateable, or createable for creates

    @property
    def name(self) -> str:
        return f"{self.sobject}.{self.map.field}"


@dataclass(frozen=True)
class Finding:
    status: str
    message: str

    @property
    def blocking(self) -> bool:
        return self.status in BLOCKING


@dataclass(frozen=True)
class FieldCheck:
    sobject: str
    field: str
    model: str
    column: str
    expected: str  # the mapping's type, e.g. text(255)
    found: str  # describe's, e.g. string(255), or "missing"
    findings: tuple[Finding, ...] = ()

    @property
    def status(self) -> str:
        """The worst finding: a blocking one first, then a warning, else ok."""
        ordered = sorted(self.findings, key=lambda f: (not f.blocking, f.status == WARNING))
        return ordered[0].status if ordered else OK


@dataclass(frozen=True)
class ObjectCheck:
    sobject: str
    needs: str  # what crm360 does with it: "update", "create, delete", ...
    found: bool
    findings: tuple[Finding, ...] = ()


@dataclass
class CheckReport:
    """What `check_org` found; `problems` stop a push, `warnings` do not."""

    instance: str
    api_version: str
    is_sandbox: bool | None
    objects: list[ObjectCheck] = field(default_factory=list)
    fields: list[FieldCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def pushable(self) -> bool:
        return not self.problems

    @property
    def org_kind(self) -> str:
        return {True: "sandbox", False: "production"}.get(self.is_sandbox, "unknown")

    def missing(self) -> list[FieldCheck]:
        return [f for f in self.fields if f.status == MISSING]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(pushable=self.pushable, org_kind=self.org_kind)
        for check, row in zip(self.fields, out["fields"], strict=True):
            row["status"] = check.status
        return out


def mapped_fields(mapping: Mapping) -> list[MappedField]:
    """Every (object, field) the mapping writes, in mapping order."""
    return [MappedField(sobject, publish.model, fmap, "createable" if publish.create else "updateable")
            for publish in mapping.publish if publish.create is None or publish.create_records
            for sobject in publish.objects for fmap in publish.fields]


def describe_type(described: dict[str, Any]) -> str:
    """A describe field's type as the table shows it: string(255), double(18,0), int(9), date."""
    kind = described.get("type") or "?"
    if kind == "int":
        return f"int({described.get('digits') or 0})"
    if kind in NUMERIC_TYPES:
        return f"{kind}({described.get('precision') or 0},{described.get('scale') or 0})"
    if described.get("length"):
        return f"{kind}({described['length']})"
    return kind


def _digits(described: dict[str, Any]) -> tuple[int, int]:
    """(digits before the decimal point, digits after) a numeric describe field holds."""
    if described.get("type") == "int":
        return int(described.get("digits") or 0), 0
    precision, scale = int(described.get("precision") or 0), int(described.get("scale") or 0)
    return precision - scale, scale


def check_field(target: MappedField, described: dict[str, Any] | None) -> FieldCheck:
    """Compare one mapped field with its describe entry (None: describe does not list it)."""
    fmap, name = target.map, target.name
    expected = str(fmap.type) if fmap.type else "(no type in the mapping)"
    source = f"publish.{target.model}.{fmap.column}"
    if described is None:
        return FieldCheck(target.sobject, fmap.field, target.model, fmap.column, expected, MISSING, (Finding(
            MISSING,
            f"{name} is missing: crm360 writes {source} to it as {expected}, and describe of {target.sobject} "
            "does not list it (the field does not exist, or field-level security hides it from the "
            f"integration user). Create it (`crm360 salesforce check --out DIR` writes its definition) "
            f"and give the integration user read and edit access (the {PERMISSION_SET} permission set)."),))
    found = describe_type(described)
    findings = [*_type_findings(target, described, expected, found, source), *_other_findings(target, described)]
    return FieldCheck(target.sobject, fmap.field, target.model, fmap.column, expected, found, tuple(findings))


def _type_findings(target: MappedField, described: dict[str, Any], expected: str, found: str,
                   source: str) -> list[Finding]:
    ftype, name, kind = target.map.type, target.name, described.get("type")
    if ftype is None:
        return [Finding(WARNING, f"{name}: the mapping gives no type for {source}, so its type is not checked "
                                 "(add e.g. `type: text(255)` to the field in the mapping)")]
    if kind in PICKLIST_TYPES and ftype.kind == "text":
        if described.get("restrictedPicklist"):
            return [Finding(INCOMPATIBLE, (
                f"{name} is a restricted {kind} ({found}), but crm360 writes free text to it ({expected}, "
                f"from {source}): Salesforce rejects every value not in its value set. Make the picklist "
                "unrestricted, change the field to Text, or map the column to a different field."))]
        return [Finding(WARNING, (
            f"{name} is a {kind} ({found}) and crm360 writes free text to it ({expected}): values not in its "
            "value set are stored as inactive picklist values. A Text field is the usual choice."))]
    if kind not in COMPATIBLE_TYPES[ftype.kind]:
        return [Finding(INCOMPATIBLE, (
            f"{name} has type {found}, but crm360 writes {expected} to it (from {source}), which needs a "
            f"{SETUP_NAMES[ftype.kind]} field ({' or '.join(sorted(COMPATIBLE_TYPES[ftype.kind]))} in describe). "
            "Change the field's type in Setup (a type change can lose data) or map the column to a different "
            "field."))]
    return _size_findings(name, ftype, described, expected, found)


def _size_findings(name: str, ftype: FieldType, described: dict[str, Any], expected: str,
                   found: str) -> list[Finding]:
    if ftype.kind == "text" and ftype.length and int(described.get("length") or 0) < ftype.length:
        return [Finding(TOO_SHORT, (
            f"{name} holds {described.get('length')} characters ({found}); crm360 maps {expected}: a longer "
            f"value fails for its record (STRING_TOO_LONG) and is retried on the next run. Raise the field's "
            f"length to {ftype.length}."))]
    if ftype.precision is not None and described.get("type") in NUMERIC_TYPES:
        whole, decimals = _digits(described)
        want_whole, want_decimals = ftype.precision - (ftype.scale or 0), ftype.scale or 0
        too_small = []
        if whole < want_whole:
            too_small.append(f"{whole} digits before the decimal point (crm360 needs {want_whole}: larger "
                             "values fail for their record with NUMBER_OUTSIDE_VALID_RANGE)")
        if decimals < want_decimals:
            too_small.append(f"{decimals} decimal places (crm360 sends {want_decimals}: Salesforce rounds them)")
        if too_small:
            return [Finding(TOO_SMALL, (
                f"{name} ({found}) holds {' and '.join(too_small)}; crm360 maps {expected}. Raise the field's "
                f"length and decimal places to ({ftype.precision},{ftype.scale or 0})."))]
    return []


def _other_findings(target: MappedField, described: dict[str, Any]) -> list[Finding]:
    name, fmap = target.name, target.map
    findings = []
    if target.access == "createable" and not described.get("createable"):
        findings.append(Finding(NOT_UPDATEABLE, (
            f"{name} is not createable (describe createable=false), and crm360 creates {target.sobject} records "
            f"with it (publish.{target.model}). Grant Edit in field-level security (the {PERMISSION_SET} "
            "permission set does) or remove the field from the mapping.")))
    elif target.access == "updateable" and not described.get("updateable"):
        if described.get("calculated"):
            why = ("it is a formula (calculated) field, which nobody can write. Map the column to a different "
                   "field, or replace the formula with a plain field of the mapped type")
        else:
            why = (f"the integration user has no edit access to it. Deploy and assign the {PERMISSION_SET} "
                   "permission set (`crm360 salesforce check --out DIR` writes it) or grant Edit in field-level "
                   "security")
        findings.append(Finding(NOT_UPDATEABLE, f"{name} is not updateable (describe updateable=false): {why}."))
    if fmap.external_id and not described.get("externalId"):
        findings.append(Finding(WARNING, (
            f"{name} is not an External ID; the mapping declares it one (external_id: true), so finding "
            "records by it is slow. Tick External ID on the field.")))
    if described.get("unique"):
        findings.append(Finding(WARNING, (
            f"{name} is Unique: crm360 may write one value to several records (duplicate Contacts of one "
            "person share a customer id), and Salesforce rejects the second with DUPLICATE_VALUE. Untick "
            "Unique on the field.")))
    return findings


def _describe(sf: Salesforce, sobject: str) -> dict[str, Any] | None:
    from simple_salesforce.exceptions import SalesforceResourceNotFound

    try:
        return getattr(sf, sobject).describe()
    except SalesforceResourceNotFound:
        return None


def _object_needs(mapping: Mapping) -> dict[str, tuple[str, ...]]:
    """Object -> the describe flags crm360's writes need (object-level permissions of the user)."""
    needs: dict[str, tuple[str, ...]] = {}
    for publish in mapping.publish:
        if publish.create is not None and not publish.create_records:
            continue  # planned only
        for sobject in publish.objects:
            flag = "createable" if publish.create else "updateable"
            needs[sobject] = tuple(dict.fromkeys((*needs.get(sobject, ()), flag)))
    if mapping.campaigns is not None:
        # members are added and removed; a segment's Campaign may be created
        needs["CampaignMember"] = ("createable", "deletable")
        if mapping.campaigns.create_missing:
            needs["Campaign"] = ("createable",)
    return needs


def _is_sandbox(sf: Salesforce) -> bool | None:
    records = sf.query("SELECT IsSandbox FROM Organization LIMIT 1").get("records") or []
    return bool(records[0].get("IsSandbox")) if records else None


def check_org(sf: Salesforce, mapping: Mapping) -> CheckReport:
    """Describe the objects the mapping writes and compare every mapped field. Reads only."""
    report = CheckReport(instance=str(getattr(sf, "sf_instance", "") or ""),
                         api_version=str(getattr(sf, "sf_version", "") or ""), is_sandbox=_is_sandbox(sf))
    described: dict[str, dict[str, dict[str, Any]] | None] = {}
    verbs = {"updateable": "edit", "createable": "create", "deletable": "delete"}
    for sobject, flags in _object_needs(mapping).items():
        describe = _describe(sf, sobject)
        described[sobject] = None if describe is None else {f["name"]: f for f in describe.get("fields", [])}
        needs = ", ".join(verbs[f] for f in flags)
        if describe is None:
            findings: tuple[Finding, ...] = (Finding(MISSING, (
                f"object {sobject} is not in the org or the integration user cannot read it (describe answered "
                f"404); crm360 needs to {needs} its records. Grant access to it (the {PERMISSION_SET} "
                "permission set does) or remove it from the mapping.")),)
        else:
            findings = tuple(Finding(NOT_UPDATEABLE, (
                f"the integration user cannot {verbs[f]} {sobject} records (describe {f}=false); crm360 needs to "
                f"{needs} them. Deploy and assign the {PERMISSION_SET} permission set or grant it in the "
                "user's profile.")) for f in flags if not describe.get(f))
        report.objects.append(ObjectCheck(sobject, needs, describe is not None, findings))
    for target in mapped_fields(mapping):
        fields = described.get(target.sobject)
        if fields is None:
            continue  # the object itself is reported
        report.fields.append(check_field(target, fields.get(target.map.field)))
    for findings in [o.findings for o in report.objects] + [f.findings for f in report.fields]:
        for finding in findings:
            (report.problems if finding.blocking else report.warnings).append(finding.message)
    return report


def require_pushable(sf: Salesforce, mapping: Mapping) -> CheckReport:
    """Check the org; raise `PreflightFailed` listing every problem, log the warnings, return the report."""
    report = check_org(sf, mapping)
    for warning in report.warnings:
        log.warning("salesforce check: %s", warning)
    if not report.pushable:
        raise PreflightFailed(report)
    return report


# ---------------------------------------------------------------------------------------- metadata
def _label(api_name: str) -> str:
    words = api_name.removesuffix("__c").split("_")
    return " ".join("crm360" if w.lower() == "crm360" else w for w in words if w)[:40]


def _element(tag: str, children: Sequence[tuple[str, Any]], **attrs: str) -> ET.Element:
    element = ET.Element(tag, attrs)
    for name, value in children:
        if isinstance(value, ET.Element):
            element.append(value)
            continue
        child = ET.SubElement(element, name)
        child.text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return element


def _xml(root: ET.Element) -> str:
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


OWNERSHIP_WORDS = {"overwrite": "crm360 overwrites it on every push",
                   "fill_empty": "crm360 writes it only while it is empty",
                   "respect_edits": "crm360 writes it until a person edits it"}


def field_definition(target: MappedField) -> ET.Element:
    """The CustomField (Salesforce DX `.field-meta.xml`) for a mapped field with a type."""
    fmap, ftype = target.map, target.map.type
    if ftype is None:
        raise ValueError(f"{target.name}: the mapping gives no type, so crm360 cannot define the field")
    metadata_type = METADATA_TYPES[ftype.kind]
    if ftype.kind == "text" and (ftype.length or 0) > TEXT_MAX_LENGTH:
        metadata_type = "LongTextArea"
    description = (f"Written by crm360 from publish.{target.model}.{fmap.column}; "
                   f"{OWNERSHIP_WORDS.get(fmap.ownership, fmap.ownership)}.")
    # Elements in the order Salesforce itself writes them (fullName, then alphabetical). Checkbox needs
    # a default and cannot be required; only Text and Number fields can be External ID or Unique.
    children: dict[str, Any] = {"fullName": fmap.field, "description": description,
                                "externalId": fmap.external_id, "label": _label(fmap.field),
                                "type": metadata_type}
    if ftype.kind == "checkbox":
        children["defaultValue"] = False
    else:
        children["required"] = False
    if ftype.length is not None:
        children["length"] = ftype.length
    if ftype.precision is not None:
        children.update(precision=ftype.precision, scale=ftype.scale or 0)
    if metadata_type in ("Text", "Number"):
        children["unique"] = False
    if metadata_type == "LongTextArea":
        children["visibleLines"] = 3
    ordered = [("fullName", children.pop("fullName")), *sorted(children.items())]
    return _element("CustomField", ordered, xmlns=METADATA_NS)


def permission_set(mapping: Mapping, extracted_objects: Iterable[str]) -> ET.Element:
    """The integration user's permission set: edit the mapped fields, read what crm360 extracts, write
    the objects it pushes to, and add/remove campaign members (and create Campaigns)."""
    # object -> (create, delete, edit, read)
    access: dict[str, tuple[bool, bool, bool, bool]] = {o: (False, False, False, True) for o in extracted_objects}
    for publish in mapping.publish:
        creates = publish.create is not None and publish.create_records
        for sobject in publish.objects:
            was = access.get(sobject, (False, False, False, True))
            access[sobject] = (was[0] or creates, False, True, True)
    access["Campaign"] = (True, False, True, True)
    access["CampaignMember"] = (True, True, True, True)
    # custom fields only: standard ones (LastName, Email of a created Lead) follow the object permission
    fields = sorted({t.name for t in mapped_fields(mapping) if t.map.field.endswith("__c")})
    children: list[tuple[str, Any]] = [("description", (
        "crm360's integration user: reads the objects crm360 extracts, edits the Crm360 fields it writes, "
        "manages campaign members. Record visibility still follows the org's sharing settings."))]
    children += [("fieldPermissions", _element("fieldPermissions", [
        ("editable", True), ("field", name), ("readable", True)])) for name in fields]
    children += [("hasActivationRequired", False), ("label", "crm360 Integration")]
    for sobject in sorted(set(access) - NO_OBJECT_PERMISSIONS):
        create, delete, edit, read = access[sobject]
        children.append(("objectPermissions", _element("objectPermissions", [
            ("allowCreate", create), ("allowDelete", delete), ("allowEdit", edit), ("allowRead", read),
            ("modifyAllRecords", False), ("object", sobject), ("viewAllRecords", False)])))
    return _element("PermissionSet", children, xmlns=METADATA_NS)


def write_metadata(out: Path, mapping: Mapping, targets: Iterable[MappedField], *, api_version: str,
                   extracted_objects: Iterable[str]) -> list[Path]:
    """Write a Salesforce DX project under `out`: the field definitions of `targets`, the permission set
    and sfdx-project.json. Returns the files written (the same input gives the same bytes)."""
    source = out / SOURCE_DIR
    written = []
    for target in sorted(targets, key=lambda t: (t.sobject, t.map.field)):
        if target.map.type is None:
            log.warning("%s: no type in the mapping, no field definition written", target.name)
            continue
        if not target.map.field.endswith("__c"):
            continue  # a standard field: it exists in every org and cannot be defined
        if target.map.type.kind not in METADATA_TYPES:
            log.warning("%s: crm360 writes no definition of a %s field; create it in Setup", target.name,
                        target.map.type.kind)
            continue
        path = source / "objects" / target.sobject / "fields" / f"{target.map.field}.field-meta.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_xml(field_definition(target)), encoding="utf-8")
        written.append(path)
    path = source / "permissionsets" / f"{PERMISSION_SET}.permissionset-meta.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_xml(permission_set(mapping, extracted_objects)), encoding="utf-8")
    written.append(path)
    project = {"packageDirectories": [{"path": "force-app", "default": True}], "name": "crm360-salesforce",
               "namespace": "", "sourceApiVersion": api_version or "59.0"}
    path = out / "sfdx-project.json"
    path.write_text(json.dumps(project, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    return written
