"""Run-date semantics (see docs: README "Run dates").

A run's date `ds` is the start of its data interval, as a date in UTC. Every task reads and writes
the slice named by its data interval, never `now()`, so re-running a date gives the same result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class RunWindow:
    """The slice of time one DAG run owns, and how it was started."""

    start: datetime
    end: datetime
    run_id: str = "manual"
    run_type: str = "manual"
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("RunWindow needs timezone-aware start and end (UTC)")
        if self.end <= self.start:
            raise ValueError(f"data interval is empty: start {self.start} >= end {self.end}")

    @property
    def ds(self) -> date:
        return self.start.astimezone(UTC).date()

    @property
    def ds_str(self) -> str:
        return self.ds.isoformat()

    @property
    def is_backfill(self) -> bool:
        return self.run_type == "backfill"

    @classmethod
    def for_day(cls, ds: date | str, run_id: str | None = None, run_type: str = "manual",
                params: Mapping[str, Any] | None = None) -> RunWindow:
        """The 24-hour UTC window of one calendar day (tests and CLI use this)."""
        day = date.fromisoformat(ds) if isinstance(ds, str) else ds
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return cls(start=start, end=start + timedelta(days=1), run_id=run_id or f"manual__{day}",
                   run_type=run_type, params=dict(params or {}))


def window_from_context(context: Mapping[str, Any]) -> RunWindow:
    """Build the RunWindow from an Airflow task context."""
    start = context["data_interval_start"]
    end = context["data_interval_end"]
    dag_run = context.get("dag_run")
    run_type = getattr(getattr(dag_run, "run_type", None), "value", None) or str(
        getattr(dag_run, "run_type", "manual"))
    return RunWindow(
        start=datetime.fromtimestamp(start.timestamp(), tz=UTC),
        end=datetime.fromtimestamp(end.timestamp(), tz=UTC),
        run_id=str(context.get("run_id") or "manual"),
        run_type=run_type.lower(),
        params=dict(context.get("params") or {}),
    )
