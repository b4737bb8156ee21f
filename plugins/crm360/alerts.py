"""Alerts: a failed stage or a stale source, told to a person through Airflow's notifiers.

Where alerts go is configured by an Airflow connection, never by the repo:

- `CRM360_ALERT_CONN_ID` (default `crm360_alerts_smtp`) names it. A connection of type `smtp`
  sends mail with the SMTP provider's `SmtpNotifier` to `CRM360_ALERT_TO` (comma-separated; else
  the connection extra `to`), from `CRM360_ALERT_FROM` (else the connection extra `from_email`,
  else `crm360@localhost`). A connection of type `slack` or `slackwebhook` posts through the Slack
  provider's `SlackWebhookNotifier` when that provider is installed (it is not in the lock: the
  alert is then logged, saying so).
- No such connection: the alert is logged as a warning starting `crm360 alert: no alert connection
  configured`, so it is still in the task log.

An alert names the stage (task id), the run date, the DAG run, the first error line and where the
log is. It carries no personal data: e-mail addresses and phone numbers in an error text are
replaced by `<email>` / `<phone>` before anything is sent or logged. Sending never raises: a
broken mail server must not hide the failure it reports.
"""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "crm360_alerts_smtp"
DEFAULT_FROM = "crm360@localhost"
NO_CONNECTION = "crm360 alert: no alert connection configured"
MAX_ERROR_CHARS = 500

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# +44 20 7946 0958, (415) 555-0100, 415.555.0100, 1-415-555-0100, 020 7946 0958, 0151/2345678:
# a run of digits and separators holding at least 8 digits that is not a date, a time or an address
_PHONE_CANDIDATE = re.compile(r"(?<![\w.:/=-])[+(]?\d[\d ().\-/]{5,}\d(?![\w:])")
_NOT_PHONE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,3}(?:\.\d{1,3}){3}")


@dataclass(frozen=True)
class AlertConfig:
    """Where alerts go (read with `AlertConfig.from_env()`)."""

    conn_id: str = DEFAULT_CONN_ID
    to: tuple[str, ...] = ()
    from_email: str | None = None

    @classmethod
    def from_env(cls) -> AlertConfig:
        to = os.environ.get("CRM360_ALERT_TO", "")
        return cls(conn_id=os.environ.get("CRM360_ALERT_CONN_ID", DEFAULT_CONN_ID) or DEFAULT_CONN_ID,
                   to=tuple(a.strip() for a in re.split(r"[,;]", to) if a.strip()),
                   from_email=os.environ.get("CRM360_ALERT_FROM") or None)


