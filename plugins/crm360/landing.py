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


class PartitionWriter:
    """Stream record batches into a partition: written aside, published atomically by `publish()`.

    Used as a context manager; if the block raises (or `publish()` is never called) the partial
    file is removed and any earlier version of the partition stays as it was.
    """

    def __init__(self, root: Path, source: str, entity: str, ds: str, schema: pa.Schema) -> None:
        self.target = partition_path(root, source, entity, ds)
        self.schema = schema
        self.rows = 0
        self._tmp = self.target.parent / f".{PART_NAME}.{uuid.uuid4().hex}.tmp"
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> PartitionWriter:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(self._tmp, self.schema, compression="zstd")
        return self

    def write(self, table: pa.Table) -> None:
        assert self._writer is not None, "use PartitionWriter as a context manager"
        if table.num_rows:
            self._writer.write_table(table.select(self.schema.names).cast(self.schema))
            self.rows += table.num_rows

    def publish(self) -> Path:
        assert self._writer is not None, "use PartitionWriter as a context manager"
        self._writer.close()
        self._writer = None
        os.replace(self._tmp, self.target)
        return self.target

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._tmp.exists():
            self._tmp.unlink()


def quarantine_path(root: Path, source: str, entity: str, ds: str) -> Path:
    return partition_path(root / QUARANTINE_SOURCE, source, entity, ds)
