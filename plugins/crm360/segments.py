"""Segment definitions: load them from the dbt project, check them, and report segment sizes.

The definitions are YAML in `dbt_project/models/segments/segments.yml` (the `segments` list in the
meta of the model segment_definitions), where a data engineer edits them without Python. dbt
checks their shape when it compiles (macros/segments.sql); only the warehouse can tell whether a rule's SQL is valid, so
`check_definitions` also runs every rule on its own against the features relation with `limit 0`
and turns the database's error into a message that names the segment. Run it before `dbt build`
builds the segments (the DAG's dbt_build task, `crm360 segments check`): a bad rule otherwise fails
the whole customer_segments model with an error that names no segment.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml

log = logging.getLogger(__name__)

KINDS = ("demographic", "geographic", "behavioural", "psychographic", "lifecycle", "value")
KEYS = ("name", "description", "kind", "rule", "exclusivity_group", "priority", "campaign", "channel",
        "holdout_pct", "min_size")
CHANNELS = ("email", "phone")  # a campaign's channel: whose consent counts (email opt-out, Do Not Call)
FEATURES_RELATION = "marts.customer_segment_features"
CATALOG_FILE = Path("models") / "segments" / "segments.yml"
CATALOG_MODEL = "segment_definitions"
_SNAKE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class SegmentDefinitionError(ValueError):
    """One or more segment definitions are wrong; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the segment definitions "
                         f"(dbt_project/models/segments/segments.yml):\n" + "\n".join(f"- {p}" for p in problems))


@dataclass(frozen=True)
class Definitions:
    """The segment definitions as written, where they came from, and the project's defaults."""

    items: list[dict[str, Any]]
    path: Path
    default_holdout_pct: float
    default_min_size: int


def definitions_file(project_dir: Path) -> Path:
    """The YAML file holding the catalog."""
    return project_dir / CATALOG_FILE


def load_definitions(project_dir: Path) -> Definitions:
    """Read the definitions (as written, unvalidated) and the defaults from dbt_project.yml."""
    path = definitions_file(project_dir)
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from exc
    models = [m for m in document.get("models") or [] if isinstance(m, dict) and m.get("name") == CATALOG_MODEL]
    if not models:
        raise ValueError(f"{path}: no model {CATALOG_MODEL!r} whose config.meta.segments holds the segment catalog")
    items = ((models[0].get("config") or {}).get("meta") or {}).get("segments") or []
    project_vars = (yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}).get("vars") or {}
    return Definitions(items=items, path=path,
                       default_holdout_pct=project_vars.get("segment_holdout_pct", 10),
                       default_min_size=project_vars.get("segment_min_size", 50))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _label(item: Any, index: int) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return name if isinstance(name, str) and name else f"#{index}"


def _problems_of(item: Any, label: str) -> list[str]:
    """What is wrong with one definition on its own (the same checks as macros/segments.sql)."""
    if not isinstance(item, dict):
        return ["a definition must be a mapping of keys"]
    problems = [f"unknown key '{key}' (allowed: {', '.join(KEYS)})" for key in item if key not in KEYS]
    if not isinstance(item.get("name"), str) or not _SNAKE.match(item["name"]):
        problems.append("name must be snake_case (a-z, 0-9, _; at most 63 characters)")
    if not isinstance(item.get("description"), str) or not item["description"].strip():
        problems.append("description is missing")
    if item.get("kind") not in KINDS:
        problems.append(f"unknown kind '{item.get('kind')}' (one of: {', '.join(KINDS)})")
    rule = item.get("rule")
    if not isinstance(rule, str) or not rule.strip():
        problems.append("rule is missing")
    elif ";" in rule:
        problems.append("rule must be one SQL expression: ';' is not allowed")
    group, priority = item.get("exclusivity_group"), item.get("priority")
    if group is not None:
        if not isinstance(group, str) or not _SNAKE.match(group):
            problems.append("exclusivity_group must be a snake_case name")
        if not _is_int(priority):
            problems.append(f"priority must be an integer within exclusivity_group '{group}' (1 wins over 2)")
    elif priority is not None:
        problems.append("priority only has a meaning within an exclusivity_group")
    campaign = item.get("campaign")
    if campaign is not None and (not isinstance(campaign, str) or not campaign.strip()):
        problems.append("campaign must be a Salesforce Campaign name")
    channel = item.get("channel")
    if channel is not None and campaign is None:
        problems.append("channel only has a meaning with a campaign")
    if channel is not None and channel not in CHANNELS:
        problems.append(f"unknown channel '{channel}' (one of: {', '.join(CHANNELS)})")
    if "holdout_pct" in item and (not _is_number(item["holdout_pct"]) or not 0 <= item["holdout_pct"] <= 50):
        problems.append(f"holdout_pct must be a number from 0 to 50, not '{item['holdout_pct']}'")
    if "min_size" in item and (not _is_int(item["min_size"]) or item["min_size"] < 0):
        problems.append(f"min_size must be a whole number >= 0, not '{item['min_size']}'")
    return [f"segment '{label}': {p}" for p in problems]


