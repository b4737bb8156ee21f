"""The landing zone is idempotent per run date and backfill-safe.

A generated company's CRM history is replayed day by day into the sandbox org (each nightly run
sees the org as it stood at the end of its date), and crm360's extract and land stages run for
each date. Then: re-running a date, and backfilling the whole range after later edits, reproduce
the landing zone byte for byte; running the dates out of order works.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests

from crm360 import tasks
from crm360.rundate import RunWindow
from crm360.settings import Settings
from sandbox import localrun
from sandbox.generator import generate, load
from sandbox.salesforce.process import start_sandbox
from tests.integration.conftest import use_crm360_home

pytestmark = pytest.mark.integration

DAYS = ("2026-11-18", "2026-11-19", "2026-11-20")


@dataclass
class Org:
    server: dict
    company: Path

    def replay_through(self, ds: str) -> None:
        load(self.company, Path(self.server["file"]), through_day=ds)
        localrun.set_sandbox_clock(self.server, ds)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    root = tmp_path_factory.mktemp("idempotent")
    company = root / "company"
    generate(customers=1200, days=len(DAYS), end_date=DAYS[-1], seed=5, out=company)
    with start_sandbox(root / "sandbox") as sandbox, pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_path)
        server = {**json.loads((root / "sandbox" / "server.json").read_text()),
                  "file": str(root / "sandbox" / "server.json")}
        yield Org(server=server, company=company)


def _land(ds: str, run_type: str = "scheduled", **params: object) -> dict:
    window = RunWindow.for_day(ds, run_id=f"{run_type}__{ds}", run_type=run_type, params=params)
    settings = Settings.from_env()
    return {"salesforce": tasks.extract_salesforce(window, settings), "channels": tasks.land_channels(window, settings)}


def _snapshot(home: Path) -> dict[str, bytes]:
    landing = home / "data" / "landing"
    return {p.relative_to(landing).as_posix(): p.read_bytes() for p in sorted(landing.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def nightly(org: Org, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, bytes]]]:
    home = tmp_path_factory.mktemp("nightly-home")
    requests.post(f"{org.server['instance_url']}/sandbox/reset", verify=org.server["ca"], timeout=30)
    with pytest.MonkeyPatch.context() as mp:
        use_crm360_home(mp, home, org.server, inbox=org.company / "inbox")
        for ds in DAYS:
            org.replay_through(ds)
            _land(ds)
        yield home, _snapshot(home)


def test_nightly_runs_land_every_date(nightly: tuple[Path, dict[str, bytes]]) -> None:
    _, snapshot = nightly
    for ds in DAYS:
        assert f"salesforce/contact/ds={ds}/part-00000.parquet" in snapshot
        assert f"sendgrid/email_events/ds={ds}/part-00000.parquet" in snapshot


def test_rerunning_a_date_reproduces_its_partitions(org: Org, nightly: tuple[Path, dict[str, bytes]]) -> None:
    home, snapshot = nightly
    with pytest.MonkeyPatch.context() as mp:
        use_crm360_home(mp, home, org.server, inbox=org.company / "inbox")
        result = _land(DAYS[1])
    assert {info["mode"] for info in result["salesforce"]["objects"].values()} == {"reused"}
    assert _snapshot(home) == snapshot


def test_backfill_after_later_edits_reproduces_the_nightly_landing_zone(
        org: Org, nightly: tuple[Path, dict[str, bytes]]) -> None:
    home, snapshot = nightly
    # the scenario has teeth: some Contact landed on day 1 was edited again afterwards
    first = {r["Id"]: r["SystemModstamp"] for r in pq.read_table(
        home / "data" / "landing" / "salesforce" / "contact" / f"ds={DAYS[0]}" / "part-00000.parquet").to_pylist()}
    later = {r["Id"]: r["SystemModstamp"] for ds in DAYS[1:] for r in pq.read_table(
        home / "data" / "landing" / "salesforce" / "contact" / f"ds={ds}" / "part-00000.parquet").to_pylist()}
    assert any(rid in first and later[rid] > first[rid] for rid in later)
    with pytest.MonkeyPatch.context() as mp:
        use_crm360_home(mp, home, org.server, inbox=org.company / "inbox")
        for ds in DAYS:
            _land(ds, run_type="backfill")
    assert _snapshot(home) == snapshot


def test_dates_out_of_order_work_and_channels_land_the_same(
        org: Org, nightly: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    _, snapshot = nightly
    with pytest.MonkeyPatch.context() as mp:
        use_crm360_home(mp, tmp_path, org.server, inbox=org.company / "inbox")
        org.replay_through(DAYS[-1])
        modes = {}
        for ds in (DAYS[2], DAYS[0], DAYS[1]):
            modes[ds] = _land(ds)["salesforce"]["objects"]["Contact"]["mode"]
    assert modes == {DAYS[2]: "current_state", DAYS[0]: "current_state", DAYS[1]: "incremental"}
    out_of_order = _snapshot(tmp_path)
    channels = {k: v for k, v in snapshot.items() if not k.startswith("salesforce/")}
    assert {k: out_of_order[k] for k in channels} == channels
