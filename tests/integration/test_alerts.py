"""Alerts and Assets of crm360_nightly, end to end: the real DAG under `airflow dags test`.

- A failed stage: the Salesforce connection points at a closed port, so extract_salesforce fails;
  an SMTP sink (aiosmtpd on 127.0.0.1) configured as the Airflow connection crm360_alerts_smtp
  receives one mail naming the stage, the date, the run and the first error. Without the
  connection the task log carries the "no alert connection configured" line instead.
- A stale source: a generated company whose Shopify export stops after the first day runs three
  nightly dates against the sandbox org; day two (24 hours without Shopify) is within the 36-hour
  limit, day three (48 hours) mails a freshness alert and records it in crm360_ops.source_freshness.
  Those runs also emit the Assets of the customer 360, segments and personalization, which queue
  the example consumer DAG crm360_marts_ready.
"""

from __future__ import annotations

import email
import json
import re
import shutil
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from email.message import Message
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sandbox import localrun
from tests.conftest import require

ALERT_TO = "data-team@crm360.test"
ALERT_FROM = "crm360-alerts@crm360.test"
NO_CONNECTION = "crm360 alert: no alert connection configured"
DAYS = ("2026-11-18", "2026-11-19", "2026-11-20")


def _free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MailSink:
    """An SMTP server on 127.0.0.1 that keeps every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
                with sink._lock:
                    sink.messages.append(email.message_from_bytes(envelope.content))
                    sink.recipients.append(list(envelope.rcpt_tos))
                return "250 OK"

        self.port = _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> MailSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def connection(self) -> str:
        """The Airflow connection (JSON) for this sink: plain SMTP, no TLS, no login."""
        return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": self.port,
                           "extra": {"disable_tls": True, "disable_ssl": True, "from_email": ALERT_FROM,
                                     "timeout": 10, "retry_limit": 1}})

    def take(self) -> list[tuple[str, str]]:
        """(subject, text of the body) of the messages received since the last call."""
        with self._lock:
            found, self.messages = self.messages, []
        return [(str(m["Subject"]), _body(m)) for m in found]


def _body(message: Message) -> str:
    parts = [p.get_payload(decode=True).decode(p.get_content_charset() or "utf-8")
             for p in message.walk() if p.get_content_maintype() == "text"]
    return re.sub(r"<[^>]+>", "\n", "\n".join(parts)).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _airflow_cli() -> None:
    require(shutil.which("airflow", path=str(Path(localrun.sys.executable).parent)) is not None,
            "the airflow CLI of this environment (make venv installs it)")


def _metadata(env: dict[str, str]) -> sqlite3.Connection:
    return sqlite3.connect(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))


# --- a failed stage ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def failing_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Airflow state for runs whose Salesforce connection points at a port nobody listens on."""
    import certifi

    _airflow_cli()
    root = tmp_path_factory.mktemp("alerts")
    paths = localrun.LocalPaths.under(root)
    server = {"domain": f"127.0.0.1:{_free_port()}/login", "ca": certifi.where()}
    env = localrun.airflow_env(paths, server)
    env.update({"CRM360_SF_RETRIES": "1", "CRM360_SF_RETRY_WAIT_SECONDS": "0", "CRM360_SF_TIMEOUT_SECONDS": "5"})
    localrun.prepare_airflow(env)
    return env


def test_a_failed_stage_mails_stage_date_run_and_first_error(failing_env: dict[str, str], tmp_path: Path):
    with MailSink() as sink:
        env = {**failing_env, "AIRFLOW_CONN_CRM360_ALERTS_SMTP": sink.connection(), "CRM360_ALERT_TO": ALERT_TO}
        log_file = tmp_path / "run.log"
        state = localrun.run_dag(env, "2026-11-20", log_file=log_file)
        mails = sink.take()
    tasks = localrun.task_states(env, "2026-11-20")
    assert state == "failed"
    assert tasks["extract_salesforce"] == "failed" and tasks["run_summary"] == "failed", tasks
    # one mail: the failed stage; run_summary's failure (because a stage failed) sends nothing more
    assert len(mails) == 1, (mails, log_file.read_text()[-3000:])
    subject, body = mails[0]
    assert sink.recipients == [[ALERT_TO]]
    assert subject == "[crm360] crm360_nightly: extract_salesforce failed for ds=2026-11-20"
    assert "Stage extract_salesforce of crm360_nightly failed for ds=2026-11-20." in body
    run_id = localrun._latest_run(env, "2026-11-20")[0]
    assert f"DAG run: {run_id}" in body
    first_error = re.search(r"First error: (.+)", body)
    assert first_error, body
    assert "ds=2026-11-20" in first_error.group(1) or "Connection" in first_error.group(1), first_error.group(1)
    assert "Traceback" not in body
    assert "task_id=extract_salesforce" in body and "attempt=1.log" in body  # where the log is
    assert set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", subject + body)) == set()  # no address at all


def test_without_a_connection_the_task_log_says_so(failing_env: dict[str, str], tmp_path: Path):
    env = {k: v for k, v in failing_env.items() if k != "AIRFLOW_CONN_CRM360_ALERTS_SMTP"}
    log_file = tmp_path / "run.log"
    assert localrun.run_dag(env, "2026-11-19", log_file=log_file) == "failed"
    run_id = localrun._latest_run(env, "2026-11-19")[0]
    task_log = Path(env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]) / "dag_id=crm360_nightly" / f"run_id={run_id}" / \
        "task_id=extract_salesforce" / "attempt=1.log"
    logged = (task_log.read_text() if task_log.exists() else "") + log_file.read_text()
    line = next((line for line in logged.splitlines() if NO_CONNECTION in line), None)
    assert line is not None, logged[-3000:]
    assert "crm360_alerts_smtp" in line and "extract_salesforce failed for ds=2026-11-19" in line


