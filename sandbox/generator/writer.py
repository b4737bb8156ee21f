"""Streaming, byte-reproducible writers: NDJSON (plain or gzip), CSV, and per-day buffers."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from pathlib import Path
from typing import IO, Any


def dumps(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class NdjsonWriter:
    """One JSON object per line; ``.gz`` paths are gzip with a fixed header so bytes never vary.

    Lines are collected as bytes and handed to the (gzip) file in blocks of about a megabyte:
    one big write is much cheaper than many small ones.
    """

    BLOCK = 1 << 20

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rows = 0
        self._raw: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._gz: gzip.GzipFile | None = None
        self._sink: IO[bytes] = self._raw
        if path.suffix == ".gz":
            self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=6)
            self._sink = self._gz
        self._block: list[bytes] = []
        self._size = 0

    def write(self, record: Any) -> None:
        self.write_bytes(dumps(record).encode())

    def write_line(self, line: str) -> None:
        self.write_bytes(line.encode())

    def write_bytes(self, line: bytes) -> None:
        """One line as raw bytes (possibly not valid UTF-8: that is how bad encodings get planted)."""
        self._block.append(line)
        self._block.append(b"\n")
        self._size += len(line) + 1
        self.rows += 1
        if self._size >= self.BLOCK:
            self._flush()

    def _flush(self) -> None:
        if self._block:
            self._sink.write(b"".join(self._block))
            self._block = []
            self._size = 0

    def close(self) -> None:
        self._flush()
        if self._gz is not None:
            self._gz.close()
        self._raw.close()

    def __enter__(self) -> NdjsonWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CsvWriter:
    def __init__(self, path: Path, header: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rows = 0
        self._file = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        self._csv = csv.writer(self._file, lineterminator="\n")
        self._csv.writerow(header)

    def write(self, row: list[Any]) -> None:
        self._csv.writerow(row)
        self.rows += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CsvWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DayBuffers:
    """Holds each arrival day's rows until no later simulated day can still add to it.

    Rows are ``(sort_key, record)``; ``flush_through(day)`` hands every window day up to ``day``
    (empty ones too) to ``sink(day, rows)`` with its rows sorted, so memory holds only the few
    days whose events may still arrive. Rows for days outside the window are ignored.
    """

    def __init__(self, days: list[dt.date], sink: Any) -> None:
        self._sink = sink
        self._pending: dict[dt.date, list[tuple[Any, Any]]] = {d: [] for d in days}
        self._flushed: set[dt.date] = set()

    def accepts(self, day: dt.date) -> bool:
        return day in self._pending

    def add(self, day: dt.date, key: Any, record: Any) -> None:
        if day in self._flushed:
            raise RuntimeError(f"an event for {day} arrived after that day was written; widen the spill window")
        rows = self._pending.get(day)
        if rows is not None:
            rows.append((key, record))

    def flush_through(self, day: dt.date) -> None:
        for d in sorted(k for k in self._pending if k <= day):
            rows = self._pending.pop(d)
            rows.sort(key=lambda row: row[0])
            self._sink(d, [r for _, r in rows])
            self._flushed.add(d)
