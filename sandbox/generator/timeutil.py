"""Time formats of the systems the generator imitates, and local-midnight tables for time zones."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

UTC = dt.UTC
DAY = 86_400


def parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"expected a date like 2026-11-20, got {value!r}") from exc


def day_start(day: dt.date) -> int:
    """Unix seconds of 00:00 UTC on ``day``."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


_DAY_CACHE: dict[int, tuple[dt.date, str]] = {}


def _day_of(epoch: int) -> tuple[dt.date, str]:
    """(date, 'YYYY-MM-DD') of a unix second, cached per day: formatting is on the hot path."""
    key = epoch // DAY
    hit = _DAY_CACHE.get(key)
    if hit is None:
        day = dt.date(1970, 1, 1) + dt.timedelta(days=key)
        hit = _DAY_CACHE[key] = (day, day.isoformat())
    return hit


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def utc_day(epoch: float) -> dt.date:
    return _day_of(int(epoch // 1))[0]


def sf_timestamp(epoch: float) -> str:
    """Salesforce's datetime form: ``2026-11-20T03:04:05.000+0000``."""
    whole = int(epoch // 1)
    return f"{_day_of(whole)[1]}T{_clock(whole % DAY)}.000+0000"


def sf_date(epoch: float) -> str:
    return _day_of(int(epoch // 1))[1]


def iso_ms_z(epoch: float) -> str:
    """ISO-8601 in UTC with milliseconds and a ``Z``, as Segment writes it."""
    millis = round(epoch * 1000)
    whole, ms = divmod(millis, 1000)
    return f"{_day_of(whole)[1]}T{_clock(whole % DAY)}.{ms:03d}Z"


_ZONES: dict[str, ZoneInfo] = {}


def zone(name: str) -> ZoneInfo:
    if name not in _ZONES:
        _ZONES[name] = ZoneInfo(name)
    return _ZONES[name]


def iso_offset(epoch: float, tz_name: str) -> str:
    """ISO-8601 local time with its UTC offset, as Shopify writes it: ``2026-11-19T09:03:11-05:00``."""
    return dt.datetime.fromtimestamp(int(epoch), zone(tz_name)).isoformat(timespec="seconds")


def local_midnights(tz_names: list[str], days: list[dt.date]) -> np.ndarray:
    """Unix seconds of local midnight for each (time zone, day): shape (len(tz_names), len(days))."""
    out = np.empty((len(tz_names), len(days)), dtype=np.int64)
    for i, name in enumerate(tz_names):
        tz = zone(name)
        for j, day in enumerate(days):
            out[i, j] = int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())
    return out
