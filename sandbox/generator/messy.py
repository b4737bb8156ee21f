"""The defects real exports have: malformed rows, duplicated deliveries.

Each source declares its required fields and its timestamp field; a malformed row lacks a
required field, has an unparseable timestamp, or has a field of the wrong type. Tests (and the
ingestion code's quarantine) can recognise them with the same rules.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Shape:
    required: tuple[str, ...]
    timestamp: str
    timestamp_is_unix: bool
    wrong_type_field: str


SHAPES: dict[str, Shape] = {
    "sendgrid": Shape(("email", "timestamp", "event", "sg_event_id"), "timestamp", True, "timestamp"),
    "segment": Shape(("type", "messageId", "timestamp"), "timestamp", False, "messageId"),
    "shopify": Shape(("id", "created_at", "total_price", "line_items"), "created_at", False, "total_price"),
}
BAD_TIMESTAMPS = ("2026-02-30T25:61:00Z", "yesterday", "31/11/2026 14:03", "", "NaN")
DEFECTS = ("missing_field", "bad_timestamp", "wrong_type")


def corrupt(source: str, record: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A damaged copy of ``record`` with one defect."""
    shape = SHAPES[source]
    bad = copy.deepcopy(record)
    defect = DEFECTS[int(rng.integers(0, len(DEFECTS)))]
    if defect == "missing_field":
        bad.pop(shape.required[int(rng.integers(0, len(shape.required)))], None)
    elif defect == "bad_timestamp":
        bad[shape.timestamp] = BAD_TIMESTAMPS[int(rng.integers(0, len(BAD_TIMESTAMPS)))]
    else:
        value = bad.get(shape.wrong_type_field)
        if isinstance(value, int):
            bad[shape.wrong_type_field] = str(value)  # a number sent as a string
        elif isinstance(value, str):
            try:
                bad[shape.wrong_type_field] = float(value)  # a money string sent as a float
            except ValueError:
                bad[shape.wrong_type_field] = int.from_bytes(value.encode()[:6], "big")
        else:
            bad[shape.wrong_type_field] = [value]
    return bad


def mess_up(
    source: str,
    rows: list[dict[str, Any]],
    rng: np.random.Generator,
    malformed_rate: float,
    duplicate_rate: float,
) -> tuple[list[dict[str, Any]], int, int]:
    """Corrupt about ``malformed_rate`` of the rows and repeat about ``duplicate_rate`` of them.

    Returns the rows to write, how many are malformed and how many are repeats. A repeat is the
    same delivery written again right after the original (same event id).
    """
    n = len(rows)
    if n == 0:
        return rows, 0, 0
    bad = rng.random(n) < malformed_rate
    dup = (rng.random(n) < duplicate_rate) & ~bad
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if bad[i]:
            out.append(corrupt(source, row, rng))
            continue
        out.append(row)
        if dup[i]:
            out.append(row)
    return out, int(bad.sum()), int(dup.sum())
