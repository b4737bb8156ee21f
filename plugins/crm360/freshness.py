"""Source freshness: has each source sent anything new lately?

Checked at the end of `land_channels` (after Salesforce was extracted and the day's channel files
landed), per channel source and for Salesforce, relative to the end of the run's data interval —
never the wall clock, so a backfill of an old date gives the same answer every time:

- a channel source last delivered on the newest arrival day up to `ds` whose files landed at least
  one row (`crm360_ops.channel_files`); its delivery time is the end of that arrival day;
- Salesforce last delivered at the newest `SystemModstamp` landed up to `ds`
  (`crm360_ops.sf_extracts`, capped at the interval's end).

A source is stale when that is more than `CRM360_FRESHNESS_MAX_HOURS` (default 36;
`CRM360_FRESHNESS_MAX_HOURS_<SOURCE>` per source) before the interval's end, or when nothing is on
record up to `ds`. The result is stored in `crm360_ops.source_freshness` (one row per run and
source) and in land_channels' stage metrics, logged as a warning and sent as one alert
(`crm360.alerts`). It does not fail the run unless `CRM360_FRESHNESS_FAIL=true`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm360.rundate import RunWindow
from crm360.warehouse import OPS_SCHEMA

log = logging.getLogger(__name__)

DEFAULT_MAX_HOURS = 36.0
SALESFORCE = "salesforce"

# Kept beside the check that writes it (crm360.warehouse holds the tables the other stages share).
FRESHNESS_DDL = f"""
create table if not exists {OPS_SCHEMA}.source_freshness (
    run_id varchar not null,
    ds date not null,
    source varchar not null,          -- sendgrid | segment | shopify | salesforce
    last_delivery_ds date,            -- the newest run date up to ds with new rows from the source
    last_delivered_at timestamptz,    -- channels: end of that arrival day; Salesforce: newest SystemModstamp
    hours_since double,               -- from last_delivered_at to the end of ds's data interval (null: none)
    max_hours double not null,
    is_stale boolean not null,
    checked_at timestamptz not null,
    primary key (run_id, source)
);
"""


class SourcesStale(RuntimeError):
    """A source sent nothing new for longer than allowed, and CRM360_FRESHNESS_FAIL is true."""


@dataclass(frozen=True)
class FreshnessConfig:
    max_hours: float = DEFAULT_MAX_HOURS
    per_source: tuple[tuple[str, float], ...] = ()
    fail: bool = False

    def limit(self, source: str) -> float:
        return dict(self.per_source).get(source, self.max_hours)

    @classmethod
    def from_env(cls, sources: Sequence[str] = ()) -> FreshnessConfig:
        def hours(name: str, default: float | None) -> float | None:
            raw = os.environ.get(name)
            if raw in (None, ""):
                return default
            try:
                value = float(raw)
            except ValueError as exc:
                raise ValueError(f"environment variable {name}={raw!r} is not a number of hours") from exc
            if value <= 0:
                raise ValueError(f"environment variable {name}={raw!r} must be a positive number of hours")
            return value

        base = hours("CRM360_FRESHNESS_MAX_HOURS", DEFAULT_MAX_HOURS) or DEFAULT_MAX_HOURS
        per_source = tuple((s, v) for s in sources
                           if (v := hours(f"CRM360_FRESHNESS_MAX_HOURS_{s.upper()}", None)) is not None)
        fail = os.environ.get("CRM360_FRESHNESS_FAIL", "false").strip().lower() in ("1", "true", "yes")
        return cls(max_hours=base, per_source=per_source, fail=fail)


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    last_delivery_ds: str | None
    last_delivered_at: datetime | None
    hours_since: float | None
    max_hours: float
    is_stale: bool


def assess(source: str, last_delivery_ds: str | None, last_delivered_epoch: float | None, interval_end: datetime,
           max_hours: float) -> SourceFreshness:
    """Freshness of one source from its last delivery (pure: no clock, no database)."""
    if last_delivered_epoch is None:
        return SourceFreshness(source, last_delivery_ds, None, None, max_hours, is_stale=True)
    delivered = min(datetime.fromtimestamp(last_delivered_epoch, tz=UTC), interval_end.astimezone(UTC))
    hours = round((interval_end - delivered).total_seconds() / 3600, 1)
    return SourceFreshness(source, last_delivery_ds, delivered, hours, max_hours, is_stale=hours > max_hours)


def check(con: Any, window: RunWindow, channel_sources: Sequence[str], config: FreshnessConfig,
          salesforce: bool = True) -> list[SourceFreshness]:
    """Freshness of each channel source (and Salesforce) as of the end of `window`."""
    results = []
    for source in channel_sources:
        row = con.execute(
            f"select max(ds)::varchar, epoch(max(ds) + interval 1 day) from {OPS_SCHEMA}.channel_files "
            "where source = ? and ds <= ?::date and records_landed > 0", [source, window.ds_str]).fetchone()
        results.append(assess(source, row[0], row[1], window.end, config.limit(source)))
    if salesforce:
        row = con.execute(
            f"select max(ds)::varchar, epoch(max(least(newest_systemmodstamp, ?::timestamptz))) "
            f"from {OPS_SCHEMA}.sf_extracts where ds <= ?::date and rows_landed > 0 "
            "and newest_systemmodstamp is not null", [window.end, window.ds_str]).fetchone()
        results.append(assess(SALESFORCE, row[0], row[1], window.end, config.limit(SALESFORCE)))
    return results


def record(con: Any, window: RunWindow, results: Sequence[SourceFreshness]) -> None:
    """Store this run's freshness (re-running the run replaces it)."""
    con.execute(FRESHNESS_DDL)
    con.execute(f"delete from {OPS_SCHEMA}.source_freshness where run_id = ?", [window.run_id])
    for r in results:
        con.execute(f"insert into {OPS_SCHEMA}.source_freshness values (?, ?, ?, ?, ?, ?, ?, ?, now())",
                    [window.run_id, window.ds_str, r.source, r.last_delivery_ds, r.last_delivered_at, r.hours_since,
                     r.max_hours, r.is_stale])


