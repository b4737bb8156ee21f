"""The nightly stages, one function per DAG task.

Each takes the run's `RunWindow` and `Settings`, does one stage's work for that run date, records
its numbers in `crm360_ops.stage_metrics`, and returns a small JSON-able summary (the task's
XCom). The DAG file only wires these together.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from crm360 import landing, warehouse
from crm360.rundate import RunWindow
from crm360.settings import Settings

log = logging.getLogger(__name__)

CHANNEL_SOURCES = ("sendgrid", "segment", "shopify")


class ApiBudgetExceeded(RuntimeError):
    """The run would spend more of the daily Salesforce API allocation than allowed."""


def timed(stage: Callable[[RunWindow, Settings], dict[str, Any]]) -> Callable[[RunWindow, Settings], dict[str, Any]]:
    """Record the stage's wall seconds as its metric `seconds` (the run report's time per stage),
    also when it fails. Recorded after the stage's own metrics, which a re-run replaces."""

    @functools.wraps(stage)
    def run(window: RunWindow, settings: Settings) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return stage(window, settings)
        finally:
            seconds = time.perf_counter() - started
            try:
                with warehouse.connect(settings.warehouse_path) as con:
                    con.execute(f"insert or replace into {warehouse.OPS_SCHEMA}.stage_metrics "
                                "values (?, ?, ?, 'seconds', ?, null, now())",
                                [window.run_id, window.ds_str, stage.__name__, seconds])
            except Exception as exc:  # the time is a nicety: never fail or hide the stage's own outcome
                log.warning("%s took %.1f s; not recorded in stage_metrics: %s", stage.__name__, seconds, exc)

    return run


@timed
def privacy_requests(window: RunWindow, settings: Settings) -> dict[str, Any]:
    """Handle the pending right-to-be-forgotten requests (crm360.privacy) before anything is landed, so
    the landing filter already sees the suppression list. Backfill and dry runs leave them pending."""
    from crm360 import privacy

    if window.is_backfill or window.params.get("backfill") or window.params.get("dry_run"):
        log.info("privacy requests: left pending (a backfill or dry run does not write to Salesforce)")
        return {"skipped": True}
    summary = privacy.process_requests(window, settings)
    with warehouse.connect(settings.warehouse_path) as con:
        warehouse.record_metrics(con, window.run_id, window.ds_str, "privacy_requests", {
            "done": summary["done"], "failed": summary["failed"],
            "suppressed_identifiers": summary["suppressed_identifiers"]})
    if summary["failed"]:
        raise privacy.PrivacyStepFailed(
            f"ds={window.ds_str}: {summary['failed']} privacy requests failed (see crm360_ops.privacy_requests."
            "error); their suppression applies already and the next run retries them.")
    return summary


