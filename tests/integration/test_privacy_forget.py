"""Right to be forgotten, end to end: a generated person is forgotten and stays forgotten.

A small company of its own (not the shared `nightly` run, which other tests read): the nightly
stages run in this process for one date against the sandbox org (real dbt, Great Expectations,
simple-salesforce over HTTPS), with push. Then `crm360 privacy forget --email ... --now` forgets one
person with a Contact crm360 wrote to. Every file of the landing zone (parquet read row by row, and
raw files), every table and view of the warehouse, the GX results and data docs, the reports and
the logs are searched for their email, phone numbers and name: none is found; their Contact holds
none of crm360's fields and no CampaignMember crm360 created. The next date's run, and landing
the first date's exports again, leave them absent, counting suppressed rows.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from sandbox import localrun
from tests.integration.conftest import use_crm360_home

pytestmark = pytest.mark.integration

DAYS = ("2026-11-19", "2026-11-20")
CUSTOMERS = 300
SEED = 23
EMAIL = re.compile(r"[a-z0-9._%+'-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().-]{6,}\d(?![\w.])")
STAGES = ("privacy_requests", "extract_salesforce", "land_channels", "raw_quality_gate", "dbt_build",
          "publish_quality_gate", "push_to_salesforce")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@dataclass
class Forgotten:
    email: str
    phones: set[str]  # last nine digits
    first_name: str
    last_name: str
    contact_ids: set[str]
    customer_id: str
    members: set[str] = field(default_factory=set)  # CampaignMember Ids crm360 had created for them


@dataclass
class Run:
    root: Path
    server: dict[str, Any]
    log_file: Path
    person: Forgotten
    forget_output: str
    suppressed_after: dict[str, float]

    def settings(self) -> Any:
        from crm360.settings import Settings

        return Settings.from_env()


def _run_day(ds: str, server: dict[str, Any]) -> None:
    from crm360 import tasks
    from crm360.rundate import RunWindow
    from crm360.settings import Settings

    localrun.set_sandbox_clock(server, ds)
    window = RunWindow.for_day(ds, run_id=f"scheduled__{ds}", run_type="scheduled")
    for stage in STAGES:
        getattr(tasks, stage)(window, Settings.from_env())
    tasks.run_summary(window, Settings.from_env())


def _pick_person(warehouse: Path) -> Forgotten:
    """A person with a Contact crm360 wrote to, an email, and a name no one else has."""
    con = duckdb.connect(str(warehouse))
    try:
        rows = con.execute(
            """
            with written as (
                select s.customer_id, count(m.member_id) as members from intermediate.int_customers_stitched as s
                inner join crm360_ops.sync_state as st on st.record_id = s.record_id
                left join crm360_ops.campaign_member_state as m on m.record_id = s.record_id
                where s.source = 'salesforce_contact' group by all
            ),
            names as (
                select lower(r.first_name) as f, lower(r.last_name) as l, count(distinct c.customer_id) as people
                from intermediate.int_identity_records_unioned as r
                inner join intermediate.int_customers_stitched as c on c.record_key = r.record_key
                where r.first_name is not null group by all
            )
            select s.customer_id, any_value(s.email_normalized), any_value(r.first_name), any_value(r.last_name)
            from intermediate.int_customers_stitched as s
            inner join written on written.customer_id = s.customer_id
            inner join intermediate.int_identity_records_unioned as r on r.record_key = s.record_key
            inner join names on names.f = lower(r.first_name) and names.l = lower(r.last_name)
            where s.source = 'salesforce_contact' and s.email_normalized is not null and names.people = 1
            group by s.customer_id order by max(written.members) desc, s.customer_id limit 1
            """).fetchall()
        assert rows, "no person with a Contact, sync state and campaign membership to forget"
        customer_id, email, first, last = rows[0]
        members = {r[0] for r in con.execute(
            "select member_id from crm360_ops.campaign_member_state where created_by_crm360 and record_id in "
            "(select record_id from intermediate.int_customers_stitched where customer_id = ?)",
            [customer_id]).fetchall()}
        contacts = {r[0] for r in con.execute(
            "select record_id from intermediate.int_customers_stitched where customer_id = ? "
            "and source = 'salesforce_contact'", [customer_id]).fetchall()}
    finally:
        con.close()
    return Forgotten(email=email, phones=set(), first_name=first, last_name=last, contact_ids=contacts,
                     customer_id=customer_id, members=members)


def _phones_of(company: Path, person: Forgotten) -> set[str]:
    """Every phone the generated CRM and shop exports carry for the person (last nine digits)."""
    phones: set[str] = set()
    for name in ("Contact", "Lead"):
        for line in (company / "crm" / f"{name}.ndjson").read_text().splitlines():
            record = json.loads(line)
            if (record.get("Email") or "").strip().lower() == person.email or record.get("Id") in person.contact_ids:
                phones |= {_digits(record.get(f) or "")[-9:] for f in ("Phone", "MobilePhone")
                           if len(_digits(record.get(f) or "")) >= 9}
    return {p for p in phones if len(set(p)) > 3}


@pytest.fixture(scope="module")
def forgotten(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    from typer.testing import CliRunner

    from crm360.cli import app
    from sandbox.generator import generate, load
    from sandbox.salesforce.process import start_sandbox

    root = tmp_path_factory.mktemp("privacy")
    company = root / "company"
    generate(customers=CUSTOMERS, days=len(DAYS), end_date=DAYS[-1], seed=SEED, out=company, history_days=60)
    log_file = root / "logs" / "run.log"
    log_file.parent.mkdir(parents=True)
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    previous_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)
    try:
        with start_sandbox(root / "sandbox") as sandbox, pytest.MonkeyPatch.context() as mp:
            mp.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_path)
            server = json.loads(sandbox.server_file.read_text())
            load(company, sandbox.server_file)
            use_crm360_home(mp, root, server, inbox=company / "inbox")
            mp.setenv("CRM360_BULK_WAIT_SECONDS", "0.2")
            mp.setenv("CRM360_PRIVACY_SALT", "test-salt")
            mp.delenv("CRM360_GX_RUNTIME", raising=False)
            _run_day(DAYS[0], server)
            person = _pick_person(root / "warehouse" / "crm360.duckdb")
            person.phones = _phones_of(company, person)
            result = CliRunner().invoke(app, ["privacy", "forget", "--email", person.email.upper(),
                                              "--requested-by", "ticket-7", "--now"])
            assert result.exit_code == 0, result.output
            # the next date, and the first date's exports landed again (an old export re-sent)
            _run_day(DAYS[1], server)
            from crm360 import tasks
            from crm360.rundate import RunWindow
            from crm360.settings import Settings

            relanded = tasks.land_channels(RunWindow.for_day(DAYS[0], run_id=f"reland__{DAYS[0]}"),
                                           Settings.from_env())
            suppressed = _suppressed_metrics(root / "warehouse" / "crm360.duckdb")
            suppressed["reland.total"] = float(sum(relanded[s]["suppressed"] for s in ("sendgrid", "segment",
                                                                                      "shopify")))
            yield Run(root=root, server=server, log_file=log_file, person=person, forget_output=result.output,
                      suppressed_after=suppressed)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(previous_level)
        handler.close()


def _suppressed_metrics(warehouse: Path) -> dict[str, float]:
    con = duckdb.connect(str(warehouse))
    try:
        return {f"{run}.{metric}": value for run, metric, value in con.execute(
            "select run_id, metric, value from crm360_ops.stage_metrics where metric like '%suppressed_rows' "
            "and value > 0").fetchall()}
    finally:
        con.close()


def _hits_in_text(text: str, person: Forgotten) -> list[str]:
    lower = text.lower()
    hits = [e for e in EMAIL.findall(lower) if e == person.email]
    hits += [p for p in PHONE.findall(text) if _digits(p)[-9:] in person.phones and len(_digits(p)) >= 9]
    if f"{person.first_name} {person.last_name}".lower() in lower:
        hits.append("name")
    return hits


def _hits_in_rows(rows: list[tuple] | list[dict], person: Forgotten) -> list[str]:
    hits = []
    first, last = person.first_name.lower(), person.last_name.lower()
    for row in rows:
        values = [str(v) for v in (row.values() if isinstance(row, dict) else row) if v is not None]
        lowered = {v.strip().lower() for v in values}
        if first in lowered and last in lowered:
            hits.append("name")
        hits += _hits_in_text("\x1f".join(values), person)
    return hits


def test_the_person_is_nowhere_in_the_landing_zone(forgotten: Run) -> None:
    found = {}
    for path in sorted(p for p in (forgotten.root / "data").rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            hits = _hits_in_rows(pq.read_table(path).to_pylist(), forgotten.person)
        else:
            hits = _hits_in_text(path.read_text(errors="replace"), forgotten.person)
        if hits:
            found[str(path.relative_to(forgotten.root))] = sorted(set(hits))
    assert not found, f"the forgotten person is still in {found}"


def test_the_person_is_in_no_warehouse_table(forgotten: Run) -> None:
    con = duckdb.connect(str(forgotten.root / "warehouse" / "crm360.duckdb"))
    try:
        relations = con.execute("select table_schema, table_name from information_schema.tables "
                                "where table_catalog = current_database()").fetchall()
        found = {}
        for schema, table in relations:
            text_columns = [c for (c, t) in con.execute(
                "select column_name, data_type from information_schema.columns where table_schema = ? "
                "and table_name = ?", [schema, table]).fetchall() if t in ("VARCHAR", "JSON")]
            if not text_columns:
                continue
            rows = con.execute(f"select {', '.join(chr(34) + c + chr(34) for c in text_columns)} "
                               f'from "{schema}"."{table}"').fetchall()
            hits = _hits_in_rows(rows, forgotten.person)
            customer = [r for r in rows if forgotten.person.customer_id in r or set(r) & forgotten.person.contact_ids]
            if hits or customer:
                found[f"{schema}.{table}"] = sorted(set(hits)) + (["ids"] if customer else [])
        assert not found, f"the forgotten person is still in {found}"
    finally:
        con.close()


def test_the_person_is_not_in_quality_results_reports_or_logs(forgotten: Run) -> None:
    roots = [forgotten.root / "reports", forgotten.root / "data" / "gx", forgotten.root / "logs",
             forgotten.root / "warehouse" / "dbt_target" / "logs"]
    files = [p for r in roots if r.exists() for p in r.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files if "reports" in p.parts)
    found = {str(p.relative_to(forgotten.root)): h for p in files
             if (h := _hits_in_text(p.read_text(errors="replace"), forgotten.person))}
    assert not found, f"the forgotten person is still in {found}"
    assert forgotten.person.email not in forgotten.forget_output.lower()


def test_salesforce_holds_none_of_what_crm360_wrote_for_them(forgotten: Run) -> None:
    from simple_salesforce import Salesforce

    sf = Salesforce(username="integration@crm360.sandbox", password="sandbox-password",
                    security_token="sandbox-token", domain=forgotten.server["domain"])
    ids = ", ".join(f"'{i}'" for i in sorted(forgotten.person.contact_ids))
    contacts = sf.query_all(f"SELECT Id, Crm360_Customer_Id__c, Crm360_Segment__c, Crm360_Lifetime_Value__c "
                            f"FROM Contact WHERE Id IN ({ids})")["records"]
    assert len(contacts) == len(forgotten.person.contact_ids), "CRM360_PRIVACY_DELETE_CRM_RECORDS is off: kept"
    for contact in contacts:
        assert (contact["Crm360_Customer_Id__c"], contact["Crm360_Segment__c"],
                contact["Crm360_Lifetime_Value__c"]) == (None, None, None)
    # the members crm360 created are gone; any a person added in the CRM stay (theirs to decide)
    members = {m["Id"] for m in sf.query_all(f"SELECT Id FROM CampaignMember WHERE ContactId IN ({ids})")["records"]}
    assert not members & forgotten.person.members


def test_the_next_run_and_a_relanded_export_do_not_bring_them_back(forgotten: Run) -> None:
    assert any(k.startswith(f"scheduled__{DAYS[1]}.") for k in forgotten.suppressed_after), forgotten.suppressed_after
    assert sum(forgotten.suppressed_after.values()) > 0


def test_the_audit_records_every_step_without_personal_data(forgotten: Run) -> None:
    con = duckdb.connect(str(forgotten.root / "warehouse" / "crm360.duckdb"))
    try:
        (request_id, status, identifier, hashed), = con.execute(
            "select request_id, status, identifier, identifier_hash from crm360_ops.privacy_requests").fetchall()
        steps = dict(con.execute("select step, counts from crm360_ops.privacy_audit where request_id = ?",
                                 [request_id]).fetchall())
        suppression = con.execute("select count(*), count(distinct identifier_type) "
                                  "from crm360_ops.privacy_suppression").fetchone()
    finally:
        con.close()
    assert (status, identifier) == ("done", None)
    assert set(steps) == {"requested", "resolve", "suppress", "salesforce", "landing", "warehouse", "gx", "reports",
                          "done"}
    salesforce = json.loads(steps["salesforce"])
    assert salesforce["fields_cleared_records"] >= 1
    assert salesforce["campaign_members_removed"] == len(forgotten.person.members)
    assert sum(v for k, v in json.loads(steps["landing"]).items() if k != "partitions_rewritten") > 0
    assert json.loads(steps["warehouse"])
    assert suppression[0] >= 3  # email, Contact Id, customer id at least
    audit_text = json.dumps(steps)
    assert not _hits_in_text(audit_text, forgotten.person)
    assert len(hashed) == 64
