"""One multi-day end-to-end run of crm360_nightly, shared by the end-to-end tests.

Real parts throughout: the generated company is loaded into the sandbox Salesforce (HTTPS, local
CA), Airflow runs the DAG with `airflow dags test` (SQLite metadata in a temporary AIRFLOW_HOME),
dbt and Great Expectations run inside the tasks, and the push writes to the sandbox through
simple-salesforce. Nothing is mocked.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sandbox import localrun
from tests.conftest import require

DAYS = ("2026-11-18", "2026-11-19", "2026-11-20")
CUSTOMERS = 1500
HISTORY_DAYS = 180
SEED = 11
REP_CHANNEL = "phone (rep says)"


@dataclass
class NightlyRuns:
    """What the shared end-to-end run produced."""

    paths: localrun.LocalPaths
    env: dict[str, str]
    server: dict[str, Any]
    manifest: dict[str, Any]
    states: dict[str, str] = field(default_factory=dict)  # label -> DAG run state
    tasks: dict[str, dict[str, str]] = field(default_factory=dict)  # label -> task states
    salesforce_after: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    published: dict[str, dict[str, tuple]] = field(default_factory=dict)  # label -> Contact Id -> values
    logs: dict[str, Path] = field(default_factory=dict)
    edited_by_rep: list[str] = field(default_factory=list)  # Contacts whose preferred channel a rep changed
    # label -> campaign name -> record ids: the members in the org, and who crm360 wanted there
    members_after: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    wanted_members: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    def salesforce(self) -> Any:
        from simple_salesforce import Salesforce

        return Salesforce(username="integration@crm360.sandbox", password="sandbox-password",
                          security_token="sandbox-token", domain=self.server["domain"])

    def log_tail(self, label: str) -> str:
        path = self.logs.get(label)
        return path.read_text()[-4000:] if path and path.exists() else "(no log)"


def _contacts(sf: Any) -> list[dict[str, Any]]:
    soql = ("SELECT Id, Crm360_Customer_Id__c, Crm360_Lifetime_Value__c, Crm360_Order_Count__c, "
            "Crm360_Email_Engagement__c, Crm360_Segment__c, Crm360_Next_Best_Product__c, "
            "Crm360_Next_Best_Offer__c, Crm360_Churn_Risk__c, Crm360_Best_Send_Hour__c, Crm360_Preferred_Channel__c, "
            "SystemModstamp FROM Contact")
    return sf.query_all(soql)["records"]


def _campaign_members(sf: Any) -> dict[str, set[str]]:
    names = {c["Id"]: c["Name"] for c in sf.query_all("SELECT Id, Name FROM Campaign")["records"]}
    members: dict[str, set[str]] = {name: set() for name in names.values()}
    for m in sf.query_all("SELECT CampaignId, ContactId, LeadId FROM CampaignMember")["records"]:
        members[names[m["CampaignId"]]].add(m["ContactId"] or m["LeadId"])
    return members


def _wanted_members(warehouse: Path) -> dict[str, set[str]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        wanted: dict[str, set[str]] = {}
        for campaign, record_id in con.execute(
                "select campaign_name, sfdc_record_id from publish.campaign_members").fetchall():
            wanted.setdefault(campaign, set()).add(record_id)
        return wanted
    finally:
        con.close()


def _published(warehouse: Path) -> dict[str, tuple]:
    if not warehouse.exists():
        return {}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {row[0]: tuple(row[1:]) for row in con.execute(
            "select sfdc_record_id, customer_id, lifetime_value, order_count, email_engagement, segment_names, "
            "next_best_product, next_best_offer, churn_risk_pct, best_send_hour "
            "from publish.contact_attributes where sobject_type = 'Contact'").fetchall()}
    except duckdb.CatalogException:
        return {}
    finally:
        con.close()


@pytest.fixture(scope="session")
def nightly(tmp_path_factory: pytest.TempPathFactory, monkeypatch_session: pytest.MonkeyPatch) -> Iterator[NightlyRuns]:
    """Generate a company, run the nightly DAG for three consecutive dates, then re-run the middle one.

    Runs, in order (label -> what it is):
      day1, day2, day3: manual runs with push=true for 2026-11-18, -19, -20 (each the newest date);
      rerun_day2: 2026-11-19 again with push=true after day3 (an old date: must not push, must reuse
      the landed Salesforce partition).
    """
    require(shutil.which("airflow", path=str(Path(localrun.sys.executable).parent)) is not None,
            "the airflow CLI of this environment (make venv installs it)")
    from sandbox.generator import generate, load
    from sandbox.salesforce.process import start_sandbox

    root = tmp_path_factory.mktemp("nightly")
    paths = localrun.LocalPaths.under(root)
    # with half a year of order history (in day 1's shop export), so segments and value models have data
    manifest = generate(customers=CUSTOMERS, days=len(DAYS), end_date=DAYS[-1], seed=SEED, out=paths.company_dir,
                        history_days=HISTORY_DAYS)
    with start_sandbox(paths.sandbox_dir) as _server:
        load(paths.company_dir, paths.sandbox_dir / "server.json")
        server = json.loads((paths.sandbox_dir / "server.json").read_text())
        # simple-salesforce in this test process trusts the sandbox CA the same way the tasks do.
        monkeypatch_session.setenv("REQUESTS_CA_BUNDLE", server["ca"])
        env = localrun.airflow_env(paths, server)
        localrun.prepare_airflow(env)
        runs = NightlyRuns(paths=paths, env=env, server=server, manifest=manifest)
        sf = runs.salesforce()
        plan = [("day1", DAYS[0]), ("day2", DAYS[1]), ("day3", DAYS[2]), ("rerun_day2", DAYS[1])]
        for label, ds in plan:
            log_file = root / "logs" / f"{label}.log"
            runs.logs[label] = log_file
            localrun.set_sandbox_clock(server, ds)
            runs.states[label] = localrun.run_dag(env, ds, conf={"push": True}, log_file=log_file)
            runs.tasks[label] = localrun.task_states(env, ds)
            runs.salesforce_after[label] = _contacts(sf)
            runs.published[label] = _published(paths.warehouse)
            runs.members_after[label] = _campaign_members(sf)
            runs.wanted_members[label] = _wanted_members(paths.warehouse)
            if label == "day1":
                # a sales rep knows better for three Contacts: crm360 must leave their channel alone now
                written = [c["Id"] for c in runs.salesforce_after[label] if c["Crm360_Preferred_Channel__c"]]
                runs.edited_by_rep = sorted(written)[:3]
                for record_id in runs.edited_by_rep:
                    sf.Contact.update(record_id, {"Crm360_Preferred_Channel__c": REP_CHANNEL})
        yield runs


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A sandbox org for the test module; requests trust its CA (REQUESTS_CA_BUNDLE wins over verify=)."""
    from sandbox.salesforce.process import start_sandbox

    with start_sandbox(tmp_path_factory.mktemp("sf-org")) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
        yield server


