"""The landing zone: `<landing>/<source>/<entity>/ds=YYYY-MM-DD/part-00000.parquet`.

A partition is written aside and published with an atomic rename, so a reader never sees half of
one. Re-landing a date replaces its partition whole.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PART_NAME = "part-00000.parquet"
QUARANTINE_SOURCE = "_quarantine"


def partition_dir(root: Path, source: str, entity: str, ds: str) -> Path:
    return root / source / entity / f"ds={ds}"


def partition_path(root: Path, source: str, entity: str, ds: str) -> Path:
    return partition_dir(root, source, entity, ds) / PART_NAME


def partition_exists(root: Path, source: str, entity: str, ds: str) -> bool:
    return partition_path(root, source, entity, ds).exists()


def landed_dates(root: Path, source: str, entity: str) -> list[str]:
    base = root / source / entity
    if not base.exists():
        return []
    return sorted(p.name.removeprefix("ds=") for p in base.glob("ds=*") if (p / PART_NAME).exists())


def write_partition(table: pa.Table, root: Path, source: str, entity: str, ds: str) -> Path:
    """Write `table` as the partition for `ds`, atomically replacing any earlier version."""
    target = partition_path(root, source, entity, ds)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{PART_NAME}.{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def quarantine_path(root: Path, source: str, entity: str, ds: str) -> Path:
    return partition_path(root / QUARANTINE_SOURCE, source, entity, ds)
