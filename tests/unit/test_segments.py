"""Segment definitions: the catalog's shape, the checks a data engineer relies on, and the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from crm360 import segments
from crm360.cli import app

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
UNIT_TESTS = PROJECT / "models" / "segments" / "_segments__unit_tests.yml"


def _ok(**overrides: object) -> dict:
    return {"name": "vip", "description": "big spenders", "kind": "value", "rule": "lifetime_value > 1000",
            **overrides}


@pytest.fixture
def features() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.customer_segment_features (customer_id varchar, lifetime_value double, "
                "country_code varchar, age integer)")
    return con


def test_the_catalog_has_no_problems_and_every_kind() -> None:
    catalog = segments.load_definitions(PROJECT)
    assert segments.structural_problems(catalog.items) == []
    assert {item["kind"] for item in catalog.items} == set(segments.KINDS)
    names = {item["name"] for item in catalog.items}
    assert {"rfm_champions", "rfm_lost", "lifecycle_won_back", "cart_abandoners", "browsers_never_buy"} <= names


def test_every_catalog_rule_has_a_matching_and_a_non_matching_unit_test_row() -> None:
    tests = {t["name"]: t for t in yaml.safe_load(UNIT_TESTS.read_text())["unit_tests"]}
    catalog_test = tests["customer_segments_catalog_rules"]
    given = {row["customer_id"] for row in catalog_test["given"][0]["rows"]}
    expected = {(row["customer_id"], row["segment_name"]) for row in catalog_test["expect"]["rows"]}
    for item in segments.load_definitions(PROJECT).items:
        name = item["name"]
        assert f"{name}__match" in given and (f"{name}__match", name) in expected, f"{name}: no matching row"
        assert f"{name}__no" in given and (f"{name}__no", name) not in expected, f"{name}: no non-matching row"


@pytest.mark.parametrize(("definitions", "message"), [
    ([_ok(), _ok()], "segment 'vip': duplicate name"),
    ([_ok(kind="astrological")], "segment 'vip': unknown kind 'astrological'"),
    ([_ok(holdout_pct=60)], "segment 'vip': holdout_pct must be a number from 0 to 50"),
    ([_ok(holdout_pct="10")], "segment 'vip': holdout_pct must be a number"),
    ([_ok(min_size=-1)], "segment 'vip': min_size must be a whole number"),
    ([_ok(name="VIP customers")], "segment 'VIP customers': name must be snake_case"),
    ([_ok(rule="true; drop table x")], "segment 'vip': rule must be one SQL expression"),
    ([_ok(campain="VIP")], "segment 'vip': unknown key 'campain'"),
    ([_ok(priority=1)], "segment 'vip': priority only has a meaning within an exclusivity_group"),
    ([_ok(exclusivity_group="tier")], "segment 'vip': priority must be an integer within exclusivity_group"),
    ([_ok(exclusivity_group="tier", priority=1), _ok(name="gold", exclusivity_group="tier", priority=1)],
     "segment 'gold': priority 1 is already used in exclusivity_group 'tier' (by 'vip')"),
    ([_ok(description="")], "segment 'vip': description is missing"),
    ([_ok(channel="phone")], "segment 'vip': channel only has a meaning with a campaign"),
    ([_ok(campaign="VIP", channel="sms")], "segment 'vip': unknown channel 'sms' (one of: email, phone)"),
    ([_ok(campaign="VIP"), _ok(name="gold", campaign=" VIP ", channel="phone")],
     "segment 'gold': campaign 'VIP' is the email campaign of segment 'vip': segments sharing a campaign need the "
     "same channel"),
])
def test_a_bad_definition_is_reported_with_its_segment(definitions: list, message: str) -> None:
    problems = segments.structural_problems(definitions)
    assert any(message in p for p in problems), problems


def test_segments_may_share_a_campaign_on_one_channel() -> None:
    assert segments.structural_problems([_ok(campaign="Call list", channel="phone"),
                                         _ok(name="gold", campaign="Call list", channel="phone"),
                                         _ok(name="silver", campaign="Newsletter")]) == []


def test_rules_are_checked_against_the_features_relation(features: duckdb.DuckDBPyConnection) -> None:
    problems = segments.validate(features, [
        _ok(),
        _ok(name="typo", rule="lifetime_valu > 10"),
        _ok(name="broken", rule="age >"),
        _ok(name="not_boolean", rule="age + 1"),
        _ok(name="ok_in_list", rule="country_code in ('US', 'GB') and age >= 18"),
    ])
    assert problems == [
        "segment 'typo': unknown column 'lifetime_valu' in rule `lifetime_valu > 10` "
        "(columns: marts.customer_segment_features)",
        next(p for p in problems if p.startswith("segment 'broken': invalid SQL in rule `age >`")),
        "segment 'not_boolean': the rule must be true or false for a person, it gives integer (rule `age + 1`)",
    ]


def _project_with(tmp_path: Path, catalog: list[dict]) -> Path:
    project = tmp_path / "dbt_project"
    (project / "models" / "segments").mkdir(parents=True)
    shutil.copy(PROJECT / "dbt_project.yml", project / "dbt_project.yml")
    (project / "models" / "segments" / "segments.yml").write_text(yaml.safe_dump({"version": 2, "models": [
        {"name": "segment_definitions", "config": {"meta": {"segments": catalog}}}]}))
    return project


def test_check_definitions_lists_every_problem_and_require_raises(
        tmp_path: Path, features: duckdb.DuckDBPyConnection) -> None:
    project = _project_with(tmp_path, [_ok(), _ok(name="nope", rule="shoe_size > 40"), _ok(name="nope")])
    problems = segments.check_definitions(project, features)
    assert "segment 'nope': duplicate name: every segment needs its own" in problems
    assert any(p.startswith("segment 'nope': unknown column 'shoe_size'") for p in problems)
    with pytest.raises(segments.SegmentDefinitionError, match="shoe_size"):
        segments.require_valid_definitions(project, features)
    assert segments.check_definitions(project, None) == ["segment 'nope': duplicate name: every segment needs its own"]


def test_holdout_bucket_depends_only_on_segment_and_person() -> None:
    buckets = [segments.holdout_bucket("vip", f"cus_{i}") for i in range(4000)]
    assert all(0 <= b < 100 for b in buckets)
    held = sum(b < 10 for b in buckets) / len(buckets)
    assert 0.08 < held < 0.12, "about holdout_pct of a segment is held out"
    assert segments.holdout_bucket("vip", "cus_1") == buckets[1]
    assert segments.holdout_bucket("lift_test", "c01") == 44.22  # the value the dbt unit tests expect


def test_cli_check_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM360_HOME", str(tmp_path))
    for name in ("CRM360_WAREHOUSE", "CRM360_DBT_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    checked = runner.invoke(app, ["segments", "check"])
    assert checked.exit_code == 0, checked.output
    assert "segment definitions are fine" in checked.output and "rule SQL not checked" in checked.output
    listed = runner.invoke(app, ["segments", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "rfm_champions" in listed.output and "not built yet" in listed.output

    monkeypatch.setenv("CRM360_DBT_PROJECT", str(_project_with(tmp_path, [_ok(kind="astrological")])))
    bad = runner.invoke(app, ["segments", "check"])
    assert bad.exit_code == 1 and "segment 'vip': unknown kind 'astrological'" in bad.output