@timed
def extract_salesforce(window: RunWindow, settings: Settings) -> dict[str, Any]:
    import json

    from crm360 import privacy
    from crm360.salesforce import client, extract

    force = bool(window.params.get("full_refresh_extract", False))
    pending = [o for o in settings.sf_objects
               if force or not landing.partition_exists(settings.landing_root, extract.SOURCE,
                                                        extract.entity_name(o), window.ds_str)]
    session = extract.SalesforceSession(lambda: client.connect(settings.salesforce_conn_id))
    overlap = timedelta(minutes=settings.sf_overlap_minutes)
    summary: dict[str, Any] = {"objects": {}}
    if pending:
        def plan(sf: Any) -> tuple[int, int, int]:
            used, allowed = client.api_usage(sf)
            needed = 0
            for sobject in pending:
                _, where = extract.plan_window(settings.landing_root, sobject, window, overlap)
                rows = extract.count_rows(sf, sobject, where)
                needed += extract.estimate_api_calls(rows, extract.choose_method(rows, settings.sf_bulk_threshold))
            return used, allowed, needed

        used, allowed, needed = extract.with_retries(session, f"API budget check ds={window.ds_str}", plan,
                                                     attempts=settings.sf_retries,
                                                     wait_seconds=settings.sf_retry_wait_seconds)
        client.require_api_budget(used, allowed, needed, settings.sf_api_budget_share,
                                  what=f"extracting {len(pending)} objects for ds={window.ds_str}",
                                  consequence="Nothing was extracted.", error_type=ApiBudgetExceeded)
    metrics: dict[str, float] = {}
    with warehouse.connect(settings.warehouse_path) as con:
        suppression = privacy.load_suppression(con)
        for sobject in settings.sf_objects:
            result = extract.extract_object(
                session, sobject, window, settings.landing_root, overlap, force,
                bulk_threshold=settings.sf_bulk_threshold, attempts=settings.sf_retries,
                retry_wait_seconds=settings.sf_retry_wait_seconds, bulk_wait_seconds=settings.bulk_wait_seconds,
                suppression=suppression)
            summary["objects"][sobject] = {"mode": result.mode, "method": result.method, "rows": result.rows,
                                           "deleted": result.deleted}
            if result.added_fields or result.removed_fields:
                summary["objects"][sobject]["schema_change"] = {"added": result.added_fields,
                                                                "removed": result.removed_fields}
            metrics[f"{sobject}.rows"] = result.rows
            metrics[f"{sobject}.deleted"] = result.deleted
            metrics[f"{sobject}.suppressed_rows"] = result.suppressed
            if result.mode != "reused":
                metrics[f"{sobject}.bulk"] = 1.0 if result.method == "bulk" else 0.0
                con.execute(
                    f"insert or replace into {warehouse.OPS_SCHEMA}.landed_partitions "
                    "values (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, now())",
                    ["salesforce", extract.entity_name(sobject), window.ds_str, result.mode,
                     result.window_start, result.window_end, result.rows, str(result.path), window.run_id])
                con.execute(
                    f"insert into {warehouse.OPS_SCHEMA}.sf_extracts values "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                    [window.run_id, window.ds_str, sobject, result.mode, result.method, result.window_start,
                     result.window_end, result.expected, result.rows, result.deleted, result.newest_modstamp,
                     result.fields, json.dumps(result.added_fields), json.dumps(result.removed_fields)])
        metrics["logins"] = session.logins
        warehouse.record_metrics(con, window.run_id, window.ds_str, "extract_salesforce", metrics)
    for sobject, info in summary["objects"].items():
        log.info("salesforce %-15s %-13s %-7s %7d rows (%d deleted)", sobject, info["mode"], info["method"],
                 info["rows"], info["deleted"])
    return summary


@timed
def land_channels(window: RunWindow, settings: Settings) -> dict[str, Any]:
    """Land the day's channel exports, then check every source's freshness (crm360.freshness)."""
    from crm360 import freshness, privacy
    from crm360.channels.land import land_source

    summary: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    with warehouse.connect(settings.warehouse_path) as con:
        suppression = privacy.load_suppression(con)
        for source in CHANNEL_SOURCES:
            landed = land_source(settings.inbox_root, settings.landing_root, source, window.ds_str, suppression)
            summary[source] = {"files": len(landed.files), "rows": landed.rows,
                               "quarantined": landed.quarantined, "reasons": landed.quarantine_reasons,
                               "suppressed": landed.suppressed}
            metrics[f"{source}.suppressed_rows"] = landed.suppressed
            for entity, rows in landed.rows.items():
                metrics[f"{source}.{entity}.rows"] = rows
                con.execute(
                    f"insert or replace into {warehouse.OPS_SCHEMA}.landed_partitions "
                    "values (?, ?, ?, 'files', null, null, ?, ?, ?, ?, now())",
                    [source, entity, window.ds_str, rows, landed.quarantined_by_entity.get(entity, 0),
                     str(settings.landing_root / source / entity / f"ds={window.ds_str}"), window.run_id])
            con.execute(f"delete from {warehouse.OPS_SCHEMA}.channel_files where source = ? and ds = ?",
                        [source, window.ds_str])
            for f in landed.file_stats:
                con.execute(
                    f"insert into {warehouse.OPS_SCHEMA}.channel_files (source, file, ds, sha256, bytes, "
                    "records_read, records_landed, records_quarantined, records_suppressed, run_id, landed_at) "
                    "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                    [source, f.file, window.ds_str, f.sha256, f.bytes, f.read, f.landed, f.quarantined,
                     f.suppressed, window.run_id])
            metrics[f"{source}.quarantined"] = landed.quarantined
            if not landed.files:
                log.warning("channel %s: no export files arrived for %s in %s", source, window.ds_str,
                            settings.inbox_root / source / window.ds_str)
            log.info("channel %-8s %d files, rows %s, %d quarantined %s", source, len(landed.files),
                     landed.rows, landed.quarantined, landed.quarantine_reasons or "")
        fresh = freshness.check_and_alert(con, window, CHANNEL_SOURCES)
        metrics.update(freshness.metrics(fresh))
        summary["freshness"] = {r.source: {"hours_since": r.hours_since, "stale": r.is_stale} for r in fresh}
        warehouse.record_metrics(con, window.run_id, window.ds_str, "land_channels", metrics)
        quarantine = settings.landing_root / landing.QUARANTINE_SOURCE
        # Every quarantined record, queryable: source, export, ds, file, line, field, reason, raw.
        con.execute(
            f"create or replace view {warehouse.OPS_SCHEMA}.quarantined_rows as "
            "select split_part(filename, '/', -4) as source, split_part(filename, '/', -3) as export, "
            "cast(ds as date) as ds, file, line, field, reason, raw "
            f"from read_parquet('{quarantine.as_posix()}/*/*/*/*.parquet', hive_partitioning = true, filename = true)")
    freshness.require_fresh(window, fresh)
    return summary


