"""Right to be forgotten, end to end: a generated person is forgotten and stays forgotten.

A small company of its own (not the shared `nightly` run, which other tests read): the nightly
stages run in this process for one date against the sandbox org (real dbt, Great Expectations,
simple-salesforce over HTTPS), with push. The salt comes from an Airflow connection.

Two people are forgotten; between them they have records in every source:
* `crm360 privacy forget --email ... --now` forgets a person with a Contact crm360 wrote to and put
  in a campaign, shop orders and SendGrid events;
* a second person, with a Contact and Segment web events, is a row another system inserted into
  `crm360_ops.privacy_requests` with plain SQL; the next date's nightly run handles it, with
  `CRM360_PRIVACY_DELETE_CRM_RECORDS=true`, so their Contact is deleted from the org.

Every file of the landing zone (parquet read row by row, and raw files), every table and view of the
warehouse, the GX results and data docs, the reports and the logs are searched for their emails,
phone numbers and names: none is found. The first person's Contact holds none of crm360's fields
and none of the CampaignMembers crm360 created. The next date's run, and landing the first date's
exports again, leave them absent: each channel counts suppressed rows, and every file still
reconciles (read = landed + quarantined + suppressed).
"""

from __future__ import annotations

import hashlib
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
CUSTOMERS = 1200
SEED = 23
SALT = "pepper-from-a-connection"
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
    person: Forgotten  # forgotten by `crm360 privacy forget --now`
    inserted: Forgotten  # forgotten by a row inserted with SQL, handled by the next nightly run
    forget_output: str
    suppressed_after: dict[str, float]
    relanded: dict[str, Any]  # land_channels' summary of the first date landed again
    channel_files: list[tuple]  # (source, file, read, landed, quarantined, suppressed) of the first date

    @property
    def people(self) -> tuple[Forgotten, Forgotten]:
        return (self.person, self.inserted)

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


def _pick_person(warehouse: Path, channels: tuple[str, ...], members: bool,
                 besides: frozenset[str] = frozenset()) -> Forgotten:
    """A person with a Contact crm360 wrote to, an email, a name no one else has, records in each of
    `channels` (identity sources), and (`members`) CampaignMembers crm360 created."""
    sources = ", ".join(f"'{c}'" for c in ("salesforce_contact", *channels))
    con = duckdb.connect(str(warehouse))
    try:
        rows = con.execute(
            f"""
            with channels as (
                select customer_id from intermediate.int_customers_stitched where source in ({sources})
                group by customer_id having count(distinct source) = {len(channels) + 1}
            ),
            written as (
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
            inner join channels on channels.customer_id = s.customer_id
            where s.source = 'salesforce_contact' and s.email_normalized is not null and names.people = 1
                and s.customer_id not in (select unnest(?::varchar[]))
                and ({'written.members > 0' if members else 'true'})
            group by s.customer_id order by max(written.members) desc, s.customer_id limit 1
            """, [sorted(besides)]).fetchall()
        if not rows:
            people = con.execute(
                "select source, count(distinct customer_id) from intermediate.int_customers_stitched group by 1 "
                "order by 1").fetchall()
            members = con.execute("select count(*), count(distinct record_id) from "
                                  "crm360_ops.campaign_member_state where created_by_crm360").fetchone()
            wanted_data = f", records in {channels}" + ", CampaignMembers crm360 created" * members
            raise AssertionError(f"no person with a Contact, sync state{wanted_data}: people per source {people}, "
                                 f"crm360 campaign members {members}")
        customer_id, email, first, last = rows[0]
        members = {r[0] for r in con.execute(
            "select member_id from crm360_ops.campaign_member_state where created_by_crm360 and record_id in "
            "(select record_id from intermediate.int_customers_stitched where customer_id = ?)",
            [customer_id]).fetchall()}
        contacts = {r[0] for r in con.execute(
            "select record_id from intermediate.int_customers_stitched where customer_id = ? "
            "and source = 'salesforce_contact'", [customer_id]).fetchall()}
        # the phones any of their records carries (CRM, shop), last nine digits
        phones = {_digits(p)[-9:] for (p,) in con.execute(
            "select unnest([phone_normalized, mobile_normalized]) from intermediate.int_identity_records_unioned "
            "where record_key in (select record_key from intermediate.int_customers_stitched where customer_id = ?)",
            [customer_id]).fetchall() if p and len(_digits(p)) >= 9}
    finally:
        con.close()
    return Forgotten(email=email, phones=phones, first_name=first, last_name=last, contact_ids=contacts,
                     customer_id=customer_id, members=members)


