"""A real Airflow 3 deployment as local background processes, for `make backfill` and the tests.

`airflow dags test` runs a DAG in one process; a backfill (`airflow backfill create`) only queues
runs, so something has to run them: an api-server (which also serves the execution API the task
processes talk to), a scheduler, a dag-processor and, with the CeleryExecutor, a Celery worker.
This module starts those for the environment that `localrun.airflow_env()` builds, with

* the metadata DB on SQLite (the file `localrun` uses) or a Postgres URL (`postgres_database()`
  creates and drops one on 127.0.0.1),
* the LocalExecutor (parallelism 4 by default) or the CeleryExecutor with a Redis broker,
* each component's output in `<log_dir>/<component>.log`, task logs under the Airflow home,

waits until the api-server reports every component healthy, and on the way out terminates each
component's process group (SIGTERM, then SIGKILL), also when the caller fails.

The deployment never creates scheduled runs (`[scheduler] use_job_schedule = False`): unpausing
the DAG would otherwise start a run for the last complete interval before the wall clock, and a
scheduled run writes to Salesforce. Runs come from `airflow backfill create` and `airflow dags
trigger` only. Run and task states are read from the metadata DB through SQLAlchemy, so they work
the same on SQLite and Postgres.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox import localrun

LOCAL = "LocalExecutor"
CELERY = "CeleryExecutor"
POSTGRES_HOST = os.environ.get("CRM360_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("CRM360_TEST_PG_PORT", "5432"))
POSTGRES_USER = os.environ.get("CRM360_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("CRM360_TEST_REDIS_URL", "redis://127.0.0.1:6379")
FINISHED = ("success", "failed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether something accepts TCP connections at host:port (for require() in tests)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# -- metadata DB on Postgres ---------------------------------------------------------------------

def postgres_url(database: str, driver: str = "postgresql+psycopg2") -> str:
    return f"{driver}://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"


def _postgres_admin(statement: str) -> None:
    import psycopg2

    con = psycopg2.connect(host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, dbname="postgres")
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(statement)
    finally:
        con.close()


@contextmanager
def postgres_database(prefix: str = "crm360_airflow") -> Iterator[str]:
    """A fresh Postgres database for Airflow's metadata; yields its SQLAlchemy URL, drops it after."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    _postgres_admin(f'create database "{name}"')
    try:
        yield postgres_url(name)
    finally:
        _postgres_admin(f'drop database if exists "{name}" with (force)')


# -- configuration -------------------------------------------------------------------------------

def deployment_env(base: dict[str, str], *, metadata_url: str | None = None, executor: str = LOCAL,
                   parallelism: int = 4, redis_db: int | None = None, api_port: int | None = None) -> dict[str, str]:
    """`base` (from localrun.airflow_env) plus what a multi-process deployment needs.

    Every component gets the same secrets (the JWT secret signs the tokens task processes use on
    the execution API), its own free ports (several deployments may share a machine) and, for
    Celery, a Redis database and a queue of its own, so that no other worker takes its tasks.
    """
    env = dict(base)
    port = api_port or free_port()
    if metadata_url:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata_url
    env.update({
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        # a local deployment: the simple auth manager lets everyone in as admin (UI on the port above)
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # no scheduled runs: the wall clock must not start a nightly run that pushes (module doc)
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    })
    if executor == CELERY:
        db = redis_db if redis_db is not None else 1 + secrets.randbelow(15)
        queue = f"crm360_{secrets.token_hex(3)}"
        metadata = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        env.update({
            "AIRFLOW__CELERY__BROKER_URL": f"{REDIS_URL}/{db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata.replace("+psycopg2", ""),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(parallelism),
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        })
    return env


# -- the deployment ------------------------------------------------------------------------------

