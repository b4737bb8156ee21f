"""Land one day's channel exports: parse every record, keep the good, quarantine the bad.

Exports arrive as files in `<inbox>/<source>/<YYYY-MM-DD>/` (NDJSON, optionally gzipped). Each
entity gets a partition for every run date, empty when nothing arrived, so "nothing came" is an
explicit fact. Bad records go to `<landing>/_quarantine/<source>/<entity>/ds=.../` with the file,
line, field and reason; they are counted, never dropped silently.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from crm360 import landing
from crm360.channels.parsers import EXPORTS, SCHEMAS, RowError

QUARANTINE_SCHEMA = pa.schema([
    ("file", pa.string()), ("line", pa.int64()), ("field", pa.string()), ("reason", pa.string()),
    ("raw", pa.string()), ("quarantined_at", pa.timestamp("us", tz="UTC")),
])


@dataclass
class LandedSource:
    source: str
    ds: str
    files: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def _records(path: Path) -> Iterator[tuple[int, str]]:
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def export_files(inbox: Path, source: str, ds: str, prefix: str) -> list[Path]:
    day = inbox / source / ds
    if not day.exists():
        return []
    return sorted(p for p in day.iterdir() if p.name.startswith(prefix) and p.suffix in (".ndjson", ".gz", ".json"))


def land_source(inbox: Path, landing_root: Path, source: str, ds: str) -> LandedSource:
    """Parse and land every export of `source` that arrived on `ds`."""
    if source not in EXPORTS:
        raise ValueError(f"unknown channel source {source!r}; known: {sorted(EXPORTS)}")
    result = LandedSource(source=source, ds=ds)
    for prefix, parser, entities in EXPORTS[source]:
        rows: dict[str, list[dict[str, Any]]] = {e: [] for e in entities}
        bad: list[dict[str, Any]] = []
        for path in export_files(inbox, source, ds, prefix):
            result.files.append(str(path))
            for number, line in _records(path):
                try:
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise RowError("<record>", "a JSON object was expected")
                    parsed = parser(record)
                except json.JSONDecodeError as exc:
                    bad.append(_bad(path, number, "<json>", f"invalid JSON: {exc.msg}", line))
                    continue
                except RowError as exc:
                    bad.append(_bad(path, number, exc.field, str(exc), line))
                    continue
                for entity, entity_rows in parsed.items():
                    rows[entity].extend(entity_rows)
        for entity in entities:
            table = pa.Table.from_pylist(rows[entity], schema=SCHEMAS[(source, entity)])
            landing.write_partition(table, landing_root, source, entity, ds)
            result.rows[entity] = table.num_rows
        quarantine = pa.Table.from_pylist(bad, schema=QUARANTINE_SCHEMA)
        landing.write_partition(quarantine, landing_root / landing.QUARANTINE_SOURCE, source, prefix, ds)
        result.quarantined += len(bad)
        for item in bad:
            key = f"{prefix}.{item['field']}"
            result.quarantine_reasons[key] = result.quarantine_reasons.get(key, 0) + 1
    return result


def _bad(path: Path, number: int, field_name: str, reason: str, raw: str) -> dict[str, Any]:
    return {"file": str(path), "line": number, "field": field_name, "reason": reason,
            "raw": raw.rstrip("\n"), "quarantined_at": datetime.now(tz=UTC)}