@pytest.fixture
def sf(sandbox: Any) -> Any:
    """simple-salesforce, unmodified, logged in to the module's sandbox org."""
    from simple_salesforce import Salesforce

    return Salesforce(username="integration@crm360.sandbox", password="sandbox-password",
                      security_token="sandbox-token", domain=sandbox.domain)


def seed(sandbox: Any, obj: str, records: list[dict]) -> None:
    """Insert records as given (Ids and audit timestamps included) through the sandbox's admin API."""
    import requests

    response = requests.post(sandbox.url("/sandbox/seed"), json={"object": obj, "records": records},
                             verify=sandbox.ca_path, timeout=120)
    assert response.status_code == 200, response.text
    assert response.json() == {"inserted": len(records)}


def use_crm360_home(mp: pytest.MonkeyPatch, home: Path, server: dict[str, Any], inbox: Path | None = None) -> None:
    """Point crm360's settings at `home` and its Salesforce connection at the sandbox org `server`."""
    mp.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", localrun.salesforce_connection(server))
    mp.setenv("CRM360_HOME", str(home))
    if inbox is not None:
        mp.setenv("CRM360_INBOX", str(inbox))
    for name in ("CRM360_WAREHOUSE", "CRM360_LANDING", "CRM360_REPORTS", "CRM360_SF_OBJECTS",
                 *(("CRM360_INBOX",) if inbox is None else ())):
        mp.delenv(name, raising=False)


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def land_company(root: Path, days: tuple[str, ...], mp: pytest.MonkeyPatch, *, customers: int,
                 seed: int, history_days: int = 0) -> Path:
    """Generate a company under `root`, load its CRM into a sandbox org, and run crm360's extract and
    land stages for `days` with CRM360_HOME=`root` (set on `mp`). The sandbox stops on return;
    everything crm360 needs afterwards is in the landing zone. `history_days` of orders come in the
    first day's shop export. Returns the company folder."""
    from crm360 import tasks
    from crm360.rundate import RunWindow
    from crm360.settings import Settings
    from sandbox.generator import generate, load
    from sandbox.salesforce.process import start_sandbox

    company = root / "company"
    generate(customers=customers, days=len(days), end_date=days[-1], seed=seed, out=company,
             history_days=history_days)
    with start_sandbox(root / "sandbox") as sandbox:
        mp.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_path)
        server = json.loads(sandbox.server_file.read_text())
        load(company, sandbox.server_file)
        localrun.set_sandbox_clock(server, days[-1])
        use_crm360_home(mp, root, server, inbox=company / "inbox")
        for ds in days:
            window = RunWindow.for_day(ds, run_id=f"scheduled__{ds}", run_type="scheduled")
            tasks.extract_salesforce(window, Settings.from_env())
            tasks.land_channels(window, Settings.from_env())
    return company
