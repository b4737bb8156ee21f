"""Land one day's channel exports: parse every record, keep the good, quarantine the bad.

Exports arrive as files in `<inbox>/<source>/<YYYY-MM-DD>/` (NDJSON, optionally gzipped). The
inbox is a local folder or an object-store URI (anything fsspec reads, e.g. `s3://bucket/inbox`
with s3fs installed), through universal_pathlib. Each
entity gets a partition for every run date, empty when nothing arrived, so "nothing came" is an
explicit fact. Bad records go to `<landing>/_quarantine/<source>/<entity>/ds=.../` with the file,
line, field and reason; they are counted, never dropped silently. Records of a person who asked to
be forgotten (`crm360.privacy`: their identifiers' hashes are on the suppression list) are dropped
and counted as suppressed, never quarantined.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from crm360 import landing
from crm360.alerts import redact
from crm360.channels.parsers import EXPORTS, SCHEMAS, Parser, RowError

if TYPE_CHECKING:
    from crm360.privacy import Suppression

QUARANTINE_SCHEMA = pa.schema([
    ("file", pa.string()), ("line", pa.int64()), ("field", pa.string()), ("reason", pa.string()),
    ("raw", pa.string()),
])
# A line longer than this is quarantined unparsed (a runaway field, a concatenated file).
MAX_LINE_BYTES = 1 << 20
# A text value longer than this is quarantined (no vendor field is legitimately this long).
MAX_FIELD_CHARS = 32_768
# An event may be dated up to this long after the end of the day its file arrived (clock skew).
FUTURE_TOLERANCE = timedelta(days=1)
# Per export: (entity holding one row per record, its id column, its event-time column or None).
RECORD_KEYS: dict[tuple[str, str], tuple[str, str, str | None]] = {
    ("sendgrid", "events"): ("email_events", "sg_event_id", "event_at"),
    ("segment", "events"): ("events", "message_id", "event_at"),
    ("shopify", "orders"): ("orders", "order_id", "created_at"),
    ("shopify", "products"): ("products", "product_id", None),
}


@dataclass
class FileStats:
    """Reconciliation of one export file: records read = landed + quarantined + suppressed."""

    file: str  # relative to the inbox, e.g. sendgrid/2026-11-20/events.ndjson.gz
    sha256: str
    bytes: int
    read: int = 0
    landed: int = 0
    quarantined: int = 0
    suppressed: int = 0  # records of a forgotten person (crm360.privacy), dropped


@dataclass
class LandedSource:
    source: str
    ds: str
    files: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    quarantined_by_entity: dict[str, int] = field(default_factory=dict)
    file_stats: list[FileStats] = field(default_factory=list)
    suppressed: int = 0


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines as bytes (decoded per line, so one bad byte costs one record, not the file)."""
    with path.open("rb") as raw:
        handle = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def export_files(inbox: Path, source: str, ds: str, prefix: str) -> list[Path]:
    day = inbox / source / ds
    if not day.exists():
        return []
    return sorted(p for p in day.iterdir() if p.name.startswith(prefix) and p.suffix in (".ndjson", ".gz", ".json"))