@dataclass
class Deployment:
    """The running components of one local Airflow deployment."""

    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return self.env["AIRFLOW__API__BASE_URL"]

    @property
    def executor(self) -> str:
        return self.env["AIRFLOW__CORE__EXECUTOR"]

    @property
    def queue(self) -> str | None:
        return self.env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE")

    def log(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    def log_tail(self, component: str, chars: int = 3000) -> str:
        path = self.log(component)
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def start_component(self, name: str, *args: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log(name).open("ab") as handle:
            # a session of its own: stop() signals the whole group (gunicorn/uvicorn workers,
            # LocalExecutor workers, task supervisors, Celery pool processes)
            self.processes[name] = subprocess.Popen(
                [str(Path(sys.executable).parent / "airflow"), *args], env=self.env, cwd=localrun.REPO_ROOT,
                stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)

    def health(self) -> dict[str, Any]:
        import requests

        response = requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=5)
        response.raise_for_status()
        return dict(response.json())

    def wait_healthy(self, timeout: float = 180.0) -> None:
        """Until the api-server answers and says the metadata DB, scheduler and dag-processor are healthy,
        and (Celery) the worker has connected to its broker."""
        deadline = time.monotonic() + timeout
        wanted = ("metadatabase", "scheduler", "dag_processor")
        last: Any = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                last = self.health()
                if all((last.get(part) or {}).get("status") == "healthy" for part in wanted) and self._worker_ready():
                    return
            except Exception as exc:
                last = repr(exc)
            time.sleep(1)
        raise TimeoutError(f"Airflow components not healthy after {timeout:.0f}s (last answer: {last}); "
                           f"logs in {self.log_dir}")

    def _worker_ready(self) -> bool:
        if "celery-worker" not in self.processes:
            return True
        return " ready." in self.log_tail("celery-worker", 200_000)

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with code {process.returncode}; "
                                   f"{self.log(name)}:\n{self.log_tail(name)}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every component's process group, newest first; SIGKILL what is left after `timeout`."""
        for process in reversed(list(self.processes.values())):
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(process, signal.SIGKILL)  # stragglers in the group (task processes)
            if process.poll() is None:
                process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


@contextmanager
def running(env: dict[str, str], log_dir: Path, *, timeout: float = 180.0) -> Iterator[Deployment]:
    """Migrate the metadata DB, create the pool, start the components and wait until they are healthy;
    stop them on the way out, whatever happened."""
    localrun.prepare_airflow(env)
    deployment = Deployment(env=env, log_dir=log_dir)
    try:
        port = env["AIRFLOW__API__PORT"]
        deployment.start_component("api-server", "api-server", "--host", "127.0.0.1", "--port", port,
                                   "--workers", "1")
        deployment.start_component("dag-processor", "dag-processor")
        deployment.start_component("scheduler", "scheduler")
        if env["AIRFLOW__CORE__EXECUTOR"] == CELERY:
            deployment.start_component(
                "celery-worker", "celery", "worker", "--queues", env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"],
                "--concurrency", env["AIRFLOW__CELERY__WORKER_CONCURRENCY"],
                "--celery-hostname", f"{env['AIRFLOW__OPERATORS__DEFAULT_QUEUE']}@%h",
                "--without-gossip", "--without-mingle")
        deployment.wait_healthy(timeout)
        yield deployment
    finally:
        deployment.stop()


# -- the metadata DB -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    run_id: str
    run_type: str
    state: str
    ds: str  # data_interval_start as a UTC date
    backfill_id: int | None
    conf: dict[str, Any]
    start_date: datetime | None
    end_date: datetime | None


@dataclass(frozen=True)
class TaskRun:
    run_id: str
    task_id: str
    state: str
    pool: str
    queue: str
    hostname: str
    start_date: datetime | None
    end_date: datetime | None


def _engine(env: dict[str, str]) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], poolclass=NullPool)


