"""Streaming, byte-reproducible writers: NDJSON (plain or gzip), CSV, and per-day buffers."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa

from sandbox.generator import lines


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

    def write_lines(self, block: pa.Array) -> None:
        """Many lines at once (an Arrow binary array, one line per element)."""
        if len(block) == 0:
            return
        self._flush()
        self._sink.write(lines.to_bytes(block))
        self.rows += len(block)

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
    """Holds each arrival day's lines until no later simulated day can still add to it.

    Rows come one at a time (``add``: a JSON line built from a dict) or as column batches
    (``add_batch``: Arrow lines with numpy arrival days, times and sequence numbers).
    ``flush_through(day)`` hands every window day up to ``day`` (empty ones too) to
    ``sink(day, lines)`` with its lines ordered by (time, sequence number), so memory holds only the
    few days whose events may still arrive. Rows for days outside the window are dropped; the
    batch methods say which rows were kept.
    """

    def __init__(self, days: list[dt.date], sink: Any) -> None:
        self._sink = sink
        self._ordinals = np.array(sorted(d.toordinal() for d in days), dtype=np.int64)
        self._pending: dict[dt.date, list[tuple[np.ndarray, np.ndarray, pa.Array]]] = {d: [] for d in days}
        self._single: dict[dt.date, list[tuple[float, int, bytes]]] = {d: [] for d in days}
        self._flushed: set[dt.date] = set()

    def accepts(self, day: dt.date) -> bool:
        return day in self._pending

    def accepts_ordinals(self, ordinals: np.ndarray) -> np.ndarray:
        return np.isin(ordinals, self._ordinals)

    def add(self, day: dt.date, epoch: float, seq: int, line: bytes) -> None:
        if day in self._flushed:
            raise RuntimeError(f"an event for {day} arrived after that day was written; widen the spill window")
        rows = self._single.get(day)
        if rows is not None:
            rows.append((epoch, seq, line))

    def add_batch(self, ordinals: np.ndarray, epochs: np.ndarray, seqs: np.ndarray, lines: pa.Array) -> np.ndarray:
        """Queue ``lines`` for their arrival days (``date.toordinal()``); return the mask of rows kept."""
        keep = self.accepts_ordinals(ordinals)
        for ordinal in np.unique(ordinals[keep]).tolist():
            day = dt.date.fromordinal(ordinal)
            if day in self._flushed:
                raise RuntimeError(f"an event for {day} arrived after that day was written; widen the spill window")
            rows = np.flatnonzero(ordinals == ordinal)
            self._pending[day].append((np.asarray(epochs, dtype=np.float64)[rows], np.asarray(seqs)[rows],
                                       lines.take(pa.array(rows))))
        return keep

    def flush_through(self, day: dt.date) -> None:
        for d in sorted(k for k in self._pending if k <= day):
            batches = self._pending.pop(d)
            single = self._single.pop(d)
            if single:
                batches.append((np.array([r[0] for r in single], dtype=np.float64),
                                np.array([r[1] for r in single], dtype=np.int64),
                                pa.array([r[2] for r in single], lines.LINE)))
            if batches:
                epochs = np.concatenate([b[0] for b in batches])
                seqs = np.concatenate([b[1] for b in batches])
                order = np.lexsort((seqs, epochs))
                merged = lines.concat([b[2] for b in batches]).take(pa.array(order))
            else:
                merged = pa.array([], lines.LINE)
            self._sink(d, merged)
            self._flushed.add(d)
