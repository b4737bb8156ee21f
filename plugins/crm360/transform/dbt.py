"""One `dbt build` over the project, in-process through dbt's programmatic runner.

The run date and the landing zone reach the models as dbt vars; the warehouse path reaches the
profile through `CRM360_WAREHOUSE`. A failing model or test fails the build with the first error.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


class DbtBuildFailed(RuntimeError):
    """dbt reported an error or a failing test."""


@dataclass
class DbtBuildResult:
    ok: bool
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    rows_by_model: dict[str, int] = field(default_factory=dict)


def dbt_env(warehouse_path: Path, landing_root: Path) -> dict[str, str]:
    return {
        "CRM360_WAREHOUSE": str(warehouse_path),
        "CRM360_LANDING": str(landing_root),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
    }


def dbt_vars(project_dir: Path, ds: str) -> dict[str, object]:
    """The vars every crm360 dbt invocation passes: the run date, and the segment catalog read from
    models/segments/segments.yml (models read it from dbt's graph too, but dbt unit tests cannot)."""
    from crm360 import segments

    found: dict[str, object] = {"ds": ds}
    if segments.definitions_file(project_dir).exists():
        found["segment_definitions"] = segments.load_definitions(project_dir).items
    return found


def run_build(project_dir: Path, warehouse_path: Path, landing_root: Path, ds: str,
              full_refresh: bool = False, select: str | None = None, target: str | None = None) -> DbtBuildResult:
    """`dbt build` for run date `ds`; raises DbtBuildFailed naming the first failing node."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env(warehouse_path, landing_root))
    target_path = warehouse_path.parent / "dbt_target"
    args = [
        "build",
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project_dir),
        "--target-path", str(target_path),
        "--log-path", str(target_path / "logs"),
        "--vars", json.dumps(dbt_vars(project_dir, ds)),
        "--no-use-colors",
    ]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", select]
    if target:
        args += ["--target", target]
    outcome = dbtRunner().invoke(args)
    result = DbtBuildResult(ok=bool(outcome.success))
    if outcome.exception is not None:
        raise DbtBuildFailed(f"dbt could not run: {outcome.exception}")
    for node_result in outcome.result or []:
        status = str(node_result.status)
        result.counts[status] = result.counts.get(status, 0) + 1
        resource_type = getattr(node_result.node, "resource_type", "")
        name = node_result.node.name
        if status in ("error", "fail", "runtime error"):
            result.failures.append(f"{resource_type} {name}: {node_result.message}")
        adapter_response = getattr(node_result, "adapter_response", {}) or {}
        if str(resource_type).endswith("model") and adapter_response.get("rows_affected") is not None:
            result.rows_by_model[name] = int(adapter_response["rows_affected"])
    if not result.ok:
        first = result.failures[0] if result.failures else "see the dbt log"
        raise DbtBuildFailed(
            f"dbt build failed for ds={ds}: {len(result.failures)} node(s) failed; first: {first}. "
            f"Logs: {target_path / 'logs' / 'dbt.log'}")
    return result
