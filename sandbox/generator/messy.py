"""The defects real exports have, and the ones ``--corrupt`` plants on demand, each one recorded.

Each source declares its required fields, its timestamp field and its record id. By default a
share of rows is *malformed* (a required field missing, an unparseable timestamp, or a field of
the wrong JSON type: exactly what crm360's channel parsers quarantine) and a share is delivered
twice. ``--corrupt RATE`` adds, on about RATE of the rows, one defect of any kind below, including
kinds the default never plants. Every planted defect is returned with its line number, kind and
the id of the record it damaged, so a manifest can say exactly what is wrong where.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from sandbox.generator import lines
from sandbox.generator.reference import SHOP_TIME_ZONE
from sandbox.generator.timeutil import DAY, day_start, iso_ms_z, iso_offset
from sandbox.generator.writer import dumps


@dataclass(frozen=True)
class Shape:
    required: tuple[str, ...]
    timestamp: str
    timestamp_is_unix: bool
    wrong_type_field: str
    id_field: str
    text_field: str  # a free-text field (dotted path): where bad encodings and oversized values go


SHAPES: dict[str, Shape] = {
    "sendgrid": Shape(("email", "timestamp", "event", "sg_event_id"), "timestamp", True, "timestamp", "sg_event_id",
                      "marketing_campaign_name"),
    "segment": Shape(("type", "messageId", "timestamp"), "timestamp", False, "messageId", "messageId",
                     "context.page.title"),
    "shopify": Shape(("id", "created_at", "total_price", "line_items"), "created_at", False, "total_price", "id",
                     "note"),
}
BAD_TIMESTAMPS = ("2026-02-30T25:61:00Z", "yesterday", "31/11/2026 14:03", "", "NaN")
# The defects the default arguments plant: crm360's parsers quarantine exactly these rows today.
DEFECTS = ("missing_field", "bad_timestamp", "wrong_type")
MALFORMED_KINDS = DEFECTS
# Only ``--corrupt`` plants these (it plants the ones above too).
CORRUPT_ONLY_KINDS = ("malformed_line", "duplicate_id", "future_timestamp", "bad_encoding", "oversized_field")
CORRUPT_KINDS = (*DEFECTS, *CORRUPT_ONLY_KINDS)
DUPLICATE_DELIVERY = "duplicate_delivery"
OVERSIZED_CHARS = 100_000  # longer than any text column a warehouse or Salesforce would take unchecked
FUTURE_DAYS = (400, 800)  # how far past the arrival day a future timestamp lies


@dataclass(frozen=True)
class Defect:
    line: int  # 1-based line number in the (decompressed) file
    kind: str
    record_id: str


def _record_id(source: str, record: dict[str, Any]) -> str:
    value = record.get(SHAPES[source].id_field)
    return "" if value is None else str(value)


def corrupt(source: str, record: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A damaged copy of ``record`` with one defect (missing field, bad timestamp or wrong type)."""
    return corrupt_with_kind(source, record, rng)[0]


def corrupt_with_kind(source: str, record: dict[str, Any], rng: np.random.Generator,
                      defect: str | None = None) -> tuple[dict[str, Any], str]:
    shape = SHAPES[source]
    bad = copy.deepcopy(record)
    if defect is None:
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
    return bad, defect


def _future(source: str, day: dt.date, rng: np.random.Generator) -> Any:
    epoch = day_start(day) + int(rng.integers(*FUTURE_DAYS)) * DAY + int(rng.integers(0, DAY))
    if SHAPES[source].timestamp_is_unix:
        return epoch
    return iso_ms_z(epoch) if source == "segment" else iso_offset(epoch, SHOP_TIME_ZONE)


def _set_text(record: dict[str, Any], path: str, change: Any) -> None:
    """Replace the value at a dotted ``path`` (copying the dicts on the way, never the original's)."""
    *parents, last = path.split(".")
    node = record
    for key in parents:
        child = node.get(key)
        child = dict(child) if isinstance(child, dict) else {}
        node[key] = child
        node = child
    node[last] = change(node.get(last))