# --- a stale source, and the Assets of a successful run ---------------------------------------------

@pytest.fixture(scope="module")
def stale_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Three nightly runs of a small company whose Shopify export arrives on the first day only."""
    _airflow_cli()
    from sandbox.generator import generate, load
    from sandbox.salesforce.process import start_sandbox

    root = tmp_path_factory.mktemp("freshness")
    paths = localrun.LocalPaths.under(root)
    generate(customers=150, days=len(DAYS), end_date=DAYS[-1], seed=5, out=paths.company_dir, history_days=30)
    for ds in DAYS[1:]:
        shutil.rmtree(paths.company_dir / "inbox" / "shopify" / ds, ignore_errors=True)
    with start_sandbox(paths.sandbox_dir) as _server, MailSink() as sink:
        load(paths.company_dir, paths.sandbox_dir / "server.json")
        server = json.loads((paths.sandbox_dir / "server.json").read_text())
        env = localrun.airflow_env(paths, server)
        env.update({"AIRFLOW_CONN_CRM360_ALERTS_SMTP": sink.connection(), "CRM360_ALERT_TO": ALERT_TO,
                    "CRM360_FRESHNESS_MAX_HOURS": "36"})
        localrun.prepare_airflow(env)
        # the consumer DAG must be known and unpaused for an asset event to queue a run of it
        localrun.airflow(env, "dags", "reserialize")
        localrun.airflow(env, "dags", "unpause", "crm360_marts_ready")
        result: dict[str, Any] = {"env": env, "paths": paths, "states": {}, "tasks": {}, "mails": {}, "logs": {}}
        for ds in DAYS:
            localrun.set_sandbox_clock(server, ds)
            log_file = root / "logs" / f"{ds}.log"
            result["logs"][ds] = log_file
            result["states"][ds] = localrun.run_dag(env, ds, log_file=log_file)
            result["tasks"][ds] = localrun.task_states(env, ds)
            result["mails"][ds] = sink.take()
        result["emails"] = _customer_emails(paths.company_dir)
        yield result


def _customer_emails(company: Path) -> set[str]:
    found: set[str] = set()
    for path in (company / "crm" / "Contact.ndjson", company / "crm" / "Lead.ndjson"):
        found.update(e.lower() for e in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", path.read_text()))
    return found


def _freshness(paths: localrun.LocalPaths, ds: str) -> dict[str, tuple]:
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return {row[0]: row[1:] for row in con.execute(
            "select source, cast(last_delivery_ds as varchar), hours_since, is_stale from crm360_ops.source_freshness "
            "where ds = ?", [ds]).fetchall()}
    finally:
        con.close()


def test_runs_succeed_although_a_source_is_stale(stale_shop: dict[str, Any]):
    for ds in DAYS:
        assert stale_shop["states"][ds] == "success", (ds, stale_shop["tasks"][ds],
                                                        stale_shop["logs"][ds].read_text()[-3000:])


def test_a_source_silent_within_the_limit_raises_no_alert(stale_shop: dict[str, Any]):
    assert _freshness(stale_shop["paths"], DAYS[1])["shopify"] == (DAYS[0], 24.0, False)
    assert not [s for s, body in stale_shop["mails"][DAYS[1]] if "shopify" in s + body]


def test_a_source_silent_beyond_the_limit_is_mailed_and_recorded(stale_shop: dict[str, Any]):
    recorded = _freshness(stale_shop["paths"], DAYS[2])
    assert recorded["shopify"] == (DAYS[0], 48.0, True)
    assert recorded["sendgrid"][1:] == (0.0, False) and recorded["segment"][1:] == (0.0, False)
    mails = [(s, body) for s, body in stale_shop["mails"][DAYS[2]] if "stale sources" in s]
    assert len(mails) == 1, stale_shop["mails"][DAYS[2]]
    subject, body = mails[0]
    assert subject.startswith(f"[crm360] stale sources for ds={DAYS[2]}:") and "shopify" in subject
    assert f"shopify: last delivered rows on {DAYS[0]}, 48 hours since last delivery" in body
    everything = " ".join(s + b for day in DAYS for s, b in stale_shop["mails"][day]).lower()
    assert stale_shop["emails"], "the generated CRM holds e-mail addresses to look for"
    assert not {e for e in stale_shop["emails"] if e in everything}


def test_dbt_build_emits_the_mart_assets_and_queues_the_consumer(stale_shop: dict[str, Any]):
    env = stale_shop["env"]
    with closing(_metadata(env)) as con:
        events = con.execute(
            "select a.name, e.source_task_id, e.source_run_id, e.extra from asset_event e "
            "join asset a on a.id = e.asset_id order by e.id").fetchall()
        queued = con.execute(
            "select a.name, q.target_dag_id from asset_dag_run_queue q join asset a on a.id = q.asset_id").fetchall()
    names = {"crm360.marts.customer_360", "crm360.marts.customer_segments", "crm360.marts.customer_personalization"}
    for ds in DAYS:
        run_id = localrun._latest_run(env, ds)[0]
        mine = {name for name, task_id, source_run, extra in events
                if source_run == run_id and task_id == "dbt_build" and json.loads(extra).get("ds") == ds}
        assert mine == names, (ds, events)
    assert {name for name, dag_id in queued if dag_id == "crm360_marts_ready"} == names, queued
