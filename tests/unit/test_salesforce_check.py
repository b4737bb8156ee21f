"""The pre-write check of a Salesforce org (crm360.activation.preflight) against describe answers given
as data: type rules, what stops a push, the metadata it writes, and `crm360 salesforce check`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceResourceNotFound
from typer.testing import CliRunner

from crm360.activation import preflight
from crm360.activation.mapping import FieldMap, FieldType, load, parse_mapping
from crm360.activation.preflight import MappedField, PreflightFailed, check_field, check_org, require_pushable
from crm360.settings import DEFAULT_SF_OBJECTS

NS = "{http://soap.sforce.com/2006/04/metadata}"
DESCRIBE_TYPES = {"text": "string", "number": "double", "currency": "currency", "percent": "percent",
                  "date": "date", "datetime": "datetime", "checkbox": "boolean"}


def described(name: str, ftype: FieldType | None, **overrides: Any) -> dict[str, Any]:
    """A describe field entry that matches `ftype` exactly, as a real org (or the sandbox) answers it."""
    kind = DESCRIBE_TYPES[ftype.kind] if ftype else "string"
    entry = {"name": name, "type": kind, "length": (ftype.length or 0) if ftype else 255,
             "precision": (ftype.precision or 0) if ftype else 0, "scale": (ftype.scale or 0) if ftype else 0,
             "digits": 0, "updateable": True, "createable": True, "calculated": False, "externalId": False,
             "unique": False, "restrictedPicklist": False}
    return {**entry, **overrides}


class FakeObject:
    def __init__(self, name: str, answer: dict[str, Any] | None) -> None:
        self.name, self.answer = name, answer

    def describe(self) -> dict[str, Any]:
        if self.answer is None:
            raise SalesforceResourceNotFound(f"sobjects/{self.name}/describe", 404, self.name,
                                             b'[{"errorCode": "NOT_FOUND"}]')
        return self.answer


class FakeSalesforce:
    """What check_org uses of simple-salesforce: `sf.<Object>.describe()`, `query`, version and instance."""

    sf_version = "59.0"
    sf_instance = "crm360-test.my.salesforce.com"

    def __init__(self, objects: dict[str, dict[str, Any] | None], is_sandbox: bool = True) -> None:
        self.objects, self.is_sandbox, self.queries = objects, is_sandbox, []

    def __getattr__(self, name: str) -> FakeObject:
        if name.startswith("_"):
            raise AttributeError(name)
        return FakeObject(name, self.objects.get(name, {"name": name, "fields": [], "createable": True,
                                                        "updateable": True, "deletable": True}))

    def query(self, soql: str) -> dict[str, Any]:
        self.queries.append(soql)
        return {"totalSize": 1, "done": True, "records": [{"IsSandbox": self.is_sandbox}]}


def ready_org(mapping: Any, **per_field: dict[str, Any] | None) -> FakeSalesforce:
    """An org with every mapped field as the mapping wants it; `per_field["Contact.X"]` overrides one
    field's describe entry (None removes the field)."""
    objects: dict[str, dict[str, Any] | None] = {}
    for target in preflight.mapped_fields(mapping):
        obj = objects.setdefault(target.sobject, {"name": target.sobject, "fields": [], "createable": True,
                                                  "updateable": True, "deletable": True})
        override = per_field.get(target.name, {})
        if override is None:
            continue
        obj["fields"].append(described(target.map.field, target.map.type, externalId=target.map.external_id,
                                       **override))
    return FakeSalesforce(objects)


def one(field: str, spec: str, found: dict[str, Any], **fmap: Any) -> preflight.FieldCheck:
    ftype = FieldType.parse(spec)
    return check_field(MappedField("Contact", "contact_attributes", FieldMap(field, "col", type=ftype, **fmap)),
                       {**described(field, ftype), **found})


