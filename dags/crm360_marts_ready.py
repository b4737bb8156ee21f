"""crm360_marts_ready: an example DAG scheduled on the Assets that crm360_nightly's dbt_build emits.

It runs once the customer 360, the segments and the personalization tables have all been rebuilt
(one asset event each since its last run) and logs which nightly run and date built them. A
downstream consumer (an export to an ad platform, a BI refresh) starts here: copy this file and
replace the task. Unpause it in the Airflow UI or with `airflow dags unpause crm360_marts_ready`.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, get_current_context, task

from crm360 import assets

log = logging.getLogger(__name__)

with DAG(
    dag_id="crm360_marts_ready",
    description="Example consumer: runs when crm360_nightly has rebuilt the customer 360, segments and personalization",
    doc_md=__doc__,
    schedule=assets.CUSTOMER_360 & assets.SEGMENTS & assets.PERSONALIZATION,
    start_date=pendulum.parse(os.environ.get("CRM360_START_DATE", "2026-01-01"), tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "crm360", "retries": int(os.environ.get("CRM360_TASK_RETRIES", "2")),
                  "retry_delay": timedelta(minutes=2), "execution_timeout": timedelta(minutes=10)},
    tags=["crm360", "example", "assets"],
) as dag:

    @task
    def log_triggering_builds() -> dict:
        """Which nightly runs built the tables this run was triggered by (from the asset events)."""
        events = get_current_context()["triggering_asset_events"]
        built = {}
        for asset, asset_events in events.items():
            name = getattr(asset, "name", str(asset))
            built[name] = [dict(e.extra or {}) for e in asset_events]
            log.info("%s rebuilt by %s", name, built[name])
        return built

    log_triggering_builds()
