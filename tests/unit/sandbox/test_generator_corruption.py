"""`--corrupt RATE`: every planted defect is listed (file, line, kind, record id) and nothing else is wrong."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from sandbox.generator import generate
from sandbox.generator.messy import CORRUPT_KINDS, CORRUPT_ONLY_KINDS, MALFORMED_KINDS, OVERSIZED_CHARS, SHAPES
from tests.unit.sandbox.test_generator import is_valid, parse_iso

END = "2026-11-20"


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("corrupted")
    manifest = generate(customers=400, days=3, end_date=END, seed=21, out=out, corrupt=0.04)
    return out, manifest


def lines_of(path: Path) -> list[bytes]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return raw.split(b"\n")[:-1]


def defects_by_file(company: Path) -> dict[str, dict[int, tuple[str, str]]]:
    out: dict[str, dict[int, tuple[str, str]]] = defaultdict(dict)
    with (company / "truth" / "defects.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            line = int(row["line"])
            assert line not in out[row["file"]], f"two defects on {row['file']}:{line}"
            out[row["file"]][line] = (row["kind"], row["record_id"])
    return out


def timestamp_of(source: str, record: dict[str, Any]) -> dt.datetime:
    value = record[SHAPES[source].timestamp]
    if source == "sendgrid":
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return parse_iso(value)


def check_line(source: str, day: dt.date, raw: bytes, kind: str, record_id: str, previous: list[bytes]) -> None:
    """Assert that ``raw`` has exactly the listed defect."""
    if kind == "bad_encoding":
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        return
    text = raw.decode("utf-8")
    if kind == "malformed_line":
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
        return
    record = json.loads(text)
    if kind in MALFORMED_KINDS:
        assert not is_valid(source, record)
    elif kind == "duplicate_delivery":
        assert previous and raw == previous[-1]
    elif kind == "duplicate_id":
        assert str(record[SHAPES[source].id_field]) == record_id
        assert any(record_id.encode() in line for line in previous), "the id was not used before"
        assert raw not in previous
    elif kind == "future_timestamp":
        assert timestamp_of(source, record).date() > day + dt.timedelta(days=300)
    elif kind == "oversized_field":
        assert len(raw) > OVERSIZED_CHARS
    else:
        raise AssertionError(f"unknown kind {kind}")


def test_every_listed_defect_is_in_its_file_and_every_other_line_is_clean(
    corrupted: tuple[Path, dict[str, Any]],
) -> None:
    company, manifest = corrupted
    listed = defects_by_file(company)
    kinds_seen: Counter[str] = Counter()
    for rel, stats in manifest["files"].items():
        if not rel.startswith("inbox/") or not rel.endswith(".ndjson.gz"):
            continue
        source, day = rel.split("/")[1], dt.date.fromisoformat(rel.split("/")[2])
        lines = lines_of(company / rel)
        assert len(lines) == stats["rows"], rel
        defects = listed.get(rel, {})
        seen_ids: set[str] = set()
        for number, raw in enumerate(lines, start=1):
            if number in defects:
                kind, record_id = defects[number]
                check_line(source, day, raw, kind, record_id, lines[: number - 1])
                kinds_seen[kind] += 1
            else:
                record = json.loads(raw.decode("utf-8"))
                assert is_valid(source, record), (rel, number)
                assert timestamp_of(source, record).date() <= day, (rel, number)
                assert len(raw) < 20_000, (rel, number)
                record_id = str(record[SHAPES[source].id_field])
                assert record_id not in seen_ids, f"unlisted duplicate id {record_id} in {rel}:{number}"
                seen_ids.add(record_id)
        counts = Counter(kind for kind, _ in defects.values())
        assert stats["malformed"] == sum(counts[k] for k in MALFORMED_KINDS), rel
        assert stats["duplicates"] == counts["duplicate_delivery"], rel
        assert stats["corrupt"] == {k: counts[k] for k in CORRUPT_ONLY_KINDS if counts[k]}, rel
    assert set(CORRUPT_KINDS) | {"duplicate_delivery"} == set(kinds_seen)
    assert manifest["defects"]["kinds"] == dict(sorted(kinds_seen.items()))
    assert manifest["defects"]["rows"] == sum(kinds_seen.values())


def test_corrupt_rate_is_about_the_share_of_rows_damaged(corrupted: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = corrupted
    rows = sum(v["rows"] for k, v in manifest["files"].items() if k.endswith(".ndjson.gz"))
    planted = sum(n for k, n in manifest["defects"]["kinds"].items() if k != "duplicate_delivery")
    expected = 0.04 + manifest["arguments"]["malformed_rate"]
    assert 0.7 * expected * rows <= planted <= 1.3 * expected * rows


def test_default_arguments_plant_only_what_crm360_quarantines(tmp_path: Path) -> None:
    manifest = generate(customers=300, days=2, end_date=END, seed=4, out=tmp_path)
    assert set(manifest["defects"]["kinds"]) <= {*MALFORMED_KINDS, "duplicate_delivery"}
    assert all(not v.get("corrupt") for v in manifest["files"].values())
    listed = defects_by_file(tmp_path)
    for rel, stats in manifest["files"].items():
        malformed = sum(1 for kind, _ in listed.get(rel, {}).values() if kind in MALFORMED_KINDS)
        assert stats.get("malformed", 0) == malformed, rel
