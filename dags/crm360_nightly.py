"""crm360_nightly: the nightly Airflow DAG that turns CRM and channel data into a segment of one.

extract_salesforce -> land_channels -> raw_quality_gate -> dbt_build -> publish_quality_gate
-> push_to_salesforce -> run_summary

Thin by design: every task calls one function in `crm360.tasks`. Nothing heavy is imported at
parse time. Each run owns one data interval (24 hours); its `ds` is the interval's start as a UTC
date. Tasks that write the DuckDB warehouse share the pool `crm360_warehouse` (size 1).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, get_current_context, task

SCHEDULE = os.environ.get("CRM360_SCHEDULE", "0 0 * * *")
TIMEZONE = os.environ.get("CRM360_TIMEZONE", "UTC")
START_DATE = os.environ.get("CRM360_START_DATE", "2026-01-01")
WAREHOUSE_POOL = os.environ.get("CRM360_WAREHOUSE_POOL", "crm360_warehouse")

DOC = """
### crm360 nightly

Pulls Salesforce changes and the day's channel exports into the landing zone, validates them
(Great Expectations), builds the customer 360, segments and personalization (dbt), validates the
publish models, writes the changes back to Salesforce, and writes a run summary.

Params: `push` (manual runs write to Salesforce only when true), `dry_run`, `full_refresh`
(dbt), `full_refresh_extract` (re-extract a landed Salesforce date), `allow_large_push`
(override the blast-radius check), `backfill` (treat a manual run as a backfill). Backfill runs
(`airflow backfill create`, or backfill=true) never write to Salesforce.
"""

default_args = {
    "owner": "crm360",
    # Local runs (demo, tests) set CRM360_TASK_RETRIES=0 so that a failure shows at once.
    "retries": int(os.environ.get("CRM360_TASK_RETRIES", "2")),
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=20),
    "execution_timeout": timedelta(hours=2),
}


def _run(stage: str) -> dict:
    from crm360 import tasks
    from crm360.rundate import window_from_context
    from crm360.settings import Settings

    return getattr(tasks, stage)(window_from_context(get_current_context()), Settings.from_env())


with DAG(
    dag_id="crm360_nightly",
    description="Salesforce + channels -> customer 360 -> segments/personalization -> Salesforce",
    doc_md=DOC,
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone=TIMEZONE),
    start_date=pendulum.parse(START_DATE, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["crm360", "nightly"],
    params={
        "push": Param(False, type="boolean", description="manual runs: write to Salesforce"),
        "dry_run": Param(False, type="boolean", description="plan the push, write nothing"),
        "full_refresh": Param(False, type="boolean", description="dbt --full-refresh"),
        "full_refresh_extract": Param(False, type="boolean",
                                      description="re-extract Salesforce even if the date is landed"),
        "allow_large_push": Param(False, type="boolean", description="override the blast-radius check"),
        "backfill": Param(False, type="boolean",
                          description="treat a manual run as a backfill (never writes to Salesforce)"),
    },
) as dag:

    @task(pool=WAREHOUSE_POOL)
    def extract_salesforce() -> dict:
        return _run("extract_salesforce")

    @task(pool=WAREHOUSE_POOL)
    def land_channels() -> dict:
        return _run("land_channels")

    @task(pool=WAREHOUSE_POOL)
    def raw_quality_gate() -> dict:
        return _run("raw_quality_gate")

    @task(pool=WAREHOUSE_POOL)
    def dbt_build() -> dict:
        return _run("dbt_build")

    @task(pool=WAREHOUSE_POOL)
    def publish_quality_gate() -> dict:
        return _run("publish_quality_gate")

    @task(pool=WAREHOUSE_POOL, retries=0)
    def push_to_salesforce() -> dict:
        return _run("push_to_salesforce")

    @task(pool=WAREHOUSE_POOL, trigger_rule="all_done", retries=0)
    def run_summary() -> dict:
        """Always runs; writes the report, then fails the DAG run if any stage failed."""
        from crm360 import tasks
        from crm360.rundate import window_from_context
        from crm360.settings import Settings

        context = get_current_context()
        return tasks.run_summary(window_from_context(context), Settings.from_env(),
                                 stage_states=tasks.stage_states(context))

    (
        extract_salesforce()
        >> land_channels()
        >> raw_quality_gate()
        >> dbt_build()
        >> publish_quality_gate()
        >> push_to_salesforce()
        >> run_summary()
    )
