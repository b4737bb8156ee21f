"""Seed the sandbox Salesforce with a generated company's CRM records.

``crm/<Object>.ndjson`` is the org's state after the last generated day. ``crm/history/<Object>.ndjson.gz``
holds every version of each record that changed during the generated days (its version before the
first day, if it existed, and one per day it was created, updated, converted, merged or deleted),
so the org can also be loaded as it stood at the end of any day (``through_day``), or one day's
changes applied on top of the day before (``day``).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

LOAD_ORDER = ("User", "Account", "Contact", "Lead", "Campaign", "CampaignMember", "Opportunity", "Task")
CHUNK_SIZE = 5_000


def _read(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_no} is not valid JSON ({exc}); regenerate the company") from exc


def _chunks(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _day(value: str | dt.date | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise ValueError(f"--{name} must be a date like 2026-11-20, got {value!r}") from exc


def crm_records(company_dir: Path | str, obj: str, through_day: str | dt.date | None = None,
                day: str | dt.date | None = None) -> Iterator[dict[str, Any]] | list[dict[str, Any]]:
    """The ``obj`` records to load: the final state; or the state at the end of ``through_day``; or
    only the versions written on ``day`` (the last one per record)."""
    company = Path(company_dir)
    through, only = _day(through_day, "through-day"), _day(day, "day")
    final = company / "crm" / f"{obj}.ndjson"
    if through is None and only is None:
        return _read(final)  # streamed: the final state can be millions of records
    history = company / "crm" / "history" / f"{obj}.ndjson.gz"
    if not history.exists():
        raise FileNotFoundError(f"{history} is missing; regenerate the company with this generator version")
    best: dict[str, dict[str, Any]] = {}
    for record in _read(history):
        stamp_day = record["SystemModstamp"][:10]
        if (only is not None and stamp_day != only) or (through is not None and stamp_day > through):
            continue
        kept = best.get(record["Id"])
        if kept is None or kept["SystemModstamp"] <= record["SystemModstamp"]:
            best[record["Id"]] = record
    if only is not None:
        return list(best.values())
    changed = set(best)
    for record in _read(history):
        changed.add(record["Id"])
    unchanged = [r for r in _read(final) if r["Id"] not in changed]
    return unchanged + list(best.values())


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def read_server(server_json: Path | str) -> dict[str, Any]:
    path = Path(server_json)
    try:
        server = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{path} does not exist: start the sandbox first (crm360-sandbox serve --data ...)"
        ) from exc
    for key in ("instance_url", "ca"):
        if key not in server:
            raise ValueError(f"{path} has no {key!r}; is it the server.json written by sandbox.salesforce?")
    return server


def load(company_dir: Path | str, server_json: Path | str, console: Console | None = None,
         through_day: str | dt.date | None = None, day: str | dt.date | None = None) -> dict[str, Any]:
    """POST the company's CRM records to ``/sandbox/seed`` in dependency order.

    By default the final state (every ``crm/<Object>.ndjson``); with ``through_day`` the state at
    the end of that day; with ``day`` only that day's changes (the seed endpoint replaces records
    with the same Id, so loading day after day replays the history).
    Returns ``{"objects": {object: records inserted}, "seconds": elapsed, "instance_url": ...}``.
    """
    company = Path(company_dir)
    server = read_server(server_json)
    console = console or Console(stderr=True)
    missing = [str(company / "crm" / f"{obj}.ndjson") for obj in LOAD_ORDER
               if not (company / "crm" / f"{obj}.ndjson").exists()]
    if missing:
        raise FileNotFoundError(f"missing CRM files {missing}; run `crm360-sandbox generate` first")
    inserted: dict[str, int] = {}
    calls = 0
    started = time.perf_counter()
    columns = (TextColumn("{task.description:<15}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        httpx.Client(base_url=server["instance_url"], verify=server["ca"], timeout=120.0) as client,
        Progress(*columns, console=console, transient=False) as progress,
    ):
        for obj in LOAD_ORDER:
            records = crm_records(company, obj, through_day, day)
            total = len(records) if isinstance(records, list) else _count_lines(company / "crm" / f"{obj}.ndjson")
            task = progress.add_task(obj, total=total)
            inserted[obj] = 0
            for number, chunk in enumerate(_chunks(records, CHUNK_SIZE), start=1):
                response = client.post("/sandbox/seed", json={"object": obj, "records": chunk})
                calls += 1
                if response.status_code >= 400:
                    raise RuntimeError(
                        f"seeding {obj} chunk {number} ({len(chunk)} records from {company / 'crm'}) failed with "
                        f"HTTP {response.status_code}: {response.text[:500]}"
                    )
                inserted[obj] += int(response.json().get("inserted", len(chunk)))
                progress.advance(task, len(chunk))
    seconds = round(time.perf_counter() - started, 3)
    summary = ", ".join(f"{obj} {n}" for obj, n in inserted.items())
    console.print(f"loaded {sum(inserted.values())} records into {server['instance_url']} in {seconds:.1f}s: "
                  f"{summary}")
    return {"objects": inserted, "seconds": seconds, "instance_url": server["instance_url"], "api_calls": calls}
