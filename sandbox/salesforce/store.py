"""In-memory record storage with unique indexes and an undo log for all-or-none writes.

Records are plain dicts keyed by canonical field names holding stored values (see ``values.py``);
missing keys mean null. A record dict is never mutated once stored: writes replace it, so query
cursors can keep references to the rows they matched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .ids import make_id, to18
from .schema import SCHEMA, SObject, object_for_id

Record = dict[str, Any]


def index_key(value: Any) -> Any:
    """Key for unique lookups: text compares case-insensitively, as external ids do in Salesforce."""
    return value.casefold() if isinstance(value, str) else value


@dataclass
class Table:
    """All records of one object plus its unique indexes (live records only)."""

    obj: SObject
    records: dict[str, Record] = field(default_factory=dict)
    unique: dict[str, dict[Any, set[str]]] = field(default_factory=dict)
    together: dict[tuple[str, ...], dict[tuple[Any, ...], set[str]]] = field(default_factory=dict)
    log: list[tuple[Any, ...]] | None = None  # the store's change log (for the journal), if it keeps one

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        """(Re)build the unique indexes from the object's current fields (after schema changes)."""
        self.unique = {f.name: {} for f in self.obj.indexed_fields}
        self.together = {names: {} for names in self.obj.unique_together}
        for record in self.records.values():
            self._index(record, add=True)

    def _index(self, record: Record, add: bool) -> None:
        if record.get("IsDeleted"):
            return
        rid = record["Id"]
        for name, idx in self.unique.items():
            value = record.get(name)
            if value is None:
                continue
            key = index_key(value)
            if add:
                idx.setdefault(key, set()).add(rid)
            else:
                ids = idx.get(key)
                if ids is not None:
                    ids.discard(rid)
                    if not ids:
                        del idx[key]
        for names, idx2 in self.together.items():
            values = tuple(record.get(n) for n in names)
            if any(v is None for v in values):
                continue
            if add:
                idx2.setdefault(values, set()).add(rid)
            else:
                ids = idx2.get(values)
                if ids is not None:
                    ids.discard(rid)
                    if not ids:
                        del idx2[values]

    def put(self, record: Record) -> Record | None:
        """Store ``record`` (replacing any with the same Id) and return the previous version."""
        rid = record["Id"]
        old = self.records.get(rid)
        if old is not None:
            self._index(old, add=False)
        self.records[rid] = record
        self._index(record, add=True)
        if self.log is not None:
            self.log.append(("put", self.obj.name, record))
        return old

    def remove(self, rid: str) -> Record | None:
        old = self.records.pop(rid, None)
        if old is not None:
            self._index(old, add=False)
            if self.log is not None:
                self.log.append(("remove", self.obj.name, rid))
        return old

    def lookup_unique(self, field_name: str, value: Any) -> set[str]:
        return set(self.unique.get(field_name, {}).get(index_key(value), ()))

    def lookup_together(self, names: tuple[str, ...], values: tuple[Any, ...]) -> set[str]:
        return set(self.together.get(names, {}).get(values, ()))


class Store:
    """Every table of the org, id allocation, and a stack of undo logs for transactions."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self._undo: list[list[tuple[str, str, Record | None]]] = []
        self._counter = 0
        self.log: list[tuple[Any, ...]] | None = None
        self.reset()

    def keep_log(self) -> list[tuple[Any, ...]]:
        """Start recording every change (put, remove, reset) for the journal; return the log list."""
        self.log = []
        for table in self.tables.values():
            table.log = self.log
        return self.log

    def reset(self) -> None:
        """Empty every object (and create tables for objects added to the schema since)."""
        self.tables = {name: Table(obj, log=self.log) for name, obj in SCHEMA.items()}
        self._undo = []
        if self.log is not None:
            self.log.append(("reset",))

    def ensure_tables(self) -> None:
        """Create tables for objects added to the schema and reindex the others (after schema changes)."""
        for name, obj in SCHEMA.items():
            if name not in self.tables:
                self.tables[name] = Table(obj, log=self.log)
            else:
                self.tables[name].obj = obj
                self.tables[name].reindex()
        for name in [n for n in self.tables if n not in SCHEMA]:
            del self.tables[name]

    def table(self, obj_name: str) -> Table:
        return self.tables[obj_name]

    def new_id(self, obj: SObject) -> str:
        """A fresh 18-character id with the object's key prefix, never used before in this store."""
        table = self.tables[obj.name]
        while True:
            self._counter += 1
            rid = make_id(obj.key_prefix, self._counter)
            if rid not in table.records:
                return rid

    def get(self, rid: str) -> tuple[SObject, Record] | None:
        """Find a record of any object by its 15- or 18-character id."""
        rid = to18(rid)
        obj = object_for_id(rid)
        if obj is None:
            return None
        record = self.tables[obj.name].records.get(rid)
        return (obj, record) if record is not None else None

    def get_in(self, obj: SObject, rid: str) -> Record | None:
        return self.tables[obj.name].records.get(to18(rid))

    def rows(self, obj: SObject, include_deleted: bool = False) -> Iterator[Record]:
        """Records of ``obj`` in insertion order; soft-deleted ones only if ``include_deleted``."""
        values: Iterable[Record] = self.tables[obj.name].records.values()
        if include_deleted:
            return iter(list(values))
        return (r for r in list(values) if not r.get("IsDeleted"))

    def put(self, obj: SObject, record: Record) -> None:
        """Write ``record``, remembering the old version if a transaction is open."""
        old = self.tables[obj.name].put(record)
        if self._undo:
            self._undo[-1].append((obj.name, record["Id"], old))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Undo every write made inside the block if it raises."""
        self._undo.append([])
        try:
            yield
        except BaseException:
            self._rollback(self._undo.pop())
            raise
        else:
            log = self._undo.pop()
            if self._undo:
                self._undo[-1].extend(log)

    def savepoint(self) -> list[tuple[str, str, Record | None]]:
        """Open an undo log that the caller closes with :meth:`release` or :meth:`rollback_to`."""
        self._undo.append([])
        return self._undo[-1]

    def _close(self, log: list[tuple[str, str, Record | None]]) -> None:
        # By identity, not equality: two empty undo logs compare equal, and list.remove() would
        # close the outer one instead of this one.
        for i in range(len(self._undo) - 1, -1, -1):
            if self._undo[i] is log:
                del self._undo[i]
                return
        raise ValueError("undo log is not open")

    def release(self, log: list[tuple[str, str, Record | None]]) -> None:
        self._close(log)
        if self._undo:
            self._undo[-1].extend(log)

    def rollback_to(self, log: list[tuple[str, str, Record | None]]) -> None:
        self._close(log)
        self._rollback(log)

    def _rollback(self, log: list[tuple[str, str, Record | None]]) -> None:
        for obj_name, rid, old in reversed(log):
            table = self.tables[obj_name]
            if old is None:
                table.remove(rid)
            else:
                table.put(old)

    def counts(self) -> dict[str, dict[str, int]]:
        """Live and deleted record counts per object."""
        out = {}
        for name, table in self.tables.items():
            deleted = sum(1 for r in table.records.values() if r.get("IsDeleted"))
            out[name] = {"records": len(table.records) - deleted, "deleted": deleted}
        return out
