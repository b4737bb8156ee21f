"""`airflow backfill create` against a running Airflow: api-server, scheduler, dag-processor,
LocalExecutor at parallelism 4, metadata on Postgres (127.0.0.1).

A fresh small company is loaded into the sandbox org, three dates are backfilled, and the tests
check what a data engineer would: three backfill runs succeeded, the warehouse holds every date,
warehouse writers never ran at the same time (pool crm360_warehouse, size 1), and the org received
no write from crm360.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sandbox import localrun, services
from tests.conftest import require

pytestmark = pytest.mark.integration

DAYS = ("2026-11-18", "2026-11-19", "2026-11-20")
CUSTOMERS = 400
SEED = 23


@dataclass
class Backfilled:
    paths: localrun.LocalPaths
    env: dict[str, str]
    server: dict[str, Any]
    backfill_id: int
    runs: list[services.Run]
    tasks: list[services.TaskRun]
    contacts: list[dict[str, Any]]
    leads: list[dict[str, Any]]
    campaign_members: int
    campaign_members_before: int
    deployment_logs: Path


def _org(server: dict[str, Any]) -> Any:
    from simple_salesforce import Salesforce

    return Salesforce(username="integration@crm360.sandbox", password="sandbox-password",
                      security_token="sandbox-token", domain=server["domain"])


def _crm360_fields(sf: Any, sobject: str) -> list[str]:
    return [f["name"] for f in getattr(sf, sobject).describe()["fields"] if f["name"].startswith("Crm360_")]


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    require(shutil.which("airflow", path=str(Path(localrun.sys.executable).parent)) is not None,
            "the airflow CLI of this environment (make venv installs it)")
    require(services.reachable(services.POSTGRES_HOST, services.POSTGRES_PORT),
            f"PostgreSQL at {services.POSTGRES_HOST}:{services.POSTGRES_PORT} (Airflow metadata DB)")
    from sandbox.generator import generate, load
    from sandbox.salesforce.process import start_sandbox

    root = tmp_path_factory.mktemp("backfill")
    paths = localrun.LocalPaths.under(root)
    generate(customers=CUSTOMERS, days=len(DAYS), end_date=DAYS[-1], seed=SEED, out=paths.company_dir,
             history_days=90)
    with (start_sandbox(paths.sandbox_dir) as sandbox, pytest.MonkeyPatch.context() as mp,
          services.postgres_database("crm360_airflow_backfill") as metadata_url):
        mp.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_path)
        load(paths.company_dir, sandbox.server_file)
        server = json.loads(sandbox.server_file.read_text())
        localrun.set_sandbox_clock(server, DAYS[-1])
        sf = _org(server)
        members_before = sf.query("SELECT COUNT() FROM CampaignMember")["totalSize"]
        env = services.deployment_env(localrun.airflow_env(paths, server), metadata_url=metadata_url,
                                      executor=services.LOCAL, parallelism=4)
        log_dir = root / "logs" / "services"
        with services.running(env, log_dir) as deployment:
            services.wait_for_dag(env)
            services.unpause(env)
            backfill_id = services.create_backfill(env, DAYS[0], DAYS[-1], max_active_runs=1)
            runs = services.wait_for_runs(env, backfill_id=backfill_id, expected=len(DAYS), timeout=1500,
                                          deployment=deployment)
            tasks = services.task_runs(env, [r.run_id for r in runs])
            services.wait_backfills_complete(env)  # the scheduler closes it: the next backfill can start
        contact_fields = ", ".join(["Id", *_crm360_fields(sf, "Contact")])
        lead_fields = ", ".join(["Id", *_crm360_fields(sf, "Lead")])
        yield Backfilled(
            paths=paths, env=env, server=server, backfill_id=backfill_id, runs=runs, tasks=tasks,
            contacts=sf.query_all(f"SELECT {contact_fields} FROM Contact")["records"],
            leads=sf.query_all(f"SELECT {lead_fields} FROM Lead")["records"],
            campaign_members=sf.query("SELECT COUNT() FROM CampaignMember")["totalSize"],
            campaign_members_before=members_before, deployment_logs=log_dir)


@pytest.fixture()
def warehouse(backfilled: Backfilled) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(backfilled.paths.warehouse), read_only=True)
    yield con
    con.close()


def test_three_backfill_runs_succeed(backfilled: Backfilled) -> None:
    detail = f"scheduler log: {backfilled.deployment_logs / 'scheduler.log'}"
    assert [(r.ds, r.run_type, r.state) for r in backfilled.runs] == [
        (ds, "backfill", "success") for ds in DAYS], detail
    assert {r.backfill_id for r in backfilled.runs} == {backfilled.backfill_id}
    # every task of every run ran and succeeded, through the LocalExecutor
    assert backfilled.tasks and {t.state for t in backfilled.tasks} == {"success"}
    assert {t.run_id for t in backfilled.tasks} == {r.run_id for r in backfilled.runs}
    assert backfilled.env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert backfilled.env["AIRFLOW__CORE__PARALLELISM"] == "4"


def test_runs_ran_oldest_first_one_at_a_time(backfilled: Backfilled) -> None:
    ordered = sorted(backfilled.runs, key=lambda r: r.start_date)  # type: ignore[arg-type,return-value]
    assert [r.ds for r in ordered] == list(DAYS)
    for earlier, later in itertools.pairwise(ordered):
        assert later.start_date >= earlier.end_date  # type: ignore[operator]


def test_warehouse_writers_never_overlap(backfilled: Backfilled) -> None:
    in_pool = [t for t in backfilled.tasks if t.pool == localrun.WAREHOUSE_POOL]
    assert in_pool, "no task ran in the crm360_warehouse pool"
    assert services.overlaps(backfilled.tasks) == []


def test_tables_built_for_every_date(backfilled: Backfilled, warehouse: duckdb.DuckDBPyConnection) -> None:
    customers = warehouse.execute("select count(*) from marts.customer_360").fetchone()[0]
    assert customers > CUSTOMERS * 0.5
    by_ds = dict(warehouse.execute(
        "select cast(ds as varchar), count(distinct stage) from crm360_ops.stage_metrics group by ds").fetchall())
    assert set(by_ds) == set(DAYS)
    assert min(by_ds.values()) >= 5
    for ds in DAYS:
        summary = json.loads((backfilled.paths.reports / ds / "run_summary.json").read_text())
        assert summary["ds"] == ds
        assert not summary["failed_stages"]


def test_nothing_written_to_salesforce(backfilled: Backfilled, warehouse: duckdb.DuckDBPyConnection) -> None:
    # the push planned but never sent, and said why
    reasons = warehouse.execute(
        "select distinct cast(ds as varchar), detail from crm360_ops.stage_metrics "
        "where stage = 'push_to_salesforce' order by 1").fetchall()
    assert sorted({ds for ds, _ in reasons}) == list(DAYS)
    for ds in DAYS:
        details = [detail or "" for day, detail in reasons if day == ds]
        assert any("backfill runs never write to Salesforce" in d for d in details), details
        assert not any("run for the newest date" in d for d in details), details
    sent = warehouse.execute(
        "select coalesce(sum(value), 0) from crm360_ops.stage_metrics "
        "where stage = 'push_to_salesforce' and (metric like '%.sent' or metric like '%.created')").fetchone()[0]
    assert sent == 0
    assert warehouse.execute("select count(*) from crm360_ops.sync_history").fetchone()[0] == 0
    # and the org agrees: no crm360 field holds a value, no campaign member was added
    for record in backfilled.contacts + backfilled.leads:
        written = {k: v for k, v in record.items() if k.startswith("Crm360_") and v not in (None, False)}
        assert not written, record["Id"]
    assert backfilled.campaign_members == backfilled.campaign_members_before