def _query(env: dict[str, str], sql: str, **params: Any) -> list[Any]:
    from sqlalchemy import text

    engine = _engine(env)
    try:
        with engine.connect() as con:
            return list(con.execute(text(sql), params).fetchall())
    finally:
        engine.dispose()


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands back text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _conf(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode()
    try:
        return dict(json.loads(value))
    except (TypeError, ValueError):
        return {}


def runs(env: dict[str, str], *, backfill_id: int | None = None,
         dag_id: str = localrun.DAG_ID) -> list[Run]:
    """The DAG's runs (of one backfill when given), oldest data interval first."""
    sql = ("select run_id, run_type, state, data_interval_start, backfill_id, conf, start_date, end_date "
           "from dag_run where dag_id = :dag_id")
    params: dict[str, Any] = {"dag_id": dag_id}
    if backfill_id is not None:
        sql += " and backfill_id = :backfill_id"
        params["backfill_id"] = backfill_id
    rows = _query(env, sql + " order by data_interval_start, id", **params)
    return [Run(run_id=r[0], run_type=str(r[1]), state=str(r[2] or "none"),
                ds=_utc(r[3]).date().isoformat() if r[3] is not None else "",
                backfill_id=r[4], conf=_conf(r[5]), start_date=_utc(r[6]), end_date=_utc(r[7])) for r in rows]


def task_runs(env: dict[str, str], run_ids: list[str] | None = None,
              dag_id: str = localrun.DAG_ID) -> list[TaskRun]:
    """Task instances of the DAG (of the given runs), in the order they started."""
    rows = _query(env, "select run_id, task_id, state, pool, queue, hostname, start_date, end_date "
                       "from task_instance where dag_id = :dag_id order by start_date", dag_id=dag_id)
    wanted = set(run_ids) if run_ids is not None else None
    return [TaskRun(run_id=r[0], task_id=r[1], state=str(r[2] or "none"), pool=r[3] or "", queue=r[4] or "",
                    hostname=r[5] or "", start_date=_utc(r[6]), end_date=_utc(r[7]))
            for r in rows if wanted is None or r[0] in wanted]


def overlaps(tasks: list[TaskRun], pool: str = localrun.WAREHOUSE_POOL) -> list[tuple[TaskRun, TaskRun]]:
    """Pairs of task instances of `pool` whose run times overlapped (none when the pool serialises them)."""
    timed = sorted((t for t in tasks if t.pool == pool and t.start_date and t.end_date),
                   key=lambda t: t.start_date)  # type: ignore[arg-type,return-value]
    return [(a, b) for i, a in enumerate(timed) for b in timed[i + 1:]
            if b.start_date < a.end_date]  # type: ignore[operator]


def wait_for_dag(env: dict[str, str], timeout: float = 120.0, dag_id: str = localrun.DAG_ID) -> None:
    """Until the dag-processor has parsed and serialized the DAG (backfills and triggers need it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _query(env, "select 1 from serialized_dag where dag_id = :dag_id", dag_id=dag_id):
            return
        time.sleep(1)
    errors = _query(env, "select filename, stacktrace from import_error")
    raise TimeoutError(f"{dag_id} was not parsed within {timeout:.0f}s; import errors: {errors or 'none'}")


def unpause(env: dict[str, str], dag_id: str = localrun.DAG_ID) -> None:
    localrun.airflow(env, "dags", "unpause", dag_id)


def create_backfill(env: dict[str, str], from_date: str, to_date: str, *, max_active_runs: int = 1,
                    conf: dict[str, Any] | None = None, reprocess: str | None = None,
                    dag_id: str = localrun.DAG_ID) -> int:
    """`airflow backfill create` for the runs whose data intervals start on from_date .. to_date
    (inclusive; the DAG's logical date is its interval's start); returns the backfill's id.

    `reprocess` (none, completed, failed) says what happens to a date that already has a run; by
    default Airflow leaves it alone."""
    args = ["backfill", "create", "--dag-id", dag_id, "--from-date", from_date, "--to-date", to_date,
            "--max-active-runs", str(max_active_runs)]
    if reprocess:
        args += ["--reprocess-behavior", reprocess]
    if conf:
        args += ["--dag-run-conf", json.dumps(conf)]
    localrun.airflow(env, *args)
    row = _query(env, "select max(id) from backfill where dag_id = :dag_id", dag_id=dag_id)
    if not row or row[0][0] is None:
        raise RuntimeError(f"airflow backfill create for {dag_id} {from_date}..{to_date} created no backfill")
    return int(row[0][0])


def active_backfills(env: dict[str, str], dag_id: str = localrun.DAG_ID) -> list[int]:
    """Ids of the DAG's backfills the scheduler has not marked complete (Airflow allows one at a time)."""
    return [int(r[0]) for r in _query(env, "select id from backfill where dag_id = :dag_id and completed_at is null",
                                      dag_id=dag_id)]


def wait_backfills_complete(env: dict[str, str], timeout: float = 120.0, dag_id: str = localrun.DAG_ID) -> None:
    """Until the scheduler has marked every backfill of the DAG complete (it checks every 30 s once the
    runs have finished; a backfill left open blocks the next `airflow backfill create`)."""
    deadline = time.monotonic() + timeout
    while active_backfills(env, dag_id) and time.monotonic() < deadline:
        time.sleep(2)
    if still := active_backfills(env, dag_id):
        raise TimeoutError(f"backfills {still} of {dag_id} are still active after {timeout:.0f}s; "
                           "`airflow backfill cancel --id ID` ends one")


def backfill_plan(env: dict[str, str], backfill_id: int) -> tuple[int, list[tuple[str, str]]]:
    """(runs the backfill created, [(logical date, reason)] of the dates it skipped)."""
    rows = _query(env, "select logical_date, dag_run_id, exception_reason from backfill_dag_run "
                       "where backfill_id = :backfill_id order by sort_ordinal", backfill_id=backfill_id)
    created = sum(1 for r in rows if r[1] is not None)
    skipped = [(_utc(r[0]).date().isoformat() if r[0] is not None else "?", str(r[2])) for r in rows if r[1] is None]
    return created, skipped


def api_token(env: dict[str, str]) -> str:
    """A token for the REST API (the simple auth manager hands one out when everyone is admin)."""
    import requests

    response = requests.get(f"{env['AIRFLOW__API__BASE_URL']}/auth/token", timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


def trigger(env: dict[str, str], ds: str, conf: dict[str, Any] | None = None,
            dag_id: str = localrun.DAG_ID) -> str:
    """Trigger the run whose data interval is [ds, ds + 1 day) through the REST API; returns its run id.

    `airflow dags trigger` infers a manual run's interval from the wall clock (the last complete
    interval before now), so the REST API, which takes the interval, is used instead."""
    import requests

    start = datetime.combine(date.fromisoformat(ds), datetime.min.time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    run_id = f"manual__{ds}__{secrets.token_hex(3)}"
    body = {"dag_run_id": run_id, "logical_date": start.isoformat(), "data_interval_start": start.isoformat(),
            "data_interval_end": end.isoformat(), "run_after": end.isoformat(), "conf": conf or {}}
    response = requests.post(f"{env['AIRFLOW__API__BASE_URL']}/api/v2/dags/{dag_id}/dagRuns", json=body,
                             headers={"Authorization": f"Bearer {api_token(env)}"}, timeout=60)
    if response.status_code >= 300:
        raise RuntimeError(f"triggering {dag_id} for ds={ds} failed: HTTP {response.status_code} {response.text}")
    return run_id


def wait_for_runs(env: dict[str, str], *, backfill_id: int | None = None, run_ids: list[str] | None = None,
                  expected: int | None = None, timeout: float = 1800.0,
                  on_progress: Callable[[list[Run]], None] | None = None,
                  deployment: Deployment | None = None) -> list[Run]:
    """Poll the metadata DB until every run (of the backfill, or with these ids) has finished.

    `expected` runs must exist first (a backfill creates its runs at once; this guards against
    reading too early). `on_progress` sees the runs at every poll. With `deployment`, a component
    that dies fails the wait at once instead of at the timeout."""
    deadline = time.monotonic() + timeout
    found: list[Run] = []
    while time.monotonic() < deadline:
        if deployment is not None:
            deployment._check_alive()
        found = runs(env, backfill_id=backfill_id)
        if run_ids is not None:
            found = [r for r in found if r.run_id in set(run_ids)]
        if on_progress:
            on_progress(found)
        if found and (expected is None or len(found) >= expected) and all(r.state in FINISHED for r in found):
            return found
        time.sleep(2)
    states = ", ".join(f"{r.ds}={r.state}" for r in found) or "no runs"
    raise TimeoutError(f"runs not finished after {timeout:.0f}s: {states}")