@timed
def raw_quality_gate(window: RunWindow, settings: Settings) -> dict[str, Any]:
    from crm360.quality.gates import run_raw_gate

    with warehouse.connect(settings.warehouse_path) as con:
        results = run_raw_gate(con, settings.expectations_dir, settings.landing_root, window.run_id,
                               window.ds_str, runtime_dir=settings.gx_runtime_dir)
        warehouse.record_metrics(con, window.run_id, window.ds_str, "raw_quality_gate", {
            "suites": len(results), "suites_failed": sum(not r.success for r in results)})
    return {r.suite: r.success for r in results}


@timed
def dbt_build(window: RunWindow, settings: Settings) -> dict[str, Any]:
    from crm360 import segments
    from crm360.transform.dbt import DbtBuildFailed, run_build

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with warehouse.connect(settings.warehouse_path):
        pass  # create the file and ops tables before dbt opens it
    try:
        result = run_build(settings.dbt_project_dir, settings.warehouse_path, settings.landing_root,
                           window.ds_str, full_refresh=bool(window.params.get("full_refresh", False)))
    except DbtBuildFailed:
        # dbt names the segment of a badly shaped definition, but a bad rule fails customer_segments
        # with a database error that names none: check the catalog (shape, and each rule against the
        # features this build made) and raise naming the segment if that was it
        with warehouse.connect(settings.warehouse_path) as con:
            segments.require_valid_definitions(settings.dbt_project_dir, con)
        raise
    from crm360 import identity

    with warehouse.connect(settings.warehouse_path) as con:
        metrics = {f"nodes.{k}": v for k, v in result.counts.items()}
        metrics.update({f"rows.{k}": v for k, v in result.rows_by_model.items()})
        warehouse.record_metrics(con, window.run_id, window.ds_str, "dbt_build", metrics)
        report = identity.observe(con, window.ds_str, window.run_id, settings.identity_max_cluster)
        warehouse.record_metrics(con, window.run_id, window.ds_str, "identity", report.metrics())
        sizes = segments.segment_sizes(con)
        too_small = sorted(name for name, row in sizes.items() if row["is_below_min_size"])
        warehouse.record_metrics(con, window.run_id, window.ds_str, "segments", {
            "segments": len(sizes), "below_min_size": len(too_small),
            "memberships": sum(row["members"] for row in sizes.values()),
            "sendable": sum(row["sendable_members"] for row in sizes.values())})
    if too_small:
        log.warning("segments below their minimum size, flagged and not sent to their campaigns: %s",
                    ", ".join(too_small))
    log.info("identity: %d records -> %d customers (%d with several records, largest %d); %d merges, %d splits "
             "since %s; identifiers excluded: %s", report.records, report.customers, report.multi_record_customers,
             report.largest_cluster, report.merges, report.splits, report.compared_with or "-",
             report.excluded_identifiers or "none")
    return {"counts": result.counts, "identity": report.metrics()}


@timed
def publish_quality_gate(window: RunWindow, settings: Settings) -> dict[str, Any]:
    from crm360.quality.gates import run_publish_gate

    with warehouse.connect(settings.warehouse_path) as con:
        results = run_publish_gate(con, settings.expectations_dir, window.run_id, window.ds_str,
                                   runtime_dir=settings.gx_runtime_dir)
        warehouse.record_metrics(con, window.run_id, window.ds_str, "publish_quality_gate", {
            "suites": len(results), "suites_failed": sum(not r.success for r in results)})
    return {r.suite: r.success for r in results}


