"""Run crm360 locally for real: Airflow (SQLite metadata), the sandbox Salesforce, generated data.

Used by `make demo` (sandbox/demo.py), the integration tests and the benchmarks. Everything lives
under one state folder; Airflow runs as separate processes (`airflow dags test`), exactly as a
data engineer would run it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "crm360_nightly"
WAREHOUSE_POOL = "crm360_warehouse"


@dataclass(frozen=True)
class LocalPaths:
    """Where a local run keeps its state."""

    state: Path  # airflow home, sandbox state, generated company
    warehouse: Path
    landing: Path
    reports: Path

    @classmethod
    def under(cls, root: Path, visible_outputs: Path | None = None) -> LocalPaths:
        out = visible_outputs or root
        return cls(state=root, warehouse=out / "warehouse" / "crm360.duckdb", landing=out / "data" / "landing",
                   reports=out / "reports")

    @property
    def airflow_home(self) -> Path:
        return self.state / "airflow"

    @property
    def sandbox_dir(self) -> Path:
        return self.state / "sandbox"

    @property
    def company_dir(self) -> Path:
        return self.state / "company"

    def reset(self) -> None:
        for path in (self.airflow_home, self.sandbox_dir, self.company_dir, self.state / "logs",
                     self.warehouse.parent, self.landing, self.reports):
            shutil.rmtree(path, ignore_errors=True)


def salesforce_connection(server: dict[str, Any]) -> str:
    """The Airflow connection (JSON form) for the sandbox org, credentials from the environment."""
    return json.dumps({
        "conn_type": "salesforce",
        "login": os.environ.get("SANDBOX_SF_USERNAME", "integration@crm360.sandbox"),
        "password": os.environ.get("SANDBOX_SF_PASSWORD", "sandbox-password"),
        "extra": {
            "security_token": os.environ.get("SANDBOX_SF_TOKEN", "sandbox-token"),
            "domain": server["domain"],
        },
    })


def airflow_env(paths: LocalPaths, server: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CRM360_"))}
    env.update({
        "AIRFLOW_HOME": str(paths.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{paths.airflow_home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(paths.airflow_home / "logs"),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "CRM360_TASK_RETRIES": "0",
        "AIRFLOW_CONN_SALESFORCE_DEFAULT": salesforce_connection(server),
        "REQUESTS_CA_BUNDLE": server["ca"],
        "CRM360_WAREHOUSE": str(paths.warehouse),
        "CRM360_LANDING": str(paths.landing),
        "CRM360_INBOX": str(paths.company_dir / "inbox"),
        "CRM360_REPORTS": str(paths.reports),
        "CRM360_BULK_WAIT_SECONDS": "0.2",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "False",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT / "plugins"), env.get("PYTHONPATH")])),
    })
    return env


def airflow(env: dict[str, str], *args: str, check: bool = True, capture: bool = True,
            log_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `airflow` CLI of this interpreter's environment."""
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a") as handle:
            result = subprocess.run(command, env=env, text=True, stdout=handle, stderr=subprocess.STDOUT,
                                    cwd=REPO_ROOT, check=False)
    else:
        result = subprocess.run(command, env=env, text=True, capture_output=capture, cwd=REPO_ROOT, check=False)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "")[-3000:] if capture and log_file is None else f"see {log_file}"
        raise RuntimeError(f"airflow {' '.join(args)} exited with {result.returncode}: {detail}")
    return result


def prepare_airflow(env: dict[str, str]) -> None:
    """Create the metadata DB and the warehouse pool (size 1: DuckDB has one writer)."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    airflow(env, "db", "migrate")
    airflow(env, "pools", "set", WAREHOUSE_POOL, "1", "tasks that write the DuckDB warehouse")


def set_sandbox_clock(server: dict[str, Any], ds: str, minutes_after_interval: int = 30) -> None:
    """Set the sandbox org's clock to just after ds's data interval, when a nightly run for ds runs.

    Replaying past dates this way, crm360's own writes are stamped (SystemModstamp) as they would
    be in production, inside the next day's window, not at today's wall-clock time.
    """
    import requests

    now = datetime.combine(date.fromisoformat(ds) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    now += timedelta(minutes=minutes_after_interval)
    response = requests.post(f"{server['instance_url']}/sandbox/clock", json={"now": now.isoformat()},
                             verify=server["ca"], timeout=30)
    response.raise_for_status()


def run_dag(env: dict[str, str], ds: str, conf: dict[str, Any] | None = None,
            log_file: Path | None = None) -> str:
    """`airflow dags test` for the run whose data interval is [ds, ds + 1 day) in UTC; returns its state.

    A manual run's data interval is inferred by the timetable as the last complete interval before
    its logical date, so the run for `ds` is triggered at the end of that day (as the scheduler
    would run it).
    """
    run_after = (date.fromisoformat(ds) + timedelta(days=1)).isoformat()
    args = ["dags", "test", DAG_ID, f"{run_after}T00:00:00+00:00"]
    if conf:
        args += ["-c", json.dumps(conf)]
    airflow(env, *args, check=False, log_file=log_file)
    return dag_run_state(env, ds)


def _metadata(env: dict[str, str]) -> sqlite3.Connection:
    # The CLI's list-runs does not show data intervals, so read the SQLite metadata DB directly.
    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    return sqlite3.connect(url.removeprefix("sqlite:///"))


def _latest_run(env: dict[str, str], ds: str) -> tuple[str, str] | None:
    """(run_id, state) of the newest run of DAG_ID whose data interval starts at ds."""
    with closing(_metadata(env)) as con:
        row = con.execute(
            "select run_id, state from dag_run where dag_id = ? and substr(data_interval_start, 1, 10) = ? "
            "order by id desc limit 1", (DAG_ID, ds)).fetchone()
    return (row[0], row[1]) if row else None


def dag_run_state(env: dict[str, str], ds: str) -> str:
    found = _latest_run(env, ds)
    return found[1] if found else "missing"


def _task_column(env: dict[str, str], ds: str, column: str) -> list[tuple[str, Any]]:
    """(task_id, <column>) of the newest run of ds, in the order the tasks started."""
    found = _latest_run(env, ds)
    if not found:
        return []
    assert column in ("state", "duration")
    with closing(_metadata(env)) as con:
        return con.execute(
            f"select task_id, {column} from task_instance where dag_id = ? and run_id = ? order by start_date",
            (DAG_ID, found[0])).fetchall()


def task_states(env: dict[str, str], ds: str) -> dict[str, str]:
    """task_id -> state for the newest run of ds, in the DAG's stage order."""
    return {task_id: state or "none" for task_id, state in _task_column(env, ds, "state")}


def task_durations(env: dict[str, str], ds: str) -> dict[str, float]:
    """task_id -> seconds for the newest run of ds (from the metadata DB)."""
    return {task_id: float(seconds or 0.0) for task_id, seconds in _task_column(env, ds, "duration")}
