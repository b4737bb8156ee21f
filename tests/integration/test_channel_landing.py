"""Channel landing against the generator's corruption manifest: every planted bad row is quarantined
with a reason, no good row is lost, and every file reconciles (read = landed + quarantined)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from crm360.channels.land import land_source
from sandbox.generator import generate

pytestmark = pytest.mark.integration

SOURCES = ("sendgrid", "segment", "shopify")
# Repeated deliveries of the same record are not defects: they land, and staging dedupes them.
NOT_QUARANTINED = {"duplicate_delivery"}


@pytest.fixture(scope="module")
def corrupt_company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corrupt") / "company"
    generate(customers=1500, days=3, end_date="2026-11-20", seed=3, out=out, corrupt=0.02)
    return out


@pytest.fixture(scope="module")
def landed(corrupt_company: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("landing")
    manifest = json.loads((corrupt_company / "manifest.json").read_text())
    results = {(source, ds): land_source(corrupt_company / "inbox", root, source, ds)
               for source in SOURCES for ds in manifest["date_range"]["days"]}
    return root, results


def test_every_planted_defect_is_quarantined_and_nothing_else(corrupt_company: Path, landed: tuple) -> None:
    root, _ = landed
    planted: dict[tuple[str, int], str] = {}
    with (corrupt_company / "truth" / "defects.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["kind"] not in NOT_QUARANTINED:
                planted[(row["file"].removeprefix("inbox/"), int(row["line"]))] = row["kind"]
    assert {kind for kind in planted.values()} >= {"bad_encoding", "future_timestamp", "oversized_field",
                                                   "duplicate_id", "malformed_line", "missing_field"}
    quarantined = {}
    for part in (root / "_quarantine").rglob("*.parquet"):
        for row in pq.read_table(part).to_pylist():
            quarantined[(row["file"], row["line"])] = row["reason"]
    missed = {k: v for k, v in planted.items() if k not in quarantined}
    extra = {k: v for k, v in quarantined.items() if k not in planted}
    assert not missed, f"planted but landed: {list(missed.items())[:5]}"
    assert not extra, f"quarantined but clean: {list(extra.items())[:5]}"
    assert all(reason for reason in quarantined.values())


def test_no_good_row_is_lost(corrupt_company: Path, landed: tuple) -> None:
    _, results = landed
    manifest = json.loads((corrupt_company / "manifest.json").read_text())
    per_file = {f.file: f for result in results.values() for f in result.file_stats}
    for name, info in manifest["files"].items():
        if not name.startswith("inbox/"):
            continue
        stats = per_file[name.removeprefix("inbox/")]
        planted = sum(n for kind, n in info.get("defects", {}).items() if kind not in NOT_QUARANTINED)
        assert stats.read == info["rows"], name
        assert (stats.landed, stats.quarantined) == (info["rows"] - planted, planted), name


def test_quarantine_reasons_name_the_field(landed: tuple) -> None:
    _, results = landed
    reasons = defaultdict(int)
    for result in results.values():
        for key, n in result.quarantine_reasons.items():
            reasons[key.split(".", 1)[1]] += n
    assert {"<encoding>", "<json>"} <= set(reasons)
    assert any(field in reasons for field in ("event_at", "created_at"))  # future timestamps