def _phones_of(company: Path, person: Forgotten) -> set[str]:
    """Every phone the generated CRM exports carry for the person, and those of their records in the
    warehouse (last nine digits)."""
    phones: set[str] = set(person.phones)
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
            # the salt is a secret: an Airflow connection's password, read by Airflow's own lookup
            mp.delenv("CRM360_PRIVACY_SALT", raising=False)
            mp.setenv("CRM360_PRIVACY_SALT_CONN_ID", "crm360_privacy")
            mp.setenv("AIRFLOW_CONN_CRM360_PRIVACY", json.dumps({"conn_type": "generic", "password": SALT}))
            mp.delenv("CRM360_GX_RUNTIME", raising=False)
            _run_day(DAYS[0], server)
            warehouse = root / "warehouse" / "crm360.duckdb"
            # between them they have records in every source: the first shop orders, SendGrid events and
            # campaign memberships, the second Segment web events
            person = _pick_person(warehouse, ("shopify_customer", "sendgrid_recipient"), members=True)
            person.phones = _phones_of(company, person)
            inserted = _pick_person(warehouse, ("segment_anonymous",), members=False,
                                    besides=frozenset({person.customer_id}))
            inserted.phones = _phones_of(company, inserted)
            result = CliRunner().invoke(app, ["privacy", "forget", "--email", person.email.upper(),
                                              "--requested-by", "ticket-7", "--now"])
            assert result.exit_code == 0, result.output
            # another system's request: a plain insert, no hash, no id; the nightly run does the rest
            con = duckdb.connect(str(warehouse))
            try:
                con.execute("insert into crm360_ops.privacy_requests (identifier_type, identifier, requested_by) "
                            "values ('salesforce_id', ?, 'dpo-portal')", [sorted(inserted.contact_ids)[0]])
            finally:
                con.close()
            # the next date (with the CRM owner's consent to delete records), and the first date's exports
            # landed again (an old export re-sent)
            mp.setenv("CRM360_PRIVACY_DELETE_CRM_RECORDS", "true")
            _run_day(DAYS[1], server)
            mp.delenv("CRM360_PRIVACY_DELETE_CRM_RECORDS")
            from crm360 import tasks
            from crm360.rundate import RunWindow
            from crm360.settings import Settings

            relanded = tasks.land_channels(RunWindow.for_day(DAYS[0], run_id=f"reland__{DAYS[0]}"),
                                           Settings.from_env())
            suppressed = _suppressed_metrics(warehouse)
            suppressed["reland.total"] = float(sum(relanded[s]["suppressed"] for s in ("sendgrid", "segment",
                                                                                      "shopify")))
            con = duckdb.connect(str(warehouse))
            try:
                files = con.execute("select source, file, records_read, records_landed, records_quarantined, "
                                    "records_suppressed from crm360_ops.channel_files where ds = ?",
                                    [DAYS[0]]).fetchall()
            finally:
                con.close()
            yield Run(root=root, server=server, log_file=log_file, person=person, inserted=inserted,
                      forget_output=result.output, suppressed_after=suppressed, relanded=relanded,
                      channel_files=files)
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
        for person in forgotten.people:
            if path.suffix == ".parquet":
                hits = _hits_in_rows(pq.read_table(path).to_pylist(), person)
            else:
                hits = _hits_in_text(path.read_text(errors="replace"), person)
            if hits:
                found[f"{path.relative_to(forgotten.root)} ({person.customer_id})"] = sorted(set(hits))
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
            for person in forgotten.people:
                hits = _hits_in_rows(rows, person)
                customer = [r for r in rows if person.customer_id in r or set(r) & person.contact_ids]
                if hits or customer:
                    found[f"{schema}.{table} ({person.customer_id})"] = sorted(set(hits)) + ["ids"] * bool(customer)
        assert not found, f"the forgotten person is still in {found}"
    finally:
        con.close()