def structural_problems(items: Any) -> list[str]:
    """Every shape problem of the definitions: keys, names, kinds, groups, campaigns and channels, holdouts,
    sizes."""
    if not isinstance(items, list):
        return ["segments: the catalog (models/segments/segments.yml) must be a list of definitions"]
    problems: list[str] = []
    names: set[str] = set()
    priorities: dict[tuple[str, int], str] = {}
    campaign_channels: dict[str, tuple[str, str]] = {}  # campaign -> (first segment, its channel)
    for index, item in enumerate(items, start=1):
        label = _label(item, index)
        problems += _problems_of(item, label)
        if not isinstance(item, dict):
            continue
        if label in names:
            problems.append(f"segment '{label}': duplicate name: every segment needs its own")
        names.add(label)
        group, priority = item.get("exclusivity_group"), item.get("priority")
        if isinstance(group, str) and _is_int(priority):
            if (group, priority) in priorities:
                problems.append(f"segment '{label}': priority {priority} is already used in exclusivity_group "
                                f"'{group}' (by '{priorities[(group, priority)]}')")
            priorities.setdefault((group, priority), label)
        campaign, channel = item.get("campaign"), item.get("channel") or "email"
        if isinstance(campaign, str) and campaign.strip() and channel in CHANNELS:
            first, other = campaign_channels.setdefault(campaign.strip(), (label, channel))
            if other != channel:
                problems.append(f"segment '{label}': campaign '{campaign.strip()}' is the {other} campaign of "
                                f"segment '{first}': segments sharing a campaign need the same channel")
    return problems


def _unknown_column(message: str) -> str | None:
    found = re.search(r'Referenced column "([^"]+)" not found', message) or \
        re.search(r'column "?([^"\s]+)"? (?:not found|does not exist)', message)
    return found.group(1) if found else None


def rule_problem(con: duckdb.DuckDBPyConnection, name: str, rule: str,
                 relation: str = FEATURES_RELATION) -> str | None:
    """Why `rule` cannot select members of segment `name` from `relation`, or None when it can.

    The rule runs on its own with `limit 0`: the database parses and binds it (unknown columns,
    syntax, wrong types) without reading a row, so this is cheap on millions of people.
    """
    if ";" in rule:
        return f"segment '{name}': rule must be one SQL expression: ';' is not allowed"
    try:
        cursor = con.execute(f"select ({rule}) as is_member from {relation} limit 0")
        type_name = str(cursor.description[0][1]).lower()
    except duckdb.BinderException as exc:
        column = _unknown_column(str(exc))
        if column:
            return f"segment '{name}': unknown column '{column}' in rule `{rule}` (columns: {relation})"
        return f"segment '{name}': the rule does not fit {relation}: {_first_line(exc)} (rule `{rule}`)"
    except duckdb.ParserException as exc:
        return f"segment '{name}': invalid SQL in rule `{rule}`: {_first_line(exc)}"
    except duckdb.Error as exc:
        return f"segment '{name}': the rule fails: {_first_line(exc)} (rule `{rule}`)"
    if type_name not in ("bool", "boolean"):
        return f"segment '{name}': the rule must be true or false for a person, it gives {type_name} (rule `{rule}`)"
    return None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def relation_exists(con: duckdb.DuckDBPyConnection, relation: str = FEATURES_RELATION) -> bool:
    schema, _, table = relation.rpartition(".")
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema or "main", table]).fetchone()[0])


def validate(con: duckdb.DuckDBPyConnection, definitions: list[dict[str, Any]],
             relation: str = FEATURES_RELATION) -> list[str]:
    """The SQL problems of well-formed definitions: each rule runs against `relation` with limit 0."""
    problems = []
    for item in definitions:
        if isinstance(item, dict) and isinstance(item.get("rule"), str) and isinstance(item.get("name"), str):
            problem = rule_problem(con, item["name"], item["rule"], relation)
            if problem:
                problems.append(problem)
    return problems


def check_definitions(project_dir: Path, warehouse_con: duckdb.DuckDBPyConnection | None) -> list[str]:
    """Every problem of the project's segment definitions; empty when they are fine.

    The rules' SQL is checked only when the features relation exists (it is built before
    customer_segments); without it (the very first build) the shape checks still run.
    """
    definitions = load_definitions(project_dir)
    problems = structural_problems(definitions.items)
    if warehouse_con is None:
        return problems
    if not relation_exists(warehouse_con):
        log.warning("segments: %s is not built yet; rule SQL not checked", FEATURES_RELATION)
        return problems
    return problems + [p for p in validate(warehouse_con, definitions.items) if p not in problems]


def require_valid_definitions(project_dir: Path, warehouse_con: duckdb.DuckDBPyConnection | None) -> None:
    """Raise SegmentDefinitionError listing every problem (call before building the segments)."""
    problems = check_definitions(project_dir, warehouse_con)
    if problems:
        raise SegmentDefinitionError(problems)


def holdout_bucket(segment_name: str, customer_id: str) -> float:
    """A person's holdout position in a segment, in [0, 100): the same number as the SQL macro
    segment_holdout_bucket (md5 of "segment:customer_id", first 7 hex digits, mod 10000, / 100).
    The person is held out when it is below the segment's holdout_pct."""
    digest = hashlib.md5(f"{segment_name}:{customer_id}".encode(), usedforsecurity=False).hexdigest()
    return (int(digest[:7], 16) % 10000) / 100.0


def segment_sizes(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """The latest segment_summary by segment name (members, sendable, size guard, run date)."""
    if not relation_exists(con, "marts.segment_summary"):
        return {}
    cursor = con.execute("select segment_name, members, holdout_members, sendable_members, is_below_min_size, "
                         "cast(as_of_date as varchar) as as_of_date from marts.segment_summary")
    columns = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}