def metrics(results: Sequence[SourceFreshness]) -> dict[str, float]:
    """Stage metrics: hours since each source's last delivery (-1: none on record) and the stale count."""
    found: dict[str, float] = {f"freshness.{r.source}.hours_since": -1.0 if r.hours_since is None else r.hours_since
                               for r in results}
    found["freshness.stale_sources"] = float(sum(r.is_stale for r in results))
    return found


def check_and_alert(con: Any, window: RunWindow, channel_sources: Sequence[str],
                    config: FreshnessConfig | None = None) -> list[SourceFreshness]:
    """Check, record, log and alert (once, for all stale sources). With CRM360_FRESHNESS_FAIL the
    alert is left to the failing task's callback: call `require_fresh` after the stage's work."""
    from crm360 import alerts

    config = config or FreshnessConfig.from_env([*channel_sources, SALESFORCE])
    results = check(con, window, channel_sources, config)
    record(con, window, results)
    for r in results:
        if r.is_stale:
            log.warning("freshness %-10s STALE: %s (limit %g hours before %s)", r.source,
                        "nothing delivered on record" if r.hours_since is None
                        else f"{r.hours_since:g} hours since last delivery on {r.last_delivery_ds}",
                        r.max_hours, window.end.isoformat())
        else:
            log.info("freshness %-10s ok: %g hours since last delivery on %s", r.source, r.hours_since,
                     r.last_delivery_ds)
    alert = stale_alert(window, results)
    if alert is not None and not config.fail:
        alerts.send(alert)
    return results


def stale_alert(window: RunWindow, results: Sequence[SourceFreshness]) -> Any | None:
    """The alert for the stale sources among `results` (None when every source is fresh)."""
    from crm360 import alerts

    stale = [r for r in results if r.is_stale]
    if not stale:
        return None
    return alerts.source_stale_alert(ds=window.ds_str, run_id=window.run_id, stale=stale,
                                     max_hours=max(r.max_hours for r in stale), interval_end=window.end.isoformat())


def require_fresh(window: RunWindow, results: Sequence[SourceFreshness], config: FreshnessConfig | None = None) -> None:
    """Raise SourcesStale when a source is stale and CRM360_FRESHNESS_FAIL is true."""
    config = config or FreshnessConfig.from_env([r.source for r in results])
    alert = stale_alert(window, results)
    if alert is not None and config.fail:
        # the failing task's on_failure_callback mails this message as the first error
        raise SourcesStale(" ".join(alert.lines[:1] + alert.lines[2:-1]))
