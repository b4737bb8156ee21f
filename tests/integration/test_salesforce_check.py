"""The pre-write check against the sandbox org: unmodified simple-salesforce over HTTPS, schema changed at
run time through the sandbox's admin API, and `crm360 salesforce check` run as a person runs it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest

from crm360.activation.mapping import load
from crm360.activation.preflight import PreflightFailed, check_org, require_pushable
from sandbox import localrun
from sandbox.salesforce.process import SandboxProcess

pytestmark = pytest.mark.integration

NS = "{http://soap.sforce.com/2006/04/metadata}"
FIELD = "Crm360_Segment__c"


@pytest.fixture(autouse=True)
def clean_org(sandbox: SandboxProcess) -> None:
    """Every test starts from the built-in schema (reset drops run-time schema changes)."""
    requests.post(sandbox.url("/sandbox/reset"), verify=sandbox.ca_path, timeout=30).raise_for_status()


def drop_field(sandbox: SandboxProcess, obj: str, name: str) -> None:
    response = requests.delete(sandbox.url(f"/sandbox/schema/{obj}/fields/{name}"), verify=sandbox.ca_path,
                               timeout=30)
    assert response.status_code == 200, response.text


def add_field(sandbox: SandboxProcess, obj: str, declaration: dict[str, Any]) -> None:
    response = requests.post(sandbox.url(f"/sandbox/schema/{obj}/fields"), json=declaration,
                             verify=sandbox.ca_path, timeout=30)
    assert response.status_code == 201, response.text


def status(report: Any, obj: str, name: str) -> str:
    return next(f.status for f in report.fields if (f.sobject, f.field) == (obj, name))


def test_a_fresh_sandbox_org_is_pushable(sf: Any) -> None:
    mapping = load()
    report = check_org(sf, mapping)
    assert report.problems == [] and report.warnings == [], report.problems + report.warnings
    assert {f.status for f in report.fields} == {"ok"}
    # creation models with create_records off are only planned: their fields are not checked
    assert {(f.sobject, f.field) for f in report.fields} == {
        (obj, f.field) for p in mapping.publish if p.create is None or p.create_records
        for obj in p.objects for f in p.fields}
    assert (report.is_sandbox, report.org_kind, report.api_version) == (True, "sandbox", sf.sf_version)
    assert require_pushable(sf, mapping).pushable
    # switched on, the Lead fields crm360 would create with are checked too, and fit the org
    creating = dataclasses.replace(mapping, publish=tuple(
        dataclasses.replace(p, create_records=True) if p.create else p for p in mapping.publish))
    created = check_org(sf, creating)
    assert created.problems == [] and {f.status for f in created.fields} == {"ok"}
    assert {f.field for f in created.fields if f.model == "new_leads"} == {
        f.field for p in mapping.publish if p.create for f in p.fields}


def test_a_removed_field_is_missing_and_stops_the_push(sandbox: SandboxProcess, sf: Any) -> None:
    drop_field(sandbox, "Contact", FIELD)
    report = check_org(sf, load())
    assert [(f.sobject, f.field) for f in report.missing()] == [("Contact", FIELD)]
    assert status(report, "Lead", FIELD) == "ok"
    assert len(report.problems) == 1 and report.problems[0].startswith(f"Contact.{FIELD} is missing")
    with pytest.raises(PreflightFailed, match=f"Contact.{FIELD} is missing"):
        require_pushable(sf, load())


def test_a_field_re_added_with_another_type_is_incompatible(sandbox: SandboxProcess, sf: Any) -> None:
    drop_field(sandbox, "Contact", FIELD)
    add_field(sandbox, "Contact", {"name": FIELD, "type": "double", "precision": 18, "scale": 0})
    report = check_org(sf, load())
    check = next(f for f in report.fields if (f.sobject, f.field) == ("Contact", FIELD))
    assert (check.status, check.expected, check.found) == ("incompatible type", "text(255)", "double(18,0)")
    assert report.problems == [check.findings[0].message]
    assert f"Contact.{FIELD} has type double(18,0)" in report.problems[0]
    with pytest.raises(PreflightFailed, match=f"Contact.{FIELD} has type double"):
        require_pushable(sf, load())


def test_a_read_only_field_is_not_updateable_and_a_write_would_fail(sandbox: SandboxProcess, sf: Any) -> None:
    drop_field(sandbox, "Contact", FIELD)
    add_field(sandbox, "Contact", {"name": FIELD, "type": "string", "length": 255, "updateable": False})
    report = check_org(sf, load())
    assert status(report, "Contact", FIELD) == "not updateable"
    assert report.problems[0].startswith(f"Contact.{FIELD} is not updateable")
    # what the check predicts is what the push would meet
    contact = sf.Contact.create({"LastName": "Read Only"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.update(contact, {FIELD: "champions"})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def run_cli(sandbox: SandboxProcess, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`crm360 salesforce check ...` in its own process, its connection in AIRFLOW_CONN_SALESFORCE_DEFAULT."""
    env = localrun.airflow_env(localrun.LocalPaths.under(home), sandbox.info)
    env["COLUMNS"] = "200"
    command = [str(Path(sys.executable).parent / "crm360"), "salesforce", "check", *args]
    return subprocess.run(command, env=env, cwd=home, capture_output=True, text=True, timeout=600, check=False)


def test_the_cli_gates_on_problems_and_writes_what_to_deploy(sandbox: SandboxProcess, tmp_path: Path) -> None:
    ready = run_cli(sandbox, tmp_path)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert "org: sandbox" in ready.stdout and ": pushable" in ready.stdout

    drop_field(sandbox, "Contact", FIELD)
    out = tmp_path / "metadata"
    result = run_cli(sandbox, tmp_path, "--out", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Contact.{FIELD} is missing" in result.stdout and "not pushable" in result.stdout
    assert f"cd {out} && sf project deploy start --source-dir force-app" in result.stdout
    assert "sf org assign permset --name Crm360_Integration --on-behalf-of integration@crm360.sandbox" \
        in result.stdout
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == [f"force-app/main/default/objects/Contact/fields/{FIELD}.field-meta.xml",
                       "force-app/main/default/permissionsets/Crm360_Integration.permissionset-meta.xml",
                       "sfdx-project.json"]
    definition = ET.parse(out / written[0]).getroot()
    assert definition.tag == f"{NS}CustomField"
    assert [definition.findtext(f"{NS}{tag}") for tag in ("fullName", "type", "length", "externalId")] == [
        FIELD, "Text", "255", "false"]
    permissions = ET.parse(out / written[1]).getroot()
    granted = {p.findtext(f"{NS}field") for p in permissions.findall(f"{NS}fieldPermissions")}
    assert f"Contact.{FIELD}" in granted and f"Lead.{FIELD}" in granted