def push_decision(window: RunWindow, newest_pushed_ds: str | None) -> tuple[bool, str]:
    """Whether this run may write to Salesforce, and why (run-date semantics)."""
    if window.is_backfill or window.params.get("backfill"):
        return False, "backfill runs never write to Salesforce (plan recorded only)"
    if window.params.get("dry_run"):
        return False, "dry run requested (plan recorded only)"
    if window.run_type == "manual" and not window.params.get("push"):
        return False, "manual run without push=true (plan recorded only)"
    if newest_pushed_ds and window.ds_str < newest_pushed_ds:
        return False, f"ds {window.ds_str} is older than the newest pushed date {newest_pushed_ds}"
    return True, f"{window.run_type} run for the newest date"


class CampaignSyncFailed(RuntimeError):
    """Salesforce stopped answering during the campaign membership sync."""


class PushVerificationFailed(RuntimeError):
    """Salesforce holds other values than crm360 wrote for more records than allowed."""


def write_options(settings: Settings) -> Any:
    from crm360.activation.writer import WriteOptions

    return WriteOptions(bulk_threshold=settings.push_bulk_threshold, bulk_wait_seconds=settings.bulk_wait_seconds,
                        attempts=settings.sf_retries, retry_wait_seconds=settings.sf_retry_wait_seconds)


@timed
def push_to_salesforce(window: RunWindow, settings: Settings) -> dict[str, Any]:
    """Plan the push of every mapped publish model; write it when this run may (see push_decision).

    Before any write: the mapped fields exist and are writable (describe), the org is not production
    unless allowed, the API budget holds and the blast radius is within bounds. After it: the
    written fields are read back and compared."""
    from crm360.activation import mapping as mapping_file
    from crm360.activation import push
    from crm360.salesforce import client

    mapping = mapping_file.load()
    options = write_options(settings)
    summary: dict[str, Any] = {}
    session = client.SalesforceSession(lambda: client.connect(settings.salesforce_conn_id))
    with warehouse.connect(settings.warehouse_path) as con:
        newest = con.execute(f"select max(ds) from {warehouse.OPS_SCHEMA}.sync_history where success").fetchone()
        newest_ds = newest[0].isoformat() if newest and newest[0] else None
        allowed, reason = push_decision(window, newest_ds)
        plans = [push.plan_push(con, m, landing_root=settings.landing_root, ds=window.ds_str) for m in mapping.publish]
        for plan in plans:
            push.record_plan(con, plan, window.run_id, window.ds_str)
        changes = sum(len(p.changes) for p in plans)
        if allowed and (changes or mapping.campaigns is not None):
            _check_before_writing(session, mapping, plans, options, settings, window)
        metrics: dict[str, float] = {}
        mismatched = 0
        verified = 0
        campaign_error = None
        if allowed:
            con.execute(f"delete from {warehouse.OPS_SCHEMA}.sync_verification where run_id = ?", [window.run_id])
        for publish_map, plan in zip(mapping.publish, plans, strict=True):
            writes = allowed and (publish_map.create is None or publish_map.create_records)
            why = reason if writes or not allowed else (
                f"create_records is off for {publish_map.model}: {plan.creates} {publish_map.create} records "
                "would be created (plan recorded only)")
            result = push.PushResult(mode="pushed" if writes else "planned", reason=why, plan=plan)
            if writes and plan.changes:
                push.execute_push(session, con, plan, window.run_id, window.ds_str, result, options)
                push.verify_push(session, con, plan, window.run_id, window.ds_str, result, publish_map, options)
                mismatched += result.mismatches
                verified += result.verified
            model = publish_map.model
            metrics.update({
                f"{model}.records": plan.total_records, f"{model}.changed": len(plan.changes),
                f"{model}.created": result.created,
                f"{model}.unchanged": plan.unchanged, f"{model}.removals": plan.removals,
                f"{model}.sent": result.sent, f"{model}.succeeded": result.succeeded,
                f"{model}.failed": result.failed, f"{model}.dead_lettered": result.dead_lettered,
                f"{model}.api_calls": result.api_calls, f"{model}.verified": result.verified,
                f"{model}.mismatches": result.mismatches,
            })
            summary[model] = {
                "mode": result.mode, "reason": why, "records": plan.total_records, "created": result.created,
                "changed": len(plan.changes), "sent": result.sent, "succeeded": result.succeeded,
                "failed": result.failed, "dead_lettered": result.dead_lettered, "errors": result.errors,
                "method": result.method or None, "methods": result.methods, "api_calls": result.api_calls,
                "verified": result.verified, "mismatches": result.mismatches,
                "fields_changed": plan.fields_changed, "plan": plan.summary(),
            }
            log.info("push %s: %s (%s): %d records, %d changed, %d removed, %d sent (%s), %d ok, %d failed, "
                     "%d read back with %d mismatches", model, result.mode, reason, plan.total_records,
                     len(plan.changes), plan.removals, result.sent, result.method or "-", result.succeeded,
                     result.failed, result.verified, result.mismatches)
        if mapping.campaigns is not None:
            summary["campaigns"] = _sync_campaigns(session, con, mapping, window, allowed, options, metrics,
                                                   settings.push_max_change_share)
            campaign_error = summary["campaigns"].get("error")
        metrics["logins"] = session.logins
        warehouse.record_metrics(con, window.run_id, window.ds_str, "push_to_salesforce", metrics,
                                 {k: reason for k in metrics})
    if mapping.campaigns is not None and campaign_error:
        raise CampaignSyncFailed(f"ds={window.ds_str}: campaign membership stopped: {campaign_error}. What was "
                                 "sent is stored (crm360_ops.campaign_member_history); the rest is sent by the "
                                 "next run.")
    if verified and mismatched / verified > settings.push_verify_max_mismatch_share:
        raise PushVerificationFailed(
            f"ds={window.ds_str}: {mismatched} of {verified} records written read back with other values than "
            f"crm360 sent (more than {settings.push_verify_max_mismatch_share:.1%}): something in Salesforce "
            "(a flow, trigger or validation) rewrites them. They are listed in crm360_ops.sync_verification; "
            "raise CRM360_PUSH_VERIFY_MAX_MISMATCH_SHARE if that is expected.")
    return summary


