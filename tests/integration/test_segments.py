"""Segments on a generated company: the catalog builds, membership history follows two dates, and a
bad definition fails naming its segment.

A company goes through the sandbox org and crm360's extract and land stages; the dbt project is
built (the segments and everything they need) for two consecutive dates, then the second date again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

from crm360 import segments
from crm360.settings import Settings
from crm360.transform.dbt import DbtBuildFailed, run_build
from tests.integration.conftest import land_company

pytestmark = pytest.mark.integration

DAYS = ("2026-11-19", "2026-11-20")
SELECT = "+path:models/segments"


@dataclass
class Built:
    settings: Settings
    history_after: dict[str, list[tuple]]  # label -> (event_date, event_type, is_initial, count)


def _history(settings: Settings) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return con.execute("select cast(event_date as varchar), event_type, is_initial, count(*) "
                           "from marts.segment_membership_history group by all order by all").fetchall()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("segments")
    with pytest.MonkeyPatch.context() as mp:
        land_company(root, DAYS, mp, customers=1500, seed=21)
        # build only the segments and what they need, not tests of other models that reach into them
        mp.setenv("DBT_INDIRECT_SELECTION", "cautious")
        settings = Settings.from_env()
        history_after = {}
        for label, ds in (("day1", DAYS[0]), ("day2", DAYS[1]), ("rerun_day2", DAYS[1])):
            run_build(settings.dbt_project_dir, settings.warehouse_path, settings.landing_root, ds, select=SELECT)
            history_after[label] = _history(settings)
        yield Built(settings=settings, history_after=history_after)


def _query(built: Built, sql: str) -> list[tuple]:
    with duckdb.connect(str(built.settings.warehouse_path)) as con:
        return con.execute(sql).fetchall()


def test_main_segments_have_members_and_every_definition_is_summarised(built: Built) -> None:
    summary = {row[0]: row[1:] for row in _query(
        built, "select segment_name, members, holdout_members, sendable_members, is_below_min_size "
               "from marts.segment_summary")}
    catalog = {item["name"] for item in segments.load_definitions(built.settings.dbt_project_dir).items}
    assert set(summary) == catalog
    for name in ("lifecycle_lead", "lifecycle_new", "geo_united_states", "age_30_to_49", "email_unengaged",
                 "browsers_never_buy", "cart_abandoners", "interest_outdoor"):
        assert summary[name][0] > 0, f"{name} has no members"
    assert sum(members for name, (members, *_) in summary.items() if name.startswith("rfm_")) > 0
    for name, (members, holdout, sendable, below) in summary.items():
        assert sendable == (0 if below else members - holdout), name


def test_holdouts_are_about_the_configured_share_and_never_sendable(built: Built) -> None:
    members, held = _query(built, "select count(*), count(*) filter (where is_holdout) from marts.customer_segments "
                                  "where segment_name = 'lifecycle_lead'")[0]
    assert members > 500 and 0.05 < held / members < 0.15, (members, held)
    assert _query(built, "select count(*) from marts.customer_segments where is_holdout and is_sendable") == [(0,)]


def test_exclusive_groups_give_one_segment_per_person(built: Built) -> None:
    assert _query(built, """
        select count(*) from (
            select customer_id from marts.customer_segments
            where segment_name like 'lifecycle\\_%' escape '\\' group by customer_id having count(*) > 1
        ) as doubled""") == [(0,)]
    people, staged = _query(built, "select count(*), count(lifecycle_stage) from marts.customer_segment_features")[0]
    assert people == staged, "everyone has a lifecycle stage"


def test_history_records_entries_and_exits_per_date_without_duplicates(built: Built) -> None:
    day1 = built.history_after["day1"]
    assert [(d, t, i) for d, t, i, _ in day1] == [(DAYS[0], "entered", True)], "on the first date everyone enters"
    day2 = [row for row in built.history_after["day2"] if row[0] == DAYS[1]]
    assert day2 and all(not initial for _, _, initial, _ in day2)
    assert any(event == "entered" and count > 0 for _, event, _, count in day2), day2
    assert built.history_after["rerun_day2"] == built.history_after["day2"], "re-running a date replaces its events"
    # replaying the history gives exactly today's memberships
    assert _query(built, """
        with latest as (
            select customer_id, segment_name, max(event_date) as event_date
            from marts.segment_membership_history group by all
        ),
        replayed as (
            select history.customer_id, history.segment_name
            from marts.segment_membership_history as history
            inner join latest using (customer_id, segment_name, event_date)
            where history.event_type = 'entered'
        )
        select
            (select count(*) from (select * from replayed except select customer_id, segment_name
                                   from marts.customer_segments) as extra),
            (select count(*) from (select customer_id, segment_name from marts.customer_segments
                                   except select * from replayed) as missing)
    """) == [(0, 0)]


def test_a_bad_definition_fails_naming_the_segment(built: Built, tmp_path: Path) -> None:
    settings = built.settings
    with duckdb.connect(str(settings.warehouse_path)) as con:
        assert segments.check_definitions(settings.dbt_project_dir, con) == []

    project = tmp_path / "dbt_project"
    shutil.copytree(settings.dbt_project_dir, project, ignore=shutil.ignore_patterns("target", "logs"))
    catalog_file = project / "models" / "segments" / "segments.yml"

    def write_catalog(items: list[dict]) -> None:
        catalog_file.write_text(yaml.safe_dump({"version": 2, "models": [
            {"name": "segment_definitions", "config": {"meta": {"segments": items}}}]}))

    good = {"name": "big_spenders", "description": "spend a lot", "kind": "value", "rule": "lifetime_value > 500"}
    write_catalog([good, {**good, "rule": "shoe_size > 40"}])
    with pytest.raises(DbtBuildFailed, match="segment 'big_spenders': duplicate name"):
        run_build(project, settings.warehouse_path, settings.landing_root, DAYS[1], select="customer_segments")

    write_catalog([good, {**good, "name": "big_feet", "rule": "shoe_size > 40"}])
    with duckdb.connect(str(settings.warehouse_path)) as con:
        problems = segments.check_definitions(project, con)
    assert len(problems) == 1 and problems[0].startswith("segment 'big_feet': unknown column 'shoe_size'"), problems