@pytest.mark.parametrize(("spec", "found", "status"), [
    ("text(255)", {"type": "string", "length": 255}, "ok"),
    ("text(255)", {"type": "textarea", "length": 32768}, "ok"),
    ("text(255)", {"type": "picklist", "length": 255}, "warning"),  # unrestricted: stored as inactive values
    ("text(255)", {"type": "multipicklist", "length": 4099}, "warning"),
    ("text(255)", {"type": "picklist", "length": 255, "restrictedPicklist": True}, "incompatible type"),
    ("text(255)", {"type": "double", "precision": 18, "scale": 0}, "incompatible type"),
    ("text(80)", {"type": "email", "length": 80}, "incompatible type"),
    ("number(18,0)", {"type": "double"}, "ok"),
    ("number(9,0)", {"type": "int", "digits": 9, "precision": 0}, "ok"),
    ("number(18,0)", {"type": "currency"}, "incompatible type"),
    ("number(18,0)", {"type": "string", "length": 18}, "incompatible type"),
    ("currency(16,2)", {"type": "currency"}, "ok"),
    ("currency(16,2)", {"type": "double"}, "incompatible type"),
    ("percent(5,2)", {"type": "percent"}, "ok"),
    ("percent(5,2)", {"type": "double"}, "incompatible type"),
    ("date", {"type": "date"}, "ok"),
    ("date", {"type": "datetime"}, "incompatible type"),
    ("datetime", {"type": "datetime"}, "ok"),
    ("datetime", {"type": "date"}, "incompatible type"),
    ("checkbox", {"type": "boolean"}, "ok"),
    ("checkbox", {"type": "string", "length": 5}, "incompatible type"),
])
def test_type_compatibility(spec: str, found: dict[str, Any], status: str) -> None:
    assert one("Crm360_X__c", spec, found).status == status


@pytest.mark.parametrize(("spec", "found", "status", "words"), [
    ("text(255)", {"length": 100}, "too short", ["100 characters", "text(255)", "STRING_TOO_LONG"]),
    ("text(40)", {"length": 255}, "ok", []),
    # 14 digits before the point are needed, 12 are there
    ("currency(16,2)", {"precision": 14, "scale": 2}, "too small", ["12 digits before", "needs 14"]),
    ("currency(16,2)", {"precision": 18, "scale": 0}, "too small", ["0 decimal places", "rounds"]),
    ("number(18,0)", {"precision": 16, "scale": 2}, "too small", ["14 digits before"]),
    ("number(2,0)", {"precision": 3, "scale": 0}, "ok", []),
    ("number(12,0)", {"type": "int", "digits": 9, "precision": 0}, "too small", ["9 digits before"]),
])
def test_short_text_and_small_numbers_warn_without_stopping_the_push(spec: str, found: dict[str, Any],
                                                                     status: str, words: list[str]) -> None:
    check = one("Crm360_X__c", spec, found)
    assert check.status == status
    assert not any(f.blocking for f in check.findings)
    for word in words:
        assert word in check.findings[0].message


def test_not_updateable_says_why_and_what_to_do() -> None:
    locked = one("Crm360_Segment__c", "text(255)", {"updateable": False})
    assert locked.status == "not updateable"
    assert "Contact.Crm360_Segment__c" in locked.findings[0].message
    assert "Crm360_Integration permission set" in locked.findings[0].message
    formula = one("Crm360_Segment__c", "text(255)", {"updateable": False, "calculated": True})
    assert "formula" in formula.findings[0].message
    # a wrong type and no edit access: both are reported, the type first
    both = one("Crm360_Segment__c", "text(255)", {"updateable": False, "type": "date"})
    assert [f.status for f in both.findings] == ["incompatible type", "not updateable"]


def test_external_id_and_unique_are_warnings() -> None:
    check = one("Crm360_Customer_Id__c", "text(64)", {"externalId": False, "unique": True}, external_id=True)
    assert check.status == "warning"
    messages = " ".join(f.message for f in check.findings)
    assert "not an External ID" in messages and "DUPLICATE_VALUE" in messages


def test_a_ready_org_is_pushable_with_one_query_and_no_writes() -> None:
    mapping = load()
    sf = ready_org(mapping)
    report = check_org(sf, mapping)
    assert report.pushable and report.problems == [] and report.warnings == []
    assert {c.status for c in report.fields} == {"ok"}
    # creation models with create_records off are only planned: their fields are not checked
    assert len(report.fields) == sum(len(p.objects) * len(p.fields) for p in mapping.publish
                                     if p.create is None or p.create_records)
    assert sf.queries == ["SELECT IsSandbox FROM Organization LIMIT 1"]
    assert (report.is_sandbox, report.org_kind, report.api_version) == (True, "sandbox", "59.0")
    assert require_pushable(sf, mapping) is not None
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["pushable"] is True and payload["fields"][0]["status"] == "ok"


def test_a_missing_field_stops_the_push_naming_the_field() -> None:
    mapping = load()
    sf = ready_org(mapping, **{"Contact.Crm360_Segment__c": None, "Lead.Crm360_Churn_Risk__c": {"type": "string"}})
    report = check_org(sf, mapping)
    assert not report.pushable
    assert [(f.sobject, f.field) for f in report.missing()] == [("Contact", "Crm360_Segment__c")]
    assert len(report.problems) == 2
    missing = next(p for p in report.problems if "Crm360_Segment__c" in p)
    assert missing.startswith("Contact.Crm360_Segment__c is missing")
    assert "publish.contact_attributes.segment_names" in missing and "text(255)" in missing
    wrong = next(p for p in report.problems if "Crm360_Churn_Risk__c" in p)
    assert "Lead.Crm360_Churn_Risk__c has type string" in wrong and "percent(5,2)" in wrong and "Percent" in wrong
    with pytest.raises(PreflightFailed) as err:
        require_pushable(sf, mapping)
    assert "nothing was written" in str(err.value)
    assert "Contact.Crm360_Segment__c" in str(err.value) and "Lead.Crm360_Churn_Risk__c" in str(err.value)
    assert err.value.report.problems == report.problems


