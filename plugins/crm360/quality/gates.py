"""The two Great Expectations gates of the nightly run.

Gate 1 (raw) validates the run date's landed partitions; gate 2 (publish) validates the payload
about to be written to Salesforce. Suites live in the GX file context in `expectations/` (in git),
named `<layer>.<asset>.<severity>`: a failed `critical` suite fails the task and blocks the push; a
failed `warning` suite is recorded and reported.

Validation runs in a runtime GX project outside the repo (`CRM360_GX_RUNTIME`, default `gx/` next
to the landing zone, because its results hold sample failing values: personal data, like the
landing zone). Each gate copies the committed suites into it, validates through checkpoints and
keeps the validation results, from which GX builds its data docs
(`<runtime>/gx/uncommitted/data_docs/local_site/index.html`). The committed context is only read.

Suites may use parameters (`{"$PARAMETER": "volume_min"}`), filled per run: `event_min`/`event_max`
(the plausible event-time range for the date) and `volume_min`/`volume_max` (row count against
the recent days landed).

Results are written to `crm360_ops.quality_results`. Failure messages name the suite, the
expectation and the column, count the unexpected values and show a sample with emails and phone
numbers masked.
"""

from __future__ import annotations

import logging
import re
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from datetime import date as date_type
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
    return sorted(f"{layer}.{p.parent.name}.{p.stem}" for p in root.glob("*/*.json"))


_LOCAL = r"[^@\s:,;<>()\[\]\"']"
_EMAIL = re.compile(rf"({_LOCAL}{{1,2}}){_LOCAL}*@([^@\s,;<>()\[\]\"']+)")
_PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")


def mask(value: Any) -> str:
    """A failing value as it may appear in a log: emails and phone numbers masked."""
    text = str(value)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _PHONE.sub(lambda m: "***" + re.sub(r"\D", "", m.group(0))[-2:], text)
    return text[:80]


def _describe_failure(result: Any) -> str:
    config = result.expectation_config
    column = config.kwargs.get("column")
    details = result.result or {}
    unexpected = details.get("unexpected_count")
    where = f" on column '{column}'" if column else ""
    count = f" ({unexpected} unexpected values" if unexpected is not None else ""
    sample = details.get("partial_unexpected_list") or []
    if count:
        count += f", e.g. {', '.join(mask(v) for v in sample[:3])})" if sample else ")"
    observed = details.get("observed_value")
    if not count and observed is not None:
        count = f" (observed {mask(observed)})"
    return f"{config.type}{where} failed{count}"


