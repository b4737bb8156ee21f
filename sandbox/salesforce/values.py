"""Converting field values between the wire (JSON, CSV, SOQL literals) and stored Python values.

Stored values: text as ``str``, booleans as ``bool``, numbers as ``int``/``float``, dates as
``datetime.date`` and datetimes as timezone-aware UTC ``datetime.datetime``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from .schema import NUMBER_TYPES, Field

UTC = dt.UTC
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CoercionError(ValueError):
    """A value that cannot be stored in a field; ``code`` is the Salesforce error code to report."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# The org's clock runs this far from the machine's (POST /sandbox/clock). Tests and the demo replay
# past dates: set to just after a data interval's end, writes are stamped as a nightly run at that
# time would see them, so change capture by SystemModstamp behaves as it does in production.
_clock_offset = dt.timedelta(0)


def set_clock(now: dt.datetime | None) -> dt.datetime:
    """Make the org's clock read ``now`` (and keep running from there); None returns to real time."""
    global _clock_offset
    _clock_offset = dt.timedelta(0) if now is None else now.astimezone(UTC) - dt.datetime.now(UTC)
    return now_utc()


def now_utc() -> dt.datetime:
    """The org's current time, truncated to milliseconds as Salesforce stores it."""
    now = dt.datetime.now(UTC) + _clock_offset
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def parse_datetime(text: str) -> dt.datetime | None:
    """Parse the datetime spellings Salesforce accepts; naive values are taken as UTC. None if not one."""
    match = _DATETIME_RE.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        value = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro,
                            tzinfo=UTC)
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        value = value - sign * offset
    return value


def parse_date(text: str) -> dt.date | None:
    """Parse ``YYYY-MM-DD``; None if not a date."""
    match = _DATE_RE.match(text.strip())
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def format_datetime(value: dt.datetime) -> str:
    """REST's datetime format: ``2026-11-20T03:04:05.000+0000``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def format_datetime_bulk(value: dt.datetime) -> str:
    """Bulk API CSV's datetime format: ``2026-11-20T03:04:05.000Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def to_json(value: Any) -> Any:
    """A stored value as it appears in a REST JSON response."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def to_csv(value: Any) -> str:
    """A stored value as it appears in a Bulk API CSV result."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return format_datetime_bulk(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def _bad(f: Field, value: Any) -> CoercionError:
    kind = {"date": "date", "datetime": "dateTime", "boolean": "boolean", "int": "int"}.get(f.type, "double")
    return CoercionError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from VALUE_STRING value {value} or request may be missing a "
        f"required field",
    )


def coerce(f: Field, value: Any, *, from_csv: bool = False) -> Any:
    """Convert a JSON or CSV value into the stored value for field ``f``; raise CoercionError if it can't be."""
    if value is None:
        return None
    if from_csv and isinstance(value, str) and value == "#N/A":
        return None
    ftype = f.type
    if ftype in NUMBER_TYPES:
        if isinstance(value, bool):
            raise _bad(f, value)
        if isinstance(value, str):
            text = value.strip()
            if text == "":
                return None
            try:
                number: float | int = float(text) if ftype != "int" else int(text)
            except ValueError as exc:
                raise _bad(f, value) from exc
        elif isinstance(value, (int, float)):
            number = value
        else:
            raise _bad(f, value)
        if isinstance(number, float) and not math.isfinite(number):
            raise _bad(f, value)
        if ftype == "int":
            return int(number)
        number = round(float(number), f.scale) if f.scale or f.precision else float(number)
        if f.precision and abs(number) >= 10 ** (f.precision - f.scale):
            raise CoercionError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{f.label or f.name}: value outside of valid range on numeric field: {value}",
            )
        return number
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"false", "0", "no", ""}:
            return False
        if isinstance(value, int):
            return bool(value)
        raise _bad(f, value)
    if ftype == "date":
        if isinstance(value, str):
            if from_csv and value.strip() == "":
                return None
            parsed = parse_date(value)
            if parsed is None:
                stamp = parse_datetime(value)
                parsed = stamp.date() if stamp else None
            if parsed is None:
                raise _bad(f, value)
            return parsed
        raise _bad(f, value)
    if ftype == "datetime":
        if isinstance(value, str):
            parsed_dt = parse_datetime(value)
            if parsed_dt is None:
                day = parse_date(value)
                parsed_dt = dt.datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
            if parsed_dt is None:
                raise _bad(f, value)
            return parsed_dt.replace(microsecond=parsed_dt.microsecond // 1000 * 1000)
        raise _bad(f, value)
    # text-like types
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise CoercionError("JSON_PARSER_ERROR",
                            f"Cannot deserialize instance of string from START_OBJECT value for {f.name}")
    if text == "":
        return None
    if f.length and len(text) > f.length and ftype not in {"id", "reference"}:
        raise CoercionError(
            "STRING_TOO_LONG",
            f"{f.label or f.name}: data value too large: {text[:80]} (max length={f.length})",
        )
    if ftype == "email" and not _EMAIL_RE.match(text):
        raise CoercionError("INVALID_EMAIL_ADDRESS", f"{f.label or f.name}: invalid email address: {text}")
    return text
