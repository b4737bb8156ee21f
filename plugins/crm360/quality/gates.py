"""The two Great Expectations gates of the nightly run.

Gate 1 (raw) validates the run date's landed partitions; gate 2 (publish) validates the payload
about to be written to Salesforce. Suites live in the GX file context in `expectations/`, named
`<layer>.<asset>.<severity>`: a failed `critical` suite fails the task and blocks the push; a failed
`warning` suite is recorded and reported.

Results are written to `crm360_ops.quality_results`. Failure messages name the suite, the
expectation and the column, and count the unexpected values, but never print the values
themselves (they may be emails or phone numbers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from crm360 import landing
from crm360.warehouse import OPS_SCHEMA

log = logging.getLogger(__name__)

RUNTIME_DATASOURCE = "crm360_runtime"


class GateFailed(RuntimeError):
    """A critical suite failed: the run stops before anything reaches Salesforce."""


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    severity: str
    success: bool
    evaluated: int
    failed: int
    rows: int
    first_failure: str | None


def _context(expectations_dir: Path) -> Any:
    import great_expectations as gx

    return gx.get_context(mode="file", context_root_dir=str(expectations_dir))


def suite_names(expectations_dir: Path, layer: str) -> list[str]:
    """Suites of one layer, from the file context's expectation store."""
    root = expectations_dir / "expectations" / layer
    return sorted(
        f"{layer}.{p.parent.name}.{p.stem}" for p in root.glob("*/*.json")
    )


def _describe_failure(result: Any) -> str:
    config = result.expectation_config
    column = config.kwargs.get("column")
    unexpected = (result.result or {}).get("unexpected_count")
    where = f" on column '{column}'" if column else ""
    count = f" ({unexpected} unexpected values)" if unexpected is not None else ""
    return f"{config.type}{where} failed{count}"


def validate_frame(expectations_dir: Path, suite_name: str, frame: Any) -> SuiteResult:
    """Validate a pandas frame against a stored suite."""
    import great_expectations as gx

    suite = _context(expectations_dir).suites.get(suite_name)
    # The in-memory data source lives in an ephemeral context: registering it in the file context
    # would rewrite the committed great_expectations.yml on every run (and race between runs).
    runtime = gx.get_context(mode="ephemeral")
    asset = runtime.data_sources.add_pandas(RUNTIME_DATASOURCE).add_dataframe_asset(suite_name.rsplit(".", 1)[0])
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": frame})
    outcome = batch.validate(suite)
    failures = [r for r in outcome.results if not r.success]
    stats = outcome.statistics
    return SuiteResult(
        suite=suite_name,
        severity=suite_name.rsplit(".", 1)[1],
        success=bool(outcome.success),
        evaluated=int(stats["evaluated_expectations"]),
        failed=int(stats["unsuccessful_expectations"]),
        rows=len(frame),
        first_failure=_describe_failure(failures[0]) if failures else None,
    )


def _record(con: duckdb.DuckDBPyConnection, run_id: str, ds: str, results: list[SuiteResult]) -> None:
    for r in results:
        con.execute(f"delete from {OPS_SCHEMA}.quality_results where run_id = ? and suite = ?",
                    [run_id, r.suite])
        con.execute(
            f"insert into {OPS_SCHEMA}.quality_results values (?, ?, ?, ?, ?, ?, ?, ?, now())",
            [run_id, ds, r.suite, r.severity, r.success, r.evaluated, r.failed, r.first_failure])


def _enforce(results: list[SuiteResult], gate: str) -> None:
    critical = [r for r in results if r.severity == "critical" and not r.success]
    for r in results:
        if not r.success:
            log.warning("%s gate: suite %s failed %d of %d expectations over %d rows: %s",
                        gate, r.suite, r.failed, r.evaluated, r.rows, r.first_failure)
    if critical:
        lines = "; ".join(f"{r.suite}: {r.first_failure}" for r in critical)
        raise GateFailed(f"{gate} quality gate failed, nothing will be pushed to Salesforce. {lines}. "
                         "See crm360_ops.quality_results and the quarantine tables, fix the source, "
                         "then clear and re-run this task.")


def run_raw_gate(con: duckdb.DuckDBPyConnection, expectations_dir: Path, landing_root: Path,
                 run_id: str, ds: str) -> list[SuiteResult]:
    """Validate the landed partitions of `ds` with every `raw.*` suite."""
    results = []
    for name in suite_names(expectations_dir, "raw"):
        asset = name.split(".")[1]
        source, _, entity = asset.partition("_")
        path = landing.partition_path(landing_root, source, entity, ds)
        if not path.exists():
            raise GateFailed(f"raw gate: suite {name} expects the partition {path}, which was not landed. "
                             "Run the extract/land tasks for this date first.")
        frame = con.execute("select * from read_parquet(?)", [str(path)]).df()
        results.append(validate_frame(expectations_dir, name, frame))
    _record(con, run_id, ds, results)
    _enforce(results, "raw")
    return results


def run_publish_gate(con: duckdb.DuckDBPyConnection, expectations_dir: Path, run_id: str,
                     ds: str) -> list[SuiteResult]:
    """Validate every publish model with its `publish.*` suites."""
    results = []
    for name in suite_names(expectations_dir, "publish"):
        table = name.split(".")[1]
        frame = con.execute(f"select * from publish.{table}").df()
        results.append(validate_frame(expectations_dir, name, frame))
    _record(con, run_id, ds, results)
    _enforce(results, "publish")
    return results
