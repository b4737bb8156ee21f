from datetime import UTC, datetime

import pytest

from crm360.rundate import RunWindow, window_from_context
from crm360.tasks import push_decision


class _Run:
    def __init__(self, run_type: str) -> None:
        self.run_type = run_type


def test_ds_is_the_utc_date_of_the_interval_start():
    import pendulum

    start = pendulum.datetime(2026, 11, 20, 0, 0, tz="Europe/Berlin")  # 2026-11-19T23:00Z
    context = {"data_interval_start": start, "data_interval_end": start.add(days=1),
               "run_id": "scheduled__x", "dag_run": _Run("scheduled"), "params": {}}
    window = window_from_context(context)
    assert window.ds_str == "2026-11-19"
    assert window.end - window.start == (start.add(days=1) - start)
    assert window.run_type == "scheduled"


def test_empty_interval_is_rejected():
    moment = datetime(2026, 11, 20, tzinfo=UTC)
    with pytest.raises(ValueError, match="empty"):
        RunWindow(start=moment, end=moment)


@pytest.mark.parametrize(
    ("run_type", "params", "newest", "allowed"),
    [
        ("scheduled", {}, None, True),
        ("backfill", {"push": True}, None, False),
        ("manual", {}, None, False),
        ("manual", {"push": True}, None, True),
        ("manual", {"push": True, "backfill": True}, None, False),
        ("scheduled", {"dry_run": True}, None, False),
        ("scheduled", {}, "2026-11-21", False),
    ],
)
def test_push_decision_follows_run_date_semantics(run_type, params, newest, allowed):
    window = RunWindow.for_day("2026-11-20", run_type=run_type, params=params)
    ok, reason = push_decision(window, newest)
    assert ok is allowed
    assert reason