def _parse_line(raw: bytes, parser: Parser) -> dict[str, list[dict[str, Any]]]:
    if len(raw) > MAX_LINE_BYTES:
        raise RowError("<line>", f"line of {len(raw)} bytes is longer than the {MAX_LINE_BYTES} allowed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RowError("<encoding>", f"not valid UTF-8 at byte {exc.start}") from exc
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RowError("<json>", f"invalid JSON: {exc.msg}") from exc
    if not isinstance(record, dict):
        raise RowError("<record>", "a JSON object was expected")
    return parser(record)


class _RecordChecks:
    """Rules that need the whole day's context: ids reused for different content, future timestamps,
    oversized values. A repeated delivery (same id, same bytes) is not a defect: staging dedupes it."""

    def __init__(self, source: str, prefix: str, ds: str) -> None:
        self.entity, self.id_field, self.time_field = RECORD_KEYS[(source, prefix)]
        day_end = datetime.combine(date.fromisoformat(ds), time.min, tzinfo=UTC) + timedelta(days=1)
        self.latest = day_end + FUTURE_TOLERANCE
        self.seen: dict[str, tuple[str, int, bytes]] = {}

    def check(self, parsed: dict[str, list[dict[str, Any]]], raw: bytes, file: str, line: int) -> None:
        for entity_rows in parsed.values():
            for row in entity_rows:
                for column, value in row.items():
                    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
                        raise RowError(column, f"{len(value)} characters, more than the {MAX_FIELD_CHARS} allowed")
        for row in parsed.get(self.entity, []):
            if self.time_field and row.get(self.time_field) is not None and row[self.time_field] > self.latest:
                raise RowError(self.time_field, f"{row[self.time_field].isoformat()} is in the future: after the "
                                                f"export's arrival day (allowed up to {self.latest.isoformat()})")
            key = row.get(self.id_field)
            if key is None:
                continue
            content = raw.strip()
            earlier = self.seen.get(key)
            if earlier is not None and earlier[2] != content:
                raise RowError(self.id_field, f"id {key!r} was already used by {earlier[0]} line {earlier[1]} "
                                              "for a different record")
            self.seen.setdefault(key, (file, line, content))


def land_source(inbox: Path, landing_root: Path, source: str, ds: str,
                suppression: Suppression | None = None) -> LandedSource:
    """Parse and land every export of `source` that arrived on `ds`, without the records (and the
    quarantined lines) that carry an identifier on the `suppression` list.

    Deterministic: re-landing the same files gives byte-identical partitions.
    """
    if source not in EXPORTS:
        raise ValueError(f"unknown channel source {source!r}; known: {sorted(EXPORTS)}")
    result = LandedSource(source=source, ds=ds)
    for prefix, parser, entities in EXPORTS[source]:
        rows: dict[str, list[dict[str, Any]]] = {e: [] for e in entities}
        origin: list[FileStats] = []  # the file of each row of the first (one row per record) entity
        bad: list[dict[str, Any]] = []
        checks = _RecordChecks(source, prefix, ds)
        for path in export_files(inbox, source, ds, prefix):
            relative = path.relative_to(inbox).as_posix()
            stats = FileStats(file=relative, sha256=_digest(path), bytes=path.stat().st_size)
            result.files.append(str(path))
            for number, raw in _lines(path):
                stats.read += 1
                try:
                    parsed = _parse_line(raw, parser)
                    checks.check(parsed, raw, relative, number)
                except RowError as exc:
                    # the reason is read in logs, reports and the quarantined_rows view: emails and phones in
                    # it are redacted; the raw line (personal data, like the landing zone) is kept as it was
                    bad.append({"file": relative, "line": number, "field": exc.field, "reason": redact(str(exc)),
                                "raw": raw.decode("utf-8", errors="replace").rstrip("\n")[:MAX_LINE_BYTES]})
                    stats.quarantined += 1
                    continue
                stats.landed += 1
                origin.extend([stats] * len(parsed.get(entities[0], ())))
                for entity, entity_rows in parsed.items():
                    rows[entity].extend(entity_rows)
            if stats.read != stats.landed + stats.quarantined:  # a guard: the loop above keeps it true
                # (suppressed records are counted below, moved out of `landed` and `quarantined`)
                raise RuntimeError(f"{relative}: read {stats.read} records but landed {stats.landed} and "
                                   f"quarantined {stats.quarantined}")
            result.file_stats.append(stats)
        tables = {e: pa.Table.from_pylist(rows[e], schema=SCHEMAS[(source, e)]) for e in entities}
        quarantine = pa.Table.from_pylist(bad, schema=QUARANTINE_SCHEMA)
        if suppression:
            from crm360 import privacy

            tables, dropped = privacy.filter_export(tables, source, entities[0], suppression)
            for i in dropped:
                origin[i].landed -= 1
                origin[i].suppressed += 1
            dropped_bad = suppression.dropped_rows(quarantine, landing.QUARANTINE_SOURCE, prefix)
            by_file = {s.file: s for s in result.file_stats}
            for i in dropped_bad:
                by_file[bad[i]["file"]].quarantined -= 1
                by_file[bad[i]["file"]].suppressed += 1
            quarantine = privacy.without_rows(quarantine, dropped_bad)
            gone = set(dropped_bad)
            bad = [b for i, b in enumerate(bad) if i not in gone]
            result.suppressed += len(dropped) + len(dropped_bad)
        for entity in entities:
            table = tables[entity]
            landing.write_partition(table, landing_root, source, entity, ds)
            result.rows[entity] = table.num_rows
        landing.write_partition(quarantine, landing_root / landing.QUARANTINE_SOURCE, source, prefix, ds)
        result.quarantined += len(bad)
        result.quarantined_by_entity[entities[0]] = len(bad)
        for item in bad:
            key = f"{prefix}.{item['field']}"
            result.quarantine_reasons[key] = result.quarantine_reasons.get(key, 0) + 1
    return result