@dataclass(frozen=True)
class Alert:
    """One message: a subject line and body lines (plain text; rendered to HTML for mail)."""

    kind: str  # stage_failed | source_stale
    subject: str
    lines: tuple[str, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def html(self) -> str:
        body = "".join(f"<p>{html.escape(line)}</p>" for line in self.lines)
        return f"<html><body><h3>{html.escape(self.subject)}</h3>{body}</body></html>"


def redact(text: str) -> str:
    """The text with e-mail addresses and phone numbers replaced (`<email>`, `<phone>`)."""
    text = _EMAIL.sub("<email>", text)

    def phone(match: re.Match[str]) -> str:
        found = match.group()
        if sum(c.isdigit() for c in found) < 8 or _NOT_PHONE.fullmatch(found.strip("()")):
            return found
        return "<phone>"

    return _PHONE_CANDIDATE.sub(phone, text)


def first_error_line(error: BaseException | str | None) -> str:
    """`ExceptionType: first line of its message`, redacted and at most MAX_ERROR_CHARS long."""
    if error is None:
        return "(no exception was passed to the callback: see the log)"
    if isinstance(error, BaseException):
        message = str(error).strip()
        first = message.splitlines()[0] if message else ""
        line = f"{type(error).__name__}: {first}" if first else type(error).__name__
    else:
        stripped = str(error).strip()
        line = stripped.splitlines()[0] if stripped else "(empty error)"
    line = redact(line)
    return line if len(line) <= MAX_ERROR_CHARS else line[:MAX_ERROR_CHARS - 1] + "…"


def stage_failed_alert(*, dag_id: str, stage: str, ds: str, run_id: str, error: BaseException | str | None,
                       try_number: int | None = None, log_url: str | None = None,
                       log_path: str | None = None) -> Alert:
    """The alert for a failed task: stage, date, run, first error, where the log is."""
    error_line = first_error_line(error)
    lines = [
        f"Stage {stage} of {dag_id} failed for ds={ds}.",
        f"DAG run: {run_id}" + (f" (try {try_number})" if try_number else ""),
        f"First error: {error_line}",
    ]
    if log_url:
        lines.append(f"Log: {log_url}")
    if log_path:
        lines.append(f"Log file on the worker: {log_path}")
    lines.append("Downstream stages did not run; run_summary wrote the report for this date. Fix the cause "
                 "and clear the failed task (or re-run the date): every stage is idempotent for its ds.")
    return Alert(kind="stage_failed", subject=f"[crm360] {dag_id}: {stage} failed for ds={ds}",
                 lines=tuple(lines),
                 facts={"dag_id": dag_id, "stage": stage, "ds": ds, "run_id": run_id, "error": error_line})


def source_stale_alert(*, ds: str, run_id: str, stale: Sequence[Any], max_hours: float,
                       interval_end: str) -> Alert:
    """The alert for sources that sent nothing new for longer than `max_hours` before `interval_end`.

    `stale` holds `crm360.freshness.SourceFreshness` rows (source, last_delivery_ds, hours_since)."""
    names = ", ".join(s.source for s in stale)
    lines = [f"{len(stale)} source(s) sent nothing new for more than {max_hours:g} hours before the end of "
             f"the data interval of ds={ds} ({interval_end}): {names}.",
             f"DAG run: {run_id}"]
    for s in stale:
        if s.hours_since is None:
            lines.append(f"- {s.source}: no delivery on record up to ds={ds}")
        else:
            lines.append(f"- {s.source}: last delivered rows on {s.last_delivery_ds}, "
                         f"{s.hours_since:g} hours since last delivery")
    lines.append("The run went on with what arrived (recorded in crm360_ops.source_freshness). Check the "
                 "export or the connection of each source; CRM360_FRESHNESS_MAX_HOURS sets the limit.")
    return Alert(kind="source_stale", subject=f"[crm360] stale sources for ds={ds}: {names}", lines=tuple(lines),
                 facts={"ds": ds, "run_id": run_id, "sources": [s.source for s in stale]})


def _connection(conn_id: str) -> Any | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def send(alert: Alert, config: AlertConfig | None = None) -> str:
    """Send `alert` where the alert connection says; returns `email`, `slack` or `log` (what happened).

    Never raises: a failure to deliver is logged with the alert's text."""
    config = config or AlertConfig.from_env()
    try:
        conn = _connection(config.conn_id)
    except Exception:  # a broken secrets backend must not hide the alert
        log.exception("crm360 alert: could not look up connection %s", config.conn_id)
        conn = None
    if conn is None:
        log.warning("%s (no Airflow connection %r; set it, or CRM360_ALERT_CONN_ID, to send alerts): %s\n%s",
                    NO_CONNECTION, config.conn_id, alert.subject, alert.text)
        return "log"
    conn_type = (conn.conn_type or "").lower()
    try:
        if conn_type in ("smtp", "email"):
            return _send_email(alert, config, conn)
        if conn_type in ("slack", "slackwebhook"):
            return _send_slack(alert, config)
        log.warning("crm360 alert: connection %r has type %r, which crm360 cannot send to (smtp, slack, "
                    "slackwebhook): %s\n%s", config.conn_id, conn.conn_type, alert.subject, alert.text)
        return "log"
    except Exception:
        log.exception("crm360 alert: sending through connection %r failed; the alert was: %s\n%s",
                      config.conn_id, alert.subject, alert.text)
        return "log"


def _send_email(alert: Alert, config: AlertConfig, conn: Any) -> str:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    extra = conn.extra_dejson or {}
    to = list(config.to) or [a.strip() for a in re.split(r"[,;]", str(extra.get("to", ""))) if a.strip()]
    if not to:
        log.warning("crm360 alert: connection %r is set but no recipients (CRM360_ALERT_TO, or extra 'to'): "
                    "%s\n%s", config.conn_id, alert.subject, alert.text)
        return "log"
    notifier = SmtpNotifier(to=to, from_email=config.from_email or extra.get("from_email") or DEFAULT_FROM,
                            subject=alert.subject, html_content=alert.html(), smtp_conn_id=config.conn_id)
    # notify(), not notifier(context): the text is final, so nothing in an error message (braces
    # included) is read as a Jinja template.
    notifier.notify({})
    log.info("crm360 alert sent by mail to %d recipient(s) through %s: %s", len(to), config.conn_id,
             alert.subject)
    return "email"


def _send_slack(alert: Alert, config: AlertConfig) -> str:
    try:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
    except ImportError:
        log.warning("crm360 alert: connection %r is a Slack connection but apache-airflow-providers-slack is "
                    "not installed; the alert was: %s\n%s", config.conn_id, alert.subject, alert.text)
        return "log"
    SlackWebhookNotifier(slack_webhook_conn_id=config.conn_id, text=f"*{alert.subject}*\n{alert.text}").notify({})
    log.info("crm360 alert posted to Slack through %s: %s", config.conn_id, alert.subject)
    return "slack"


def _log_path(ti: Any) -> str | None:
    """Where the task's log file is with Airflow's default file layout (None when unknown)."""
    try:
        from airflow.sdk.configuration import conf

        base = conf.get("logging", "base_log_folder", fallback=None)
    except Exception:
        return None
    if not base or not getattr(ti, "run_id", None):
        return None
    map_index = getattr(ti, "map_index", None)
    map_part = f"map_index={map_index}/" if map_index is not None and map_index >= 0 else ""
    return str(Path(base) / f"dag_id={ti.dag_id}" / f"run_id={ti.run_id}" / f"task_id={ti.task_id}" /
               f"{map_part}attempt={ti.try_number}.log")


def on_task_failure(context: Mapping[str, Any]) -> None:
    """`on_failure_callback` of crm360's tasks: alert naming the stage, ds, run and first error.

    The run summary's own `RunFailed` (raised because an earlier stage failed, which was alerted
    already) sends nothing more."""
    from crm360.tasks import RunFailed

    error = context.get("exception")
    ti = context.get("ti") or context.get("task_instance")
    stage = getattr(ti, "task_id", None) or "unknown task"
    if isinstance(error, RunFailed):
        log.info("crm360 alert: %s failed because an earlier stage did (alerted when it failed): %s", stage,
                 first_error_line(error))
        return
    from crm360.rundate import window_from_context

    try:
        ds = window_from_context(context).ds_str
    except Exception:
        ds = str(context.get("ds") or "unknown")
    alert = stage_failed_alert(
        dag_id=getattr(ti, "dag_id", None) or "crm360_nightly", stage=stage, ds=ds,
        run_id=str(context.get("run_id") or getattr(ti, "run_id", "")), error=error,
        try_number=getattr(ti, "try_number", None), log_url=getattr(ti, "log_url", None), log_path=_log_path(ti))
    send(alert)