class RuntimeProject:
    """The GX project validations run in: suites copied from the committed context, results kept."""

    def __init__(self, expectations_dir: Path, runtime_dir: Path | None) -> None:
        import great_expectations as gx

        self._tmp = None if runtime_dir else tempfile.mkdtemp(prefix="crm360-gx-")
        self.root = Path(runtime_dir or self._tmp)
        project = self.root / "gx"
        # Definitions are rebuilt from the committed suites on every gate; results and docs are kept.
        for stale in ("great_expectations.yml", "expectations", "checkpoints", "validation_definitions"):
            target = project / stale
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        self.committed = _context(expectations_dir)
        self.context = gx.get_context(mode="file", project_root_dir=str(self.root))
        self.datasource = self.context.data_sources.add_or_update_pandas(RUNTIME_DATASOURCE)
        self._checkpoints: dict[str, Any] = {}

    @property
    def data_docs(self) -> Path:
        return self.root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"

    def checkpoint(self, suite_name: str) -> Any:
        import great_expectations as gx

        if suite_name in self._checkpoints:
            return self._checkpoints[suite_name]
        committed = self.committed.suites.get(suite_name)
        expectations = []
        for config in committed.to_json_dict()["expectations"]:
            kind = gx.expectations.registry.get_expectation_impl(config["type"])
            expectations.append(kind(**config["kwargs"], meta=config.get("meta") or None))
        suite = self.context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations,
                                                            meta=committed.meta))
        asset_name = suite_name.rsplit(".", 1)[0]
        try:
            asset = self.datasource.get_asset(asset_name)
        except LookupError:
            asset = self.datasource.add_dataframe_asset(asset_name)
        try:
            batch = asset.get_batch_definition("whole")
        except (KeyError, LookupError):
            batch = asset.add_batch_definition_whole_dataframe("whole")
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=batch, suite=suite))
        actions = [] if self._tmp else [gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")]
        self._checkpoints[suite_name] = self.context.checkpoints.add(
            gx.Checkpoint(name=suite_name, validation_definitions=[definition], actions=actions))
        return self._checkpoints[suite_name]

    def validate(self, suite_name: str, frame: Any, parameters: dict[str, Any] | None = None) -> SuiteResult:
        outcome = self.checkpoint(suite_name).run(batch_parameters={"dataframe": frame},
                                                  expectation_parameters=dict(parameters or {}))
        (validation,) = outcome.run_results.values()
        failures = [r for r in validation.results if not r.success]
        stats = validation.statistics
        return SuiteResult(
            suite=suite_name,
            severity=suite_name.rsplit(".", 1)[1],
            success=bool(validation.success),
            evaluated=int(stats["evaluated_expectations"]),
            failed=int(stats["unsuccessful_expectations"]),
            rows=len(frame),
            first_failure=_describe_failure(failures[0]) if failures else None,
        )

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def validate_frame(expectations_dir: Path, suite_name: str, frame: Any, parameters: dict[str, Any] | None = None,
                   runtime_dir: Path | None = None) -> SuiteResult:
    """Validate a pandas frame against a stored suite (one-off; the gates share one RuntimeProject)."""
    project = RuntimeProject(expectations_dir, runtime_dir)
    try:
        return project.validate(suite_name, frame, parameters)
    finally:
        project.close()


def raw_parameters(con: duckdb.DuckDBPyConnection, source: str, entity: str, ds: str,
                   lookback_days: int = 7) -> dict[str, Any]:
    """Per-run suite parameters: the plausible event-time range and the expected volume."""
    day = date_type.fromisoformat(ds)
    start = datetime.combine(day, time.min, tzinfo=UTC)
    history = [row[0] for row in con.execute(
        f"select rows_landed from {OPS_SCHEMA}.landed_partitions where source = ? and entity = ? "
        "and ds < ? and ds >= ? order by ds", [source, entity, day, day - timedelta(days=lookback_days)]).fetchall()]
    typical = statistics.median(history) if history else None
    return {
        # late events up to 30 days old are normal; anything after the next day is clock trouble
        "event_min": start - timedelta(days=30),
        "event_max": start + timedelta(days=2),
        "volume_min": int(typical * 0.2) if typical else 0,
        "volume_max": int(typical * 5 + 100) if typical is not None else None,
    }


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
                         "See crm360_ops.quality_results, the GX data docs and the quarantine tables, fix "
                         "the source, then clear and re-run this task.")


def run_raw_gate(con: duckdb.DuckDBPyConnection, expectations_dir: Path, landing_root: Path,
                 run_id: str, ds: str, runtime_dir: Path | None = None) -> list[SuiteResult]:
    """Validate the landed partitions of `ds` with every `raw.*` suite."""
    results = []
    project = RuntimeProject(expectations_dir, runtime_dir)
    try:
        for name in suite_names(expectations_dir, "raw"):
            asset = name.split(".")[1]
            source, _, entity = asset.partition("_")
            path = landing.partition_path(landing_root, source, entity, ds)
            if not path.exists():
                raise GateFailed(f"raw gate: suite {name} expects the partition {path}, which was not landed. "
                                 "Run the extract/land tasks for this date first.")
            frame = con.execute("select * from read_parquet(?)", [str(path)]).df()
            results.append(project.validate(name, frame, raw_parameters(con, source, entity, ds)))
    finally:
        project.close()
    _record(con, run_id, ds, results)
    _enforce(results, "raw")
    return results


def run_publish_gate(con: duckdb.DuckDBPyConnection, expectations_dir: Path, run_id: str,
                     ds: str, runtime_dir: Path | None = None) -> list[SuiteResult]:
    """Validate every publish model with its `publish.*` suites."""
    results = []
    project = RuntimeProject(expectations_dir, runtime_dir)
    try:
        for name in suite_names(expectations_dir, "publish"):
            table = name.split(".")[1]
            frame = con.execute(f"select * from publish.{table}").df()
            results.append(project.validate(name, frame))
    finally:
        project.close()
    _record(con, run_id, ds, results)
    _enforce(results, "publish")
    return results