def test_objects_the_user_cannot_see_or_write() -> None:
    mapping = load()
    sf = ready_org(mapping)
    sf.objects["Lead"] = None  # describe answers 404
    sf.objects["Contact"]["updateable"] = False
    sf.objects["CampaignMember"] = {"name": "CampaignMember", "fields": [], "createable": True,
                                    "updateable": True, "deletable": False}
    report = check_org(sf, mapping)
    assert not report.pushable
    assert all(f.sobject == "Contact" for f in report.fields)  # Lead's fields are not listed one by one
    text = "\n".join(report.problems)
    assert "object Lead is not in the org" in text
    assert "cannot edit Contact records" in text
    assert "cannot delete CampaignMember records" in text


def test_a_mapping_without_campaigns_does_not_describe_them() -> None:
    document = {"publish": [{"model": "m", "key": "k", "sobject_column": "s", "objects": ["Contact"],
                             "fields": {"Crm360_Flag__c": {"column": "flag", "type": "checkbox"}}}]}
    mapping = parse_mapping(document, Path("mapping.yml"))
    sf = ready_org(mapping)
    sf.objects["CampaignMember"] = None
    assert [o.sobject for o in check_org(sf, mapping).objects] == ["Contact"]


def _parse(path: Path) -> ET.Element:
    text = path.read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text)


def _children(element: ET.Element) -> dict[str, str]:
    return {child.tag.removeprefix(NS): (child.text or "") for child in element}


@pytest.mark.parametrize(("spec", "external_id", "expected"), [
    ("text(64)", True, {"type": "Text", "length": "64", "externalId": "true", "unique": "false",
                        "required": "false"}),
    ("text(1000)", False, {"type": "LongTextArea", "length": "1000", "visibleLines": "3"}),
    ("currency(16,2)", False, {"type": "Currency", "precision": "16", "scale": "2", "externalId": "false"}),
    ("number(2,0)", False, {"type": "Number", "precision": "2", "scale": "0", "unique": "false"}),
    ("percent(5,2)", False, {"type": "Percent", "precision": "5", "scale": "2"}),
    ("date", False, {"type": "Date", "required": "false"}),
    ("datetime", False, {"type": "DateTime"}),
    ("checkbox", False, {"type": "Checkbox", "defaultValue": "false"}),
])
def test_field_definitions(spec: str, external_id: bool, expected: dict[str, str]) -> None:
    target = MappedField("Lead", "contact_attributes",
                         FieldMap("Crm360_Lifetime_Value__c", "lifetime_value", type=FieldType.parse(spec),
                                  external_id=external_id))
    root = preflight.field_definition(target)
    assert root.tag == "CustomField" and root.get("xmlns") == "http://soap.sforce.com/2006/04/metadata"
    parsed = ET.fromstring(preflight._xml(root))
    assert parsed.tag == f"{NS}CustomField"
    values = _children(parsed)
    tags = list(values)
    assert tags[0] == "fullName" and tags[1:] == sorted(tags[1:])  # Salesforce's own order
    assert values["fullName"] == "Crm360_Lifetime_Value__c" and values["label"] == "crm360 Lifetime Value"
    assert "publish.contact_attributes.lifetime_value" in values["description"]
    for key, value in expected.items():
        assert values[key] == value, key
    if spec == "checkbox":
        assert "required" not in values  # a checkbox cannot be required
    if spec not in ("text(64)", "number(2,0)"):
        assert "unique" not in values  # only Text and Number fields can be unique
    if not spec.startswith(("text", "number", "currency", "percent")):
        assert not {"length", "precision", "scale"} & set(values)