def _corrupt_only(source: str, record: dict[str, Any], kind: str, rng: np.random.Generator, day: dt.date,
                  earlier_id: Any) -> bytes:
    """The line for ``record`` with one of the defects only ``--corrupt`` plants."""
    shape = SHAPES[source]
    if kind == "malformed_line":  # cut off mid-write: never valid JSON
        text = dumps(record)
        return text[: max(1, len(text) // 2)].encode()
    bad = dict(record)
    if kind == "duplicate_id":  # a different record carrying an id already used in the file
        bad[shape.id_field] = earlier_id
    elif kind == "future_timestamp":
        bad[shape.timestamp] = _future(source, day, rng)
    elif kind == "oversized_field":
        _set_text(bad, shape.text_field, lambda _old: "x" * OVERSIZED_CHARS)
    elif kind == "bad_encoding":  # written by a Latin-1 system: not valid UTF-8
        _set_text(bad, shape.text_field, lambda old: f"{old or ''} Café Crème Müller".strip())
        return dumps(bad).encode("latin-1", errors="replace")
    return dumps(bad).encode()


def mess_up(
    source: str,
    rows: pa.Array,
    rng: np.random.Generator,
    malformed_rate: float,
    duplicate_rate: float,
    corrupt_rate: float = 0.0,
    corrupt_rng: np.random.Generator | None = None,
    day: dt.date | None = None,
) -> tuple[pa.Array, list[Defect]]:
    """The lines to write for the clean JSON lines ``rows`` and every defect planted in them.

    About ``malformed_rate`` of the rows get a malformed defect and about ``duplicate_rate`` are
    delivered twice (the repeat right after the original, same event id). With ``corrupt_rate``,
    about that share of the remaining rows get one defect of any of ``CORRUPT_KINDS`` (drawn from
    ``corrupt_rng``, so the default defects stay where they are). Only the damaged rows are parsed;
    the rest pass through as they are.
    """
    n = len(rows)
    if n == 0:
        return rows, []
    bad = rng.random(n) < malformed_rate
    dup = (rng.random(n) < duplicate_rate) & ~bad
    extra = np.zeros(n, dtype=bool)
    kinds = np.zeros(n, dtype=np.int64)
    if corrupt_rate > 0:
        if corrupt_rng is None or day is None:
            raise ValueError("corrupt_rate needs corrupt_rng and day")
        extra = (corrupt_rng.random(n) < corrupt_rate) & ~bad & ~dup
        kinds = corrupt_rng.integers(0, len(CORRUPT_KINDS), size=n)
    copies = 1 + dup.astype(np.int64)
    first_line = np.cumsum(copies) - copies + 1  # 1-based line of each row's first copy
    source_index = np.repeat(np.arange(n, dtype=np.int64), copies)
    replacements: list[bytes] = []
    defects: list[Defect] = []

    def record(i: int) -> dict[str, Any]:
        return json.loads(rows[i].as_py())

    for i in np.flatnonzero(bad | dup | extra).tolist():
        row = record(i)
        line = int(first_line[i])
        if bad[i]:
            damaged, kind = corrupt_with_kind(source, row, rng)
            replacement = dumps(damaged).encode()
            defects.append(Defect(line, kind, _record_id(source, row)))
        elif extra[i]:
            kind = CORRUPT_KINDS[int(kinds[i])]
            if kind == "duplicate_id" and i == 0:
                kind = "future_timestamp"  # nothing earlier to collide with
            assert corrupt_rng is not None and day is not None
            if kind in DEFECTS:
                damaged, _ = corrupt_with_kind(source, row, corrupt_rng, kind)
                replacement = dumps(damaged).encode()
                defects.append(Defect(line, kind, _record_id(source, row)))
            else:
                earlier = record(int(corrupt_rng.integers(0, i))).get(SHAPES[source].id_field) if i else None
                replacement = _corrupt_only(source, row, kind, corrupt_rng, day, earlier)
                defects.append(Defect(line, kind, str(earlier) if kind == "duplicate_id" else _record_id(source, row)))
        else:
            defects.append(Defect(line + 1, DUPLICATE_DELIVERY, _record_id(source, row)))
            continue
        source_index[line - 1] = n + len(replacements)
        replacements.append(replacement)
    table = lines.concat([rows, pa.array(replacements, lines.LINE)]) if replacements else lines.as_lines(rows)
    return table.take(pa.array(source_index)), defects


def summarize(defects: list[Defect]) -> dict[str, Any]:
    """The manifest entry of one file: ``malformed`` and ``duplicates`` keep their meaning;
    ``corrupt`` counts the kinds only ``--corrupt`` plants."""
    counts: dict[str, int] = {}
    for d in defects:
        counts[d.kind] = counts.get(d.kind, 0) + 1
    return {
        "malformed": sum(counts.get(k, 0) for k in MALFORMED_KINDS),
        "duplicates": counts.get(DUPLICATE_DELIVERY, 0),
        "corrupt": {k: counts[k] for k in CORRUPT_ONLY_KINDS if counts.get(k)},
        "defects": {k: counts[k] for k in sorted(counts)},
    }