def test_the_person_is_not_in_quality_results_reports_or_logs(forgotten: Run) -> None:
    roots = [forgotten.root / "reports", forgotten.root / "data" / "gx", forgotten.root / "logs",
             forgotten.root / "warehouse" / "dbt_target" / "logs"]
    files = [p for r in roots if r.exists() for p in r.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files if "reports" in p.parts)
    found = {f"{p.relative_to(forgotten.root)} ({person.customer_id})": h for p in files for person in forgotten.people
             if (h := _hits_in_text(p.read_text(errors="replace"), person))}
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
    assert forgotten.person.members, "the person had CampaignMembers crm360 created"
    assert not members & forgotten.person.members


def test_with_the_owners_setting_their_crm_records_are_deleted(forgotten: Run) -> None:
    from simple_salesforce import Salesforce

    sf = Salesforce(username="integration@crm360.sandbox", password="sandbox-password",
                    security_token="sandbox-token", domain=forgotten.server["domain"])
    ids = ", ".join(f"'{i}'" for i in sorted(forgotten.inserted.contact_ids))
    assert not sf.query_all(f"SELECT Id FROM Contact WHERE Id IN ({ids})")["records"]
    deleted = sf.query_all(f"SELECT Id, IsDeleted FROM Contact WHERE Id IN ({ids})", include_deleted=True)["records"]
    assert {r["Id"] for r in deleted if r["IsDeleted"]} == forgotten.inserted.contact_ids
    # the first person's Contact was kept (the setting was off for that request)
    kept = ", ".join(f"'{i}'" for i in sorted(forgotten.person.contact_ids))
    assert len(sf.query_all(f"SELECT Id FROM Contact WHERE Id IN ({kept})")["records"]) == len(
        forgotten.person.contact_ids)


def test_the_next_run_and_a_relanded_export_do_not_bring_them_back(forgotten: Run) -> None:
    assert any(k.startswith(f"scheduled__{DAYS[1]}.") for k in forgotten.suppressed_after), forgotten.suppressed_after
    # the first date's exports held their orders, emails and web events: each channel drops them again
    assert {s: forgotten.relanded[s]["suppressed"] > 0 for s in ("shopify", "sendgrid", "segment")} == {
        "shopify": True, "sendgrid": True, "segment": True}, forgotten.relanded


def test_every_relanded_file_reconciles_with_its_suppressed_records(forgotten: Run) -> None:
    assert forgotten.channel_files
    for source, file, read, landed, quarantined, suppressed in forgotten.channel_files:
        assert read == landed + quarantined + suppressed, (source, file)
    by_source = {}
    for source, _, _, _, _, suppressed in forgotten.channel_files:
        by_source[source] = by_source.get(source, 0) + suppressed
    assert by_source == {s: forgotten.relanded[s]["suppressed"] for s in by_source}


def test_a_request_inserted_with_sql_was_handled_by_the_nightly_run(forgotten: Run) -> None:
    con = duckdb.connect(str(forgotten.root / "warehouse" / "crm360.duckdb"))
    try:
        (status, identifier, hashed), = con.execute(
            "select status, identifier, identifier_hash from crm360_ops.privacy_requests "
            "where requested_by = 'dpo-portal'").fetchall()
        runs = {r for (r,) in con.execute("select distinct run_id from crm360_ops.privacy_audit as a inner join "
                                          "crm360_ops.privacy_requests as r using (request_id) "
                                          "where r.requested_by = 'dpo-portal' and a.run_id is not null").fetchall()}
        salesforce = json.loads(con.execute(
            "select counts from crm360_ops.privacy_audit as a inner join crm360_ops.privacy_requests as r "
            "using (request_id) where r.requested_by = 'dpo-portal' and a.step = 'salesforce'").fetchone()[0])
    finally:
        con.close()
    assert (status, identifier, len(hashed)) == ("done", None, 64)
    assert runs == {f"scheduled__{DAYS[1]}"}
    assert salesforce.get("records_deleted", 0) >= 1, salesforce


def test_the_audit_records_every_step_without_personal_data(forgotten: Run) -> None:
    con = duckdb.connect(str(forgotten.root / "warehouse" / "crm360.duckdb"))
    try:
        (request_id, status, identifier, hashed), = con.execute(
            "select request_id, status, identifier, identifier_hash from crm360_ops.privacy_requests "
            "where requested_by = 'ticket-7'").fetchall()
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
    # the hashes are salted with the connection's password (the secret never lands in a table)
    assert hashed == hashlib.sha256(f"{SALT}email:{forgotten.person.email}".encode()).hexdigest()
    audit_text = json.dumps(steps)
    assert not _hits_in_text(audit_text, forgotten.person)
    assert len(hashed) == 64
