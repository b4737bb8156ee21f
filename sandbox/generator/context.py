"""State shared by the channel simulations: people, catalog, clocks, output buffers, ground truth."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from sandbox.generator import lines
from sandbox.generator import reference as ref
from sandbox.generator.catalog import Catalog
from sandbox.generator.crm import CrmResult
from sandbox.generator.ids import digest, mix64, uuid4_strings
from sandbox.generator.options import Options
from sandbox.generator.people import Persons
from sandbox.generator.timeutil import DAY, utc_day
from sandbox.generator.writer import DayBuffers, dumps

EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
AGENTS = (*ref.USER_AGENTS_MOBILE, *ref.USER_AGENTS_DESKTOP)

SOURCES = ("sendgrid", "segment", "shopify")


@dataclass
class SimContext:
    seed: int
    persons: Persons
    catalog: Catalog
    crm: CrmResult
    buffers: dict[str, DayBuffers]
    identity: Callable[[str, str, str], None]
    late_rate: float
    person_tz: np.ndarray  # index into tz_names
    tz_names: list[str]
    shop_email: list[str]
    shop_phone: list[str | None]
    late: dict[tuple[str, dt.date], int] = field(default_factory=dict)
    identified: np.ndarray | None = None  # (persons, 2): the browser already sent a userId
    counters: dict[str, int] = field(default_factory=dict)
    # person -> the companion of something they bought without it, likely in their next order
    follow_ups: dict[int, int] = field(default_factory=dict)
    window_orders: np.ndarray | None = None  # orders per person that landed in the window
    options: Options = field(default_factory=Options)
    # the window's first day: orders placed before it (history) land in its export
    first_day: dt.date | None = None
    shop_first_name: list[str] = field(default_factory=list)
    # Which (key kind, person, device) the ground truth already lists: one flag per person and device.
    _seen: dict[str, np.ndarray] = field(default_factory=dict)
    _devices: dict[str, Any] = field(default_factory=dict)

    def next(self, name: str) -> int:
        value = self.counters.get(name, 0)
        self.counters[name] = value + 1
        return value

    def arrival(self, rng: np.random.Generator, epoch: float) -> tuple[dt.date, int]:
        """The day an event with time ``epoch`` lands in the export, and how many days late."""
        lateness = 0
        if rng.random() < self.late_rate:
            lateness = 1 + int(rng.random() < 0.35)
        return utc_day(epoch) + dt.timedelta(days=lateness), lateness

    def emit(self, source: str, day: dt.date, epoch: float, record: dict[str, Any], lateness: int,
             person: int, keys: tuple[tuple[str, str, int], ...] = ()) -> bool:
        """Queue ``record`` for ``day``'s export; record ground truth for its keys (kind, key, device).
        False if the day is outside the generated window (the event is not part of the company's data)."""
        buffer = self.buffers[source]
        if not buffer.accepts(day):
            return False
        buffer.add(day, epoch, self.next("emit"), dumps(record).encode())
        if lateness:
            self.late[(source, day)] = self.late.get((source, day), 0) + 1
        for source_name, record_key, device in keys:
            seen = self.seen(source_name)
            if not seen[person, device]:
                seen[person, device] = True
                self.identity(source_name, record_key, self.persons.person_id[person])
        return True

    def emit_batch(self, source: str, arrival: np.ndarray, epochs: np.ndarray, lines: pa.Array,
                   lateness: np.ndarray) -> np.ndarray:
        """Queue many lines (arrival days as ordinals); return the mask of rows inside the window.
        Rows keep their order among equal times: sequence numbers follow the batch order."""
        n = len(lines)
        seqs = self.counters.get("emit", 0) + np.arange(n, dtype=np.int64)
        self.counters["emit"] = self.counters.get("emit", 0) + n
        kept = self.buffers[source].add_batch(arrival, epochs, seqs, lines)
        late = kept & (lateness > 0)
        if late.any():
            days, counts = np.unique(arrival[late], return_counts=True)
            for ordinal, count in zip(days.tolist(), counts.tolist(), strict=True):
                key = (source, dt.date.fromordinal(ordinal))
                self.late[key] = self.late.get(key, 0) + count
        return kept

    def seen(self, source_name: str) -> np.ndarray:
        if source_name not in self._seen:
            self._seen[source_name] = np.zeros((self.persons.n, 2), dtype=bool)
        return self._seen[source_name]

    def record_identities(self, source_name: str, people: np.ndarray, keys: list[str]) -> None:
        """Ground truth for ``keys[k]`` of ``people[k]`` (device 0), each (kind, person) once, in order."""
        seen = self.seen(source_name)
        for i, key in zip(people.tolist(), keys, strict=True):
            if not seen[i, 0]:
                seen[i, 0] = True
                self.identity(source_name, key, self.persons.person_id[i])

    def arrivals(self, rng: np.random.Generator, epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``arrival`` for many events at once: (arrival day ordinals, days late)."""
        n = len(epochs)
        late = rng.random(n) < self.late_rate
        lateness = np.where(late, 1 + (rng.random(n) < 0.35), 0).astype(np.int64)
        ordinals = np.floor(np.asarray(epochs, dtype=np.float64) / DAY).astype(np.int64) + EPOCH_ORDINAL
        return ordinals + lateness, lateness

    # Stable identifiers ------------------------------------------------------------------
    # Per (person, device) values come from tables computed for everyone at once (row person*2+device).
    def _device_tables(self) -> dict[str, Any]:
        if not self._devices:
            n = self.persons.n
            person = np.repeat(np.arange(n, dtype=np.int64), 2)
            device = np.tile(np.arange(2, dtype=np.int64), n)
            anon = uuid4_strings(mix64(self.seed, "anon-high", person, device),
                                 mix64(self.seed, "anon-low", person, device))
            ip_hash = mix64(self.seed, "ip", person, device)
            nets = np.array([b"203.0.113.", b"198.51.100.", b"192.0.2."])
            ip = np.char.add(nets[(ip_hash % np.uint64(3)).astype(np.int64)],
                             (1 + (ip_hash >> np.uint64(8)) % np.uint64(254)).astype(np.int64).astype("S3"))
            agent_hash = mix64(self.seed, "ua", person, device)
            mobile = (person + device) % 2 == 1
            agent = np.where(mobile, (agent_hash % np.uint64(len(ref.USER_AGENTS_MOBILE))).astype(np.int64),
                             len(ref.USER_AGENTS_MOBILE)
                             + (agent_hash % np.uint64(len(ref.USER_AGENTS_DESKTOP))).astype(np.int64))
            self._devices.update(anon=anon, ip=ip, agent=agent)
        return self._devices

    def anonymous_id(self, person: int, device: int) -> str:
        return self._device_tables()["anon"][person * 2 + device].decode()

    def anon_json(self) -> pa.Array:
        return lines.join('"', pa.array(self._device_tables()["anon"], lines.LINE), '"')

    def message_id(self) -> str:
        return "ajs-next-" + digest(self.seed, "seg", self.next("segment_message")).hex()

    def device_ip(self, person: int, device: int) -> str:
        return self._device_tables()["ip"][person * 2 + device].decode()

    def ip_json(self) -> pa.Array:
        return lines.join('"', pa.array(self._device_tables()["ip"], lines.LINE), '"')

    def device_agent(self, person: int, device: int) -> str:
        return AGENTS[int(self._device_tables()["agent"][person * 2 + device])]

    def agent_json(self) -> pa.Array:
        return lines.choose(lines.json_values(AGENTS), self._device_tables()["agent"])

    def local_midnight(self, midnights: np.ndarray, person: int, day_index: int) -> int:
        return int(midnights[self.person_tz[person], day_index])


def hour_seconds(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """Seconds after local midnight, with the hour drawn from ``weights`` (24 values)."""
    hours = rng.choice(24, size=size, p=weights / weights.sum())
    return hours * 3_600 + rng.integers(0, 3_600, size=size)


__all__ = ["DAY", "SOURCES", "SimContext", "hour_seconds"]