def _check_before_writing(session: Any, mapping: Any, plans: list[Any], options: Any, settings: Settings,
                          window: RunWindow) -> None:
    from crm360.activation import preflight, push

    for plan in plans:
        if plan.changes:
            push.check_blast_radius(plan, settings.push_max_change_share, bool(window.params.get("allow_large_push")))
    sf = session.sf
    preflight.require_pushable(sf, mapping)
    push.check_org(sf, allow_production=_allow_production(settings.salesforce_conn_id))
    needed = sum(push.estimate_api_calls(len(p.changes), options) for p in plans)
    push.check_api_budget(sf, needed, settings.sf_api_budget_share)


def _sync_campaigns(session: Any, con: Any, mapping: Any, window: RunWindow, allowed: bool, options: Any,
                    metrics: dict[str, float], max_remove_share: float) -> dict[str, Any]:
    """Campaign membership (crm360.activation.campaigns); its numbers go into the push metrics."""
    from crm360.activation import campaigns

    result = campaigns.sync_campaigns(session, con, mapping.campaigns, run_id=window.run_id, ds=window.ds_str,
                                      write=allowed, options=options, max_remove_share=max_remove_share,
                                      allow_large_removal=bool(window.params.get("allow_large_push")))
    info = result.as_dict()
    for key in ("created", "to_add", "to_remove", "added", "removed", "unchanged", "not_ours", "failed",
                "not_sent", "api_calls"):
        metrics[f"campaigns.{key}"] = info[key]
    return info


def _allow_production(conn_id: str) -> bool:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    extras = SalesforceHook.get_connection(conn_id).extra_dejson
    return str(extras.get("allow_production_writes", "false")).lower() == "true"


class RunFailed(RuntimeError):
    """A stage of the nightly run did not succeed (the run summary was still written)."""


def stage_states(context: Any) -> dict[str, str]:
    """The states of this DAG run's other tasks, asked of the Airflow API (task SDK, no DB access)."""
    ti = context["ti"]
    found = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id])
    states = found.get(ti.run_id, found) if isinstance(found, dict) else {}
    return {task_id: str(state) for task_id, state in states.items() if task_id != ti.task_id}


def run_summary(window: RunWindow, settings: Settings,
                stage_states: dict[str, str] | None = None) -> dict[str, Any]:
    """Write the run report; raise RunFailed afterwards if any stage failed, so the DAG run fails too."""
    from crm360.report import build_summary, write_summary

    with warehouse.connect(settings.warehouse_path) as con:
        summary = build_summary(con, window, stage_states or {})
    paths = write_summary(summary, settings.reports_root)
    summary["report_paths"] = {k: str(v) for k, v in paths.items()}
    log.info("run summary written to %s", paths["markdown"])
    if summary["failed_stages"]:
        raise RunFailed(f"ds={window.ds_str}: stages not successful: {', '.join(summary['failed_stages'])}. "
                        f"The report at {paths['markdown']} says what ran; the failed task's log says why.")
    return summary
