"""Two ways to run crm360's dbt project inside Airflow, for `make bench` (bench/dbt_orchestration.py).

- `bench_dbt_single`: one task, one in-process `dbt build` (what crm360_nightly's dbt_build does).
- `bench_dbt_cosmos`: astronomer-cosmos renders the same project as one Airflow task per model
  (run, then its tests), LOCAL execution mode, models parsed with `dbt ls`.

Both read the run date, warehouse and landing zone from CRM360_BENCH_DS, CRM360_WAREHOUSE and
CRM360_LANDING, which the bench sets. Not part of crm360: this folder is only a DAGs folder for the
bench's own Airflow home.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pendulum
from airflow.sdk import DAG, task

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = REPO_ROOT / "dbt_project"
DS = os.environ.get("CRM360_BENCH_DS", "2026-11-20")
START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(dag_id="bench_dbt_single", schedule=None, start_date=START, catchup=False, tags=["bench"]):

    @task
    def dbt_build() -> dict:
        from crm360.transform.dbt import run_build

        result = run_build(PROJECT, Path(os.environ["CRM360_WAREHOUSE"]), Path(os.environ["CRM360_LANDING"]), DS)
        return {"counts": result.counts}

    dbt_build()


def _cosmos_dag() -> DAG:
    from cosmos import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, LoadMode

    from crm360.transform.dbt import dbt_vars

    return DbtDag(
        dag_id="bench_dbt_cosmos",
        schedule=None,
        start_date=START,
        catchup=False,
        tags=["bench"],
        project_config=ProjectConfig(
            dbt_project_path=PROJECT,
            install_dbt_deps=False,
            dbt_vars=dbt_vars(PROJECT, DS),
            env_vars={"CRM360_WAREHOUSE": os.environ.get("CRM360_WAREHOUSE", ""),
                      "CRM360_LANDING": os.environ.get("CRM360_LANDING", "")},
        ),
        profile_config=ProfileConfig(profile_name="crm360", target_name="duckdb",
                                     profiles_yml_filepath=PROJECT / "profiles.yml"),
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.LOCAL,
                                         dbt_executable_path=str(Path(sys.executable).parent / "dbt")),
        render_config=RenderConfig(load_method=LoadMode.DBT_LS),
    )


bench_dbt_cosmos = _cosmos_dag()
