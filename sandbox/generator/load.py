"""Seed the sandbox Salesforce with a generated company's CRM records."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

LOAD_ORDER = ("Account", "Contact", "Lead", "Campaign", "CampaignMember", "Opportunity", "Task")
CHUNK_SIZE = 5_000


def _chunks(path: Path, size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                chunk.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_no} is not valid JSON ({exc}); regenerate the company") from exc
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def read_server(server_json: Path | str) -> dict[str, Any]:
    path = Path(server_json)
    try:
        server = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{path} does not exist: start the sandbox first (python -m sandbox.salesforce serve --state-dir ...)"
        ) from exc
    for key in ("instance_url", "ca"):
        if key not in server:
            raise ValueError(f"{path} has no {key!r}; is it the server.json written by sandbox.salesforce?")
    return server


def load(company_dir: Path | str, server_json: Path | str, console: Console | None = None) -> dict[str, Any]:
    """POST every ``crm/<Object>.ndjson`` to ``/sandbox/seed`` in dependency order.

    Returns ``{"objects": {object: records inserted}, "seconds": elapsed, "instance_url": ...}``.
    """
    company = Path(company_dir)
    server = read_server(server_json)
    console = console or Console(stderr=True)
    files = [(obj, company / "crm" / f"{obj}.ndjson") for obj in LOAD_ORDER]
    missing = [str(path) for _, path in files if not path.exists()]
    if missing:
        raise FileNotFoundError(f"missing CRM files {missing}; run `python -m sandbox.generator generate` first")
    totals = {obj: _count_lines(path) for obj, path in files}
    inserted: dict[str, int] = {}
    started = time.perf_counter()
    columns = (TextColumn("{task.description:<15}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        httpx.Client(base_url=server["instance_url"], verify=server["ca"], timeout=120.0) as client,
        Progress(*columns, console=console, transient=False) as progress,
    ):
        for obj, path in files:
            task = progress.add_task(obj, total=totals[obj])
            inserted[obj] = 0
            for number, chunk in enumerate(_chunks(path, CHUNK_SIZE), start=1):
                response = client.post("/sandbox/seed", json={"object": obj, "records": chunk})
                if response.status_code >= 400:
                    raise RuntimeError(
                        f"seeding {obj} chunk {number} ({len(chunk)} records from {path}) failed with HTTP "
                        f"{response.status_code}: {response.text[:500]}"
                    )
                inserted[obj] += int(response.json().get("inserted", len(chunk)))
                progress.advance(task, len(chunk))
    seconds = round(time.perf_counter() - started, 3)
    summary = ", ".join(f"{obj} {n}" for obj, n in inserted.items())
    console.print(f"loaded {sum(inserted.values())} records into {server['instance_url']} in {seconds:.1f}s: "
                  f"{summary}")
    return {"objects": inserted, "seconds": seconds, "instance_url": server["instance_url"]}
