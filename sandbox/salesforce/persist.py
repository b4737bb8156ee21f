"""Persistence: the in-memory tables plus an append-only journal and a snapshot in the data folder.

Layout under ``<data>/org/``::

    snapshot.pkl   every table, the schema changes and the counters, as of the last compaction
    journal.bin    frames appended after every request that changed something since then
    lock           held (flock) by the one server using the folder

A frame is an 8-byte big-endian length followed by a pickle of ``(ops, meta)``: ``ops`` are the
table writes of one request in order (put record, remove id, reset, schema change) and ``meta``
the counters that must survive (id counter, job/cursor sequence, API usage); a ``/sandbox/seed``
request is journaled as its body and replayed by seeding again. Records are never
mutated once stored, so a frame holds references, not copies, until it is written. A torn frame at
the end of the journal (the process was killed mid-write) is ignored on replay.

Requests are served one at a time by the event loop and each request's writes go to the journal
before its response is sent, so a response a client has seen is never lost by a restart; the
lock keeps a second server from writing the same folder. Startup replays the journal onto the
snapshot and compacts; a clean shutdown (SIGTERM/SIGINT) compacts too.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import struct
from pathlib import Path
from typing import IO, Any

FORMAT = 1
_HEADER = struct.Struct(">Q")


class DataDirInUse(RuntimeError):
    """Another sandbox server holds the data folder."""


class Persistence:
    """The journal and snapshot files of one data folder, and its lock."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "org"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.snapshot_path = self.dir / "snapshot.pkl"
        self.journal_path = self.dir / "journal.bin"
        self._lock: IO[bytes] | None = open(self.dir / "lock", "ab")  # noqa: SIM115 - held for the server's life
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock.close()
            self._lock = None
            raise DataDirInUse(f"{data_dir} is in use by another sandbox server; stop it or choose another "
                               "--data folder") from exc
        self._journal: IO[bytes] | None = None

    # ------------------------------------------------------------------ reading
    def load(self) -> tuple[dict[str, Any] | None, list[tuple[list[Any], dict[str, Any]]]]:
        """The snapshot (None if there is none) and the journal frames written after it."""
        snapshot = None
        if self.snapshot_path.exists():
            with open(self.snapshot_path, "rb") as handle:
                snapshot = pickle.load(handle)
            if snapshot.get("format") != FORMAT:
                raise RuntimeError(f"{self.snapshot_path} was written by another version of the sandbox "
                                   f"(format {snapshot.get('format')}, expected {FORMAT}); remove the folder")
        frames: list[tuple[list[Any], dict[str, Any]]] = []
        if self.journal_path.exists():
            with open(self.journal_path, "rb") as handle:
                data = handle.read()
            pos = 0
            while pos + _HEADER.size <= len(data):
                (size,) = _HEADER.unpack_from(data, pos)
                end = pos + _HEADER.size + size
                if end > len(data):
                    break  # torn last frame: the process died while writing it
                try:
                    frames.append(pickle.loads(data[pos + _HEADER.size : end]))
                except Exception:  # a damaged tail frame is dropped, as a torn one is
                    break
                pos = end
        return snapshot, frames

    # ------------------------------------------------------------------ writing
    def append(self, ops: list[Any], meta: dict[str, Any]) -> None:
        """Append one frame and hand it to the operating system (survives a crash of this process)."""
        if self._journal is None:
            self._journal = open(self.journal_path, "ab")  # noqa: SIM115 - kept open between requests
        blob = pickle.dumps((ops, meta), protocol=pickle.HIGHEST_PROTOCOL)
        self._journal.write(_HEADER.pack(len(blob)) + blob)
        self._journal.flush()

    def journal_bytes(self) -> int:
        return self.journal_path.stat().st_size if self.journal_path.exists() else 0

    def compact(self, snapshot: dict[str, Any]) -> None:
        """Write a new snapshot atomically, then start an empty journal."""
        snapshot = {**snapshot, "format": FORMAT}
        tmp = self.snapshot_path.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            pickle.dump(snapshot, handle, protocol=pickle.HIGHEST_PROTOCOL)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.snapshot_path)
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self.journal_path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None
