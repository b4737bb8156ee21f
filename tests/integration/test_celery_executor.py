"""Scale-out: crm360_nightly on the CeleryExecutor with a Redis broker, metadata on Postgres.

The configuration docker-compose.yml runs (same AIRFLOW__* settings), as local processes: an
api-server, a scheduler, a dag-processor and a Celery worker (sandbox/services.py). One manual run
with push=true on a fresh small company must succeed, every task must have gone through the
worker's queue, and the push must have reached the sandbox org.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sandbox import localrun, services
from tests.conftest import require

pytestmark = pytest.mark.integration

DS = "2026-11-20"
CUSTOMERS = 400
SEED = 29


@dataclass
class CeleryRun:
    env: dict[str, str]
    run: services.Run
    tasks: list[services.TaskRun]
    worker_log: str
    queue: str
    contacts_written: int


@pytest.fixture(scope="module")
def celery_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryRun]:
    require(shutil.which("airflow", path=str(Path(localrun.sys.executable).parent)) is not None,
            "the airflow CLI of this environment (make venv installs it)")
    require(services.reachable(services.POSTGRES_HOST, services.POSTGRES_PORT),
            f"PostgreSQL at {services.POSTGRES_HOST}:{services.POSTGRES_PORT} (Airflow metadata DB)")
    redis = urlsplit(services.REDIS_URL)
    require(services.reachable(redis.hostname or "127.0.0.1", redis.port or 6379),
            f"Redis at {services.REDIS_URL} (Celery broker)")
    try:  # what `airflow celery worker` imports first
        from airflow.providers.celery.executors import celery_executor_utils  # noqa: F401
    except ImportError as exc:
        import celery

        pytest.fail(f"the Celery provider does not import with celery {celery.__version__} ({exc}): the lock "
                    "needs a celery the provider supports (5.6.3 works with apache-airflow-providers-celery 3.26.0)")
    from simple_salesforce import Salesforce

    from sandbox.generator import generate, load
    from sandbox.salesforce.process import start_sandbox

    root = tmp_path_factory.mktemp("celery")
    paths = localrun.LocalPaths.under(root)
    generate(customers=CUSTOMERS, days=1, end_date=DS, seed=SEED, out=paths.company_dir, history_days=90)
    with (start_sandbox(paths.sandbox_dir) as sandbox, pytest.MonkeyPatch.context() as mp,
          services.postgres_database("crm360_airflow_celery") as metadata_url):
        mp.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_path)
        load(paths.company_dir, sandbox.server_file)
        server = json.loads(sandbox.server_file.read_text())
        localrun.set_sandbox_clock(server, DS)
        env = services.deployment_env(localrun.airflow_env(paths, server), metadata_url=metadata_url,
                                      executor=services.CELERY, parallelism=2)
        log_dir = root / "logs" / "services"
        with services.running(env, log_dir) as deployment:
            services.wait_for_dag(env)
            services.unpause(env)
            run_id = services.trigger(env, DS, conf={"push": True})
            (run,) = services.wait_for_runs(env, run_ids=[run_id], expected=1, timeout=900, deployment=deployment)
            tasks = services.task_runs(env, [run_id])
        sf = Salesforce(username="integration@crm360.sandbox", password="sandbox-password",
                        security_token="sandbox-token", domain=server["domain"])
        written = sf.query("SELECT COUNT() FROM Contact WHERE Crm360_Customer_Id__c != null")["totalSize"]
        yield CeleryRun(env=env, run=run, tasks=tasks, worker_log=deployment.log_tail("celery-worker", 2_000_000),
                        queue=deployment.queue or "", contacts_written=written)


def test_nightly_run_succeeds_on_celery(celery_run: CeleryRun) -> None:
    assert celery_run.env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert celery_run.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert celery_run.env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert (celery_run.run.ds, celery_run.run.run_type, celery_run.run.state) == (DS, "manual", "success"), \
        celery_run.worker_log[-3000:]
    assert celery_run.tasks and {t.state for t in celery_run.tasks} == {"success"}


def test_every_task_ran_on_the_celery_worker(celery_run: CeleryRun) -> None:
    # the deployment's own queue, which only its worker consumes
    assert {t.queue for t in celery_run.tasks} == {celery_run.queue}
    received = celery_run.worker_log.count("Task execute_workload[")
    assert received >= len(celery_run.tasks), celery_run.worker_log[-3000:]
    for task in celery_run.tasks:
        assert task.task_id in celery_run.worker_log


def test_push_reached_the_org(celery_run: CeleryRun) -> None:
    assert celery_run.contacts_written > 0
