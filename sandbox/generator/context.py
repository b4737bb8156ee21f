"""State shared by the channel simulations: people, catalog, clocks, output buffers, ground truth."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sandbox.generator import reference as ref
from sandbox.generator.catalog import Catalog
from sandbox.generator.crm import CrmResult
from sandbox.generator.ids import digest, stable_uuid
from sandbox.generator.options import Options
from sandbox.generator.people import Persons
from sandbox.generator.timeutil import DAY, utc_day
from sandbox.generator.writer import DayBuffers

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
    window_orders: np.ndarray | None = None  # orders per person that landed in the window
    options: Options = field(default_factory=Options)
    shop_first_name: list[str] = field(default_factory=list)
    _seen_keys: set[tuple[str, str, int]] = field(default_factory=set)

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
             person: int, keys: tuple[tuple[str, str], ...] = ()) -> bool:
        """Queue ``record`` for ``day``'s export; record ground truth for its keys. False if the
        day is outside the generated window (the event is not part of the company's data)."""
        buffer = self.buffers[source]
        if not buffer.accepts(day):
            return False
        buffer.add(day, (epoch, self.next("emit")), record)
        if lateness:
            self.late[(source, day)] = self.late.get((source, day), 0) + 1
        for source_name, record_key in keys:
            seen = (source_name, record_key, person)
            if seen not in self._seen_keys:
                self._seen_keys.add(seen)
                self.identity(source_name, record_key, self.persons.person_id[person])
        return True

    # Stable identifiers ------------------------------------------------------------------
    def anonymous_id(self, person: int, device: int) -> str:
        return stable_uuid(self.seed, "anon", person, device)

    def message_id(self) -> str:
        return "ajs-next-" + digest(self.seed, "seg", self.next("segment_message")).hex()

    def sg_event_id(self) -> str:
        return base64.b64encode(digest(self.seed, "sg", self.next("sg_event"))).decode()

    def device_ip(self, person: int, device: int) -> str:
        raw = digest(self.seed, "ip", person, device, size=2)
        net = ("203.0.113", "198.51.100", "192.0.2")[raw[0] % 3]
        return f"{net}.{1 + raw[1] % 254}"

    def device_agent(self, person: int, device: int) -> str:
        raw = digest(self.seed, "ua", person, device, size=1)[0]
        if (person + device) % 2:
            return ref.USER_AGENTS_MOBILE[raw % len(ref.USER_AGENTS_MOBILE)]
        return ref.USER_AGENTS_DESKTOP[raw % len(ref.USER_AGENTS_DESKTOP)]

    def local_midnight(self, midnights: np.ndarray, person: int, day_index: int) -> int:
        return int(midnights[self.person_tz[person], day_index])


def hour_seconds(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """Seconds after local midnight, with the hour drawn from ``weights`` (24 values)."""
    hours = rng.choice(24, size=size, p=weights / weights.sum())
    return hours * 3_600 + rng.integers(0, 3_600, size=size)


__all__ = ["DAY", "SOURCES", "SimContext", "hour_seconds"]
