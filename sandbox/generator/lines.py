"""NDJSON lines built column by column: many records at once from numpy arrays, no dict per record.

A line is a concatenation of pieces: JSON literals shared by every row (``'{"event":"open","email":'``)
and per-row columns already encoded as JSON values (``'"anna@mailbox.example"'``, ``'1763600000'``).
``join`` glues them with Arrow's element-wise concatenation, which runs in C++; the result is an
Arrow ``large_binary`` array with one line per element (offsets are 64-bit so a day's file may pass
2 GB). Timestamps are formatted from lookup tables (one string per second of the day, per
millisecond, per day) instead of per record.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sandbox.generator.timeutil import DAY, zone

LINE = pa.large_binary()
Piece = pa.Array | str | bytes


def as_lines(values: pa.Array) -> pa.Array:
    return values if values.type == LINE else values.cast(LINE)


def join(*pieces: Piece) -> pa.Array:
    """Concatenate, row by row, arrays (all the same length) and literals (repeated on every row)."""
    parts = [p if isinstance(p, pa.Array) else pa.scalar(p.encode() if isinstance(p, str) else p, LINE)
             for p in pieces]
    parts = [as_lines(p) if isinstance(p, pa.Array) else p for p in parts]
    return pc.binary_join_element_wise(*parts, pa.scalar(b"", LINE))


def json_values(values: Iterable[object]) -> pa.Array:
    """Each value JSON-encoded (strings quoted and escaped, None as null), as the writer would."""
    return pa.array([json.dumps(v, ensure_ascii=False).encode() for v in values], LINE)


def ints(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string()).cast(LINE)


def choose(table: pa.Array, index: np.ndarray) -> pa.Array:
    """``table[index]`` for each row (a lookup of per-person or per-product strings)."""
    return table.take(pa.array(np.asarray(index, dtype=np.int64)))


def pick(mask: np.ndarray, when_true: pa.Array, when_false: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), when_true, when_false)


def literal(value: str, n: int) -> pa.Array:
    return pa.array([value.encode()], LINE).take(pa.array(np.zeros(n, dtype=np.int64)))


def random_hex(rng: np.random.Generator, n: int, size: int) -> pa.Array:
    """``n`` strings of ``2*size`` hex digits."""
    raw = rng.integers(0, 256, size=(n, size), dtype=np.uint8).tobytes().hex().encode()
    return pa.array(np.frombuffer(raw, dtype=f"S{2 * size}") if n else np.zeros(0, dtype="S1"), LINE)


def random_b64(rng: np.random.Generator, n: int, size: int = 18) -> pa.Array:
    """``n`` base64 strings of ``size`` random bytes (``size`` a multiple of 3: no padding)."""
    raw = base64.b64encode(rng.integers(0, 256, size=(n, size), dtype=np.uint8).tobytes())
    return pa.array(np.frombuffer(raw, dtype=f"S{size * 4 // 3}") if n else np.zeros(0, dtype="S1"), LINE)


@lru_cache(maxsize=1)
def _clock_table() -> pa.Array:
    seconds = np.arange(DAY)
    text = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in seconds.tolist()]
    return pa.array(text, pa.string()).cast(LINE)


@lru_cache(maxsize=1)
def _millis_table() -> pa.Array:
    return pa.array([f"{k:03d}" for k in range(1000)], pa.string()).cast(LINE)


def _days(day_numbers: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """ISO dates of the distinct days in ``day_numbers`` (days since 1970) and each row's index."""
    unique, index = np.unique(day_numbers, return_inverse=True)
    epoch = dt.date(1970, 1, 1)
    text = [(epoch + dt.timedelta(days=int(d))).isoformat() for d in unique.tolist()]
    return pa.array(text, pa.string()).cast(LINE), index


def iso_ms_z(epoch: np.ndarray) -> pa.Array:
    """``2026-11-20T03:04:05.123Z`` for float unix seconds (milliseconds rounded as Segment does)."""
    millis = np.round(np.asarray(epoch, dtype=np.float64) * 1000).astype(np.int64)
    whole, ms = np.divmod(millis, 1000)
    days, index = _days(whole // DAY)
    return join(choose(days, index), "T", choose(_clock_table(), whole % DAY), ".", choose(_millis_table(), ms), "Z")


def sf_timestamps(epoch: np.ndarray) -> pa.Array:
    """Salesforce's ``2026-11-20T03:04:05.000+0000`` for unix seconds."""
    whole = np.floor(np.asarray(epoch, dtype=np.float64)).astype(np.int64)
    days, index = _days(whole // DAY)
    return join(choose(days, index), "T", choose(_clock_table(), whole % DAY), ".000+0000")


def iso_offsets(epoch: np.ndarray, tz_name: str) -> pa.Array:
    """``2026-11-19T09:03:11-05:00`` in ``tz_name`` for unix seconds, as Shopify writes them."""
    whole = np.floor(np.asarray(epoch, dtype=np.float64)).astype(np.int64)
    if len(whole) == 0:
        return pa.array([], LINE)
    hours = whole // 3600
    first, last = int(hours.min()), int(hours.max())
    tz = zone(tz_name)
    # UTC offsets change on whole UTC hours in every zone used here: one lookup per hour in range.
    offsets = np.array([int(dt.datetime.fromtimestamp(h * 3600, tz).utcoffset().total_seconds())  # type: ignore[union-attr]
                        for h in range(first, last + 1)], dtype=np.int64)
    offset = offsets[hours - first]
    local = whole + offset
    days, index = _days(local // DAY)
    labels, label_index = np.unique(offset, return_inverse=True)
    suffix = pa.array([_offset_label(int(s)) for s in labels.tolist()], pa.string()).cast(LINE)
    return join(choose(days, index), "T", choose(_clock_table(), local % DAY), choose(suffix, label_index))


def _offset_label(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}"


def to_bytes(lines: pa.Array) -> bytes | memoryview:
    """The lines, each followed by a newline, as one contiguous block."""
    if len(lines) == 0:
        return b""
    joined = join(lines, "\n")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64, count=len(joined) + 1, offset=joined.offset * 8)
    data = joined.buffers()[2]
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def concat(parts: Sequence[pa.Array]) -> pa.Array:
    parts = [as_lines(p) for p in parts]
    return pa.concat_arrays(parts) if parts else pa.array([], LINE)