def test_metadata_folder_shape_and_permission_set(tmp_path: Path) -> None:
    mapping = load()
    report = check_org(ready_org(mapping, **{"Contact.Crm360_Segment__c": None}), mapping)
    missing = [t for t in preflight.mapped_fields(mapping)
               if (t.sobject, t.map.field) in {(f.sobject, f.field) for f in report.missing()}]
    written = preflight.write_metadata(tmp_path / "out", mapping, missing, api_version="59.0",
                                       extracted_objects=DEFAULT_SF_OBJECTS)
    relative = sorted(str(p.relative_to(tmp_path / "out")) for p in written)
    assert relative == ["force-app/main/default/objects/Contact/fields/Crm360_Segment__c.field-meta.xml",
                        "force-app/main/default/permissionsets/Crm360_Integration.permissionset-meta.xml",
                        "sfdx-project.json"]
    project = json.loads((tmp_path / "out" / "sfdx-project.json").read_text())
    assert project["packageDirectories"] == [{"path": "force-app", "default": True}]
    assert project["sourceApiVersion"] == "59.0"
    segment = _children(_parse(written[0]))
    assert (segment["fullName"], segment["type"], segment["length"]) == ("Crm360_Segment__c", "Text", "255")

    permset = _parse(tmp_path / "out" / preflight.SOURCE_DIR / "permissionsets"
                     / "Crm360_Integration.permissionset-meta.xml")
    assert permset.tag == f"{NS}PermissionSet"
    top = [child.tag.removeprefix(NS) for child in permset]
    assert top == sorted(top)  # description, fieldPermissions..., hasActivationRequired, label, objectPermissions...
    assert permset.findtext(f"{NS}label") == "crm360 Integration"
    fields = {}
    for entry in permset.findall(f"{NS}fieldPermissions"):
        assert [c.tag.removeprefix(NS) for c in entry] == ["editable", "field", "readable"]
        fields[entry.findtext(f"{NS}field")] = (entry.findtext(f"{NS}editable"), entry.findtext(f"{NS}readable"))
    assert set(fields) == {t.name for t in preflight.mapped_fields(mapping)}  # every mapped field, all objects
    assert set(fields.values()) == {("true", "true")}
    objects = {}
    for entry in permset.findall(f"{NS}objectPermissions"):
        assert [c.tag.removeprefix(NS) for c in entry] == [
            "allowCreate", "allowDelete", "allowEdit", "allowRead", "modifyAllRecords", "object", "viewAllRecords"]
        values = _children(entry)
        objects[values.pop("object")] = {k for k, v in values.items() if v == "true"}
    assert objects == {
        "Account": {"allowRead"}, "Opportunity": {"allowRead"},
        "Contact": {"allowRead", "allowEdit"}, "Lead": {"allowRead", "allowEdit"},
        "Campaign": {"allowCreate", "allowRead", "allowEdit"},
        "CampaignMember": {"allowCreate", "allowRead", "allowEdit", "allowDelete"},
    }  # User and Task have no object permissions in Salesforce

    again = preflight.write_metadata(tmp_path / "again", mapping, missing, api_version="59.0",
                                     extracted_objects=DEFAULT_SF_OBJECTS)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]  # deterministic


runner = CliRunner()


@pytest.fixture()
def cli_org(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeSalesforce]:
    from crm360.salesforce import client

    holder: dict[str, FakeSalesforce] = {"sf": ready_org(load())}
    monkeypatch.setattr(client, "connect", lambda conn_id: holder["sf"])
    monkeypatch.delenv("CRM360_MAPPING", raising=False)
    return holder


def test_cli_check_passes_on_a_ready_org(cli_org: dict[str, FakeSalesforce]) -> None:
    from crm360.cli import app

    result = runner.invoke(app, ["salesforce", "check"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Crm360_Segment__c" in result.output and "org: sandbox" in result.output
    assert "22 mapped fields: 22 ok, 0 problem(s), 0 warning(s): pushable" in result.output


def test_cli_check_fails_and_writes_metadata(cli_org: dict[str, FakeSalesforce], tmp_path: Path) -> None:
    from crm360.cli import app

    cli_org["sf"] = ready_org(load(), **{"Contact.Crm360_Segment__c": None})
    cli_org["sf"].is_sandbox = False
    out = tmp_path / "metadata"
    result = runner.invoke(app, ["salesforce", "check", "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "Contact.Crm360_Segment__c is missing" in result.output and "org: production" in result.output
    assert f"cd {out} && sf project deploy start --source-dir force-app" in result.output
    assert "sf org assign permset --name Crm360_Integration" in result.output
    assert (out / "force-app/main/default/objects/Contact/fields/Crm360_Segment__c.field-meta.xml").exists()
    assert not (out / "force-app/main/default/objects/Lead").exists()

    every = runner.invoke(app, ["salesforce", "check", "--out", str(tmp_path / "all"), "--all", "--json"])
    assert every.exit_code == 1
    payload = json.loads(every.output)
    assert payload["pushable"] is False and payload["org_kind"] == "production"
    assert sum(p.endswith(".field-meta.xml") for p in payload["metadata"]) == 22
