"""crm360_nightly: the nightly Airflow DAG that turns CRM and channel data into a segment of one.

privacy_requests -> extract_salesforce -> land_channels -> raw_quality_gate -> dbt_build -> publish_quality_gate
-> push_to_salesforce -> run_summary, in task groups ingest / build / activate / report (task ids
stay the stage names). dbt_build emits the Assets of `crm360.assets`; a failed task alerts through
`crm360.alerts` (SMTP connection, else the log).

Thin by design: every task calls one function in `crm360.tasks`. Nothing heavy is imported at
parse time. Each run owns one data interval (24 hours); its `ds` is the interval's start as a UTC
date. Tasks that write the DuckDB warehouse share the pool `crm360_warehouse` (size 1).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TaskGroup, get_current_context, task

from crm360 import assets

SCHEDULE = os.environ.get("CRM360_SCHEDULE", "0 0 * * *")
TIMEZONE = os.environ.get("CRM360_TIMEZONE", "UTC")
START_DATE = os.environ.get("CRM360_START_DATE", "2026-01-01")
WAREHOUSE_POOL = os.environ.get("CRM360_WAREHOUSE_POOL", "crm360_warehouse")
# execution_timeout per stage, in minutes; CRM360_STAGE_TIMEOUTS="dbt_build=240,push_to_salesforce=300"
# overrides some (a stage that runs longer fails, and is retried like any failure).
STAGE_TIMEOUT_MINUTES = {
    "privacy_requests": 60, "extract_salesforce": 120, "land_channels": 60, "raw_quality_gate": 60, "dbt_build": 180,
    "publish_quality_gate": 60, "push_to_salesforce": 180, "run_summary": 15,
} | {name.strip(): int(minutes) for name, _, minutes in (
    item.partition("=") for item in os.environ.get("CRM360_STAGE_TIMEOUTS", "").split(",") if "=" in item)}


def timeout(stage: str) -> timedelta:
    return timedelta(minutes=STAGE_TIMEOUT_MINUTES[stage])


DOC = """
### crm360 nightly

Pulls Salesforce changes and the day's channel exports into the landing zone, validates them
(Great Expectations), builds the customer 360, segments and personalization (dbt), validates the
publish models, writes the changes back to Salesforce, and writes a run summary.

Params: `push` (manual runs write to Salesforce only when true), `dry_run`, `full_refresh`
(dbt), `full_refresh_extract` (re-extract a landed Salesforce date), `allow_large_push`
(override the blast-radius check), `backfill` (treat a manual run as a backfill). Backfill runs
(`airflow backfill create`, or backfill=true) never write to Salesforce.

Task groups: `ingest` (privacy_requests: forget requests first; extract_salesforce; land_channels:
also checks each source's freshness),
`build` (raw_quality_gate, dbt_build), `activate` (publish_quality_gate, push_to_salesforce),
`report` (run_summary). `dbt_build` emits the Assets `crm360.marts.customer_360`,
`crm360.marts.customer_segments` and `crm360.marts.customer_personalization`. A failed stage
alerts through the connection `crm360_alerts_smtp` (`CRM360_ALERT_CONN_ID`, recipients
`CRM360_ALERT_TO`), or logs the alert when there is none.
"""


def _alert(context: dict) -> None:
    """A failed task alerts (crm360.alerts): stage, ds, run and first error; logged without a connection."""
    from crm360 import alerts

    alerts.on_task_failure(context)


default_args = {
    "owner": "crm360",
    # Local runs (demo, tests) set CRM360_TASK_RETRIES=0 so that a failure shows at once.
    "retries": int(os.environ.get("CRM360_TASK_RETRIES", "2")),
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=20),
    "execution_timeout": timedelta(hours=2),  # each stage sets its own (STAGE_TIMEOUT_MINUTES)
    "on_failure_callback": _alert,
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

    with TaskGroup("ingest", prefix_group_id=False, tooltip="Salesforce changes and channel files landed") as ingest:

        # first: a forgotten person's hashes are on the suppression list before anything is landed
        @task(pool=WAREHOUSE_POOL, retries=0, execution_timeout=timeout("privacy_requests"))
        def privacy_requests() -> dict:
            return _run("privacy_requests")

        @task(pool=WAREHOUSE_POOL, execution_timeout=timeout("extract_salesforce"))
        def extract_salesforce() -> dict:
            return _run("extract_salesforce")

        @task(pool=WAREHOUSE_POOL, execution_timeout=timeout("land_channels"))
        def land_channels() -> dict:
            return _run("land_channels")

        privacy_requests() >> extract_salesforce() >> land_channels()

    with TaskGroup("build", prefix_group_id=False, tooltip="raw gate, then the dbt build of the marts") as build:

        @task(pool=WAREHOUSE_POOL, execution_timeout=timeout("raw_quality_gate"))
        def raw_quality_gate() -> dict:
            return _run("raw_quality_gate")

        @task(pool=WAREHOUSE_POOL, execution_timeout=timeout("dbt_build"), outlets=list(assets.MARTS))
        def dbt_build() -> dict:
            from crm360.rundate import window_from_context

            result = _run("dbt_build")
            context = get_current_context()
            window = window_from_context(context)
            for asset in assets.MARTS:  # each asset event says which date and run built the table
                context["outlet_events"][asset].extra = {"ds": window.ds_str, "run_id": window.run_id}
            return result

        raw_quality_gate() >> dbt_build()

    with TaskGroup("activate", prefix_group_id=False, tooltip="publish gate, then the push to Salesforce") as activate:

        @task(pool=WAREHOUSE_POOL, execution_timeout=timeout("publish_quality_gate"))
        def publish_quality_gate() -> dict:
            return _run("publish_quality_gate")

        @task(pool=WAREHOUSE_POOL, retries=0, execution_timeout=timeout("push_to_salesforce"))
        def push_to_salesforce() -> dict:
            return _run("push_to_salesforce")

        publish_quality_gate() >> push_to_salesforce()

    with TaskGroup("report", prefix_group_id=False, tooltip="the run summary (always runs)") as report:

        @task(pool=WAREHOUSE_POOL, trigger_rule="all_done", retries=0, execution_timeout=timeout("run_summary"))
        def run_summary() -> dict:
            """Always runs; writes the report, then fails the DAG run if any stage failed."""
            from crm360 import tasks
            from crm360.rundate import window_from_context
            from crm360.settings import Settings

            context = get_current_context()
            return tasks.run_summary(window_from_context(context), Settings.from_env(),
                                     stage_states=tasks.stage_states(context))

        run_summary()

    ingest >> build >> activate >> report
