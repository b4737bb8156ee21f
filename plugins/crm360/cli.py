"""`crm360`: look at and operate a crm360 installation from a shell.

The nightly work runs in Airflow (`crm360_nightly`); this CLI is for the person looking after it:
what has been landed, what a run did, and running one stage by hand for one date when debugging
(the same function the DAG task calls, with the same settings from the environment).
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from crm360 import warehouse
from crm360.rundate import RunWindow
from crm360.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
console = Console()

STAGES = ("privacy_requests", "extract_salesforce", "land_channels", "raw_quality_gate", "dbt_build",
          "publish_quality_gate",
          "push_to_salesforce", "run_summary")


def _read_warehouse(settings: Settings) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """The warehouse, read-only; exits with a clear message when nothing has created it yet."""
    if not settings.warehouse_path.exists():
        console.print(f"no warehouse at {settings.warehouse_path}: nothing has run yet (set CRM360_WAREHOUSE?)")
        raise typer.Exit(1)
    return warehouse.connect(settings.warehouse_path, read_only=True)


@app.command()
def partitions(source: Annotated[str | None, typer.Option(help="only this source, e.g. salesforce")] = None) -> None:
    """List landed partitions: source, entity, date, how it was landed, rows landed and quarantined."""
    settings = Settings.from_env()
    with _read_warehouse(settings) as con:
        rows = con.execute(
            f"select source, entity, cast(ds as varchar), mode, rows_landed, rows_quarantined "
            f"from {warehouse.OPS_SCHEMA}.landed_partitions where ? is null or source = ? "
            f"order by source, entity, ds", [source, source]).fetchall()
    table = Table(title=f"landed partitions ({settings.landing_root})")
    for column in ("source", "entity", "ds", "mode", "rows", "quarantined"):
        table.add_column(column, justify="right" if column in ("rows", "quarantined") else "left")
    for row in rows:
        table.add_row(*[str(v) for v in row])
    console.print(table)
    console.print(f"{len(rows)} partitions")


@app.command()
def report(ds: Annotated[str | None, typer.Option(help="run date YYYY-MM-DD; default: the newest")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="print the JSON summary")] = False) -> None:
    """Print the run summary of one date (what the nightly run did)."""
    settings = Settings.from_env()
    folder = settings.reports_root / ds if ds else settings.reports_root
    stem = "run_summary" if ds else "latest"
    path = folder / f"{stem}.{'json' if as_json else 'md'}"
    if not path.exists():
        console.print(f"no report at {path}: has the run for {ds or 'any date'} finished?")
        raise typer.Exit(1)
    text = path.read_text()
    console.print_json(text) if as_json else console.print(text, markup=False)
    console.print(f"[dim]{path}[/]")


@app.command()
def explain(who: Annotated[str, typer.Argument(help="a customer_id (cus_...) or an email of the person")]) -> None:
    """Show the records that make up a person and the identifiers that joined them (masked)."""
    from crm360.identity import explain as explain_person

    with _read_warehouse(Settings.from_env()) as con:
        found = explain_person(con, who)
    if found is None:
        console.print("no such person in intermediate.int_customers_stitched")
        raise typer.Exit(1)
    if "ambiguous" in found:
        console.print(f"that email belongs to several people (a shared address): {', '.join(found['ambiguous'])}")
        raise typer.Exit(1)
    records = Table(title=f"{found['customer_id']}: {len(found['records'])} records")
    for column in ("record", "created", "anchor"):
        records.add_column(column)
    for r in found["records"]:
        records.add_row(r["record"], r["created_at"] or "", "yes" if r["anchor"] else "")
    console.print(records)
    edges = Table(title="identifiers (edges)")
    for column in ("identifier", "joins", "records"):
        edges.add_column(column)
    for e in found["edges"]:
        joins = "yes" if e["joins"] else f"no: {e['excluded_because']}"
        edges.add_row(e["identifier"], joins, ", ".join(e["records"]))
    console.print(edges)


@app.command()
def stage(name: Annotated[str, typer.Argument(help=f"one of: {', '.join(STAGES)}")],
          ds: Annotated[str, typer.Option(help="run date YYYY-MM-DD (data interval ds 00:00 to +24h UTC)")],
          param: Annotated[list[str] | None, typer.Option(help="run param key=value, e.g. dry_run=true")] = None,
          ) -> None:
    """Run one stage for one date outside Airflow (debugging). Push needs push=true and never runs for backfills."""
    if name not in STAGES:
        raise typer.BadParameter(f"unknown stage {name!r}; choose one of: {', '.join(STAGES)}", param_hint="NAME")
    params = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r} is not key=value", param_hint="--param")
        params[key] = json.loads(value) if value in ("true", "false") or value.isdigit() else value
    from crm360 import tasks

    window = RunWindow.for_day(ds, run_id=f"cli__{ds}__{int(time.time())}", params=params)
    started = time.monotonic()
    with console.status(f"{name} for ds={ds}..."):
        result = getattr(tasks, name)(window, Settings.from_env())
    console.print_json(json.dumps(result, default=str))
    console.print(f"{name} for ds={ds} finished in {time.monotonic() - started:.1f}s (run id {window.run_id})")


segments_app = typer.Typer(no_args_is_help=True, help="The segment catalog (dbt_project/models/segments/segments.yml).")
app.add_typer(segments_app, name="segments")


@segments_app.command("list")
def segments_list() -> None:
    """Show every segment definition with its size in the newest build (segment_summary)."""
    from crm360 import segments

    settings = Settings.from_env()
    definitions = segments.load_definitions(settings.dbt_project_dir)
    sizes: dict = {}
    if settings.warehouse_path.exists():
        with warehouse.connect(settings.warehouse_path, read_only=True) as con:
            sizes = segments.segment_sizes(con)
    as_of = next(iter(sizes.values()))["as_of_date"] if sizes else "not built yet"
    table = Table(title=f"{len(definitions.items)} segments (sizes as of {as_of})")
    for column in ("segment", "kind", "group/priority", "campaign", "holdout %", "members", "sendable", "guard"):
        table.add_column(column, justify="right" if column in ("holdout %", "members", "sendable") else "left",
                         no_wrap=column == "segment")
    for item in definitions.items:
        if not isinstance(item, dict):
            continue
        size = sizes.get(item.get("name"), {})
        group = f"{item['exclusivity_group']}/{item.get('priority')}" if item.get("exclusivity_group") else ""
        guard = "[yellow]below min size[/]" if size.get("is_below_min_size") else ""
        table.add_row(str(item.get("name")), str(item.get("kind")), group, item.get("campaign") or "",
                      str(item.get("holdout_pct", definitions.default_holdout_pct)),
                      str(size.get("members", "")), str(size.get("sendable_members", "")), guard)
    console.print(table)


@segments_app.command("check")
def segments_check() -> None:
    """Check the segment definitions: shape, and every rule's SQL against the built features."""
    from crm360 import segments

    settings = Settings.from_env()
    if settings.warehouse_path.exists():
        with warehouse.connect(settings.warehouse_path, read_only=True) as con:
            sql_checked = segments.relation_exists(con)
            problems = segments.check_definitions(settings.dbt_project_dir, con)
    else:
        sql_checked, problems = False, segments.check_definitions(settings.dbt_project_dir, None)
    count = len(segments.load_definitions(settings.dbt_project_dir).items)
    if not sql_checked:
        console.print(f"[yellow]{segments.FEATURES_RELATION} is not built: rule SQL not checked[/]")
    for problem in problems:
        console.print(f"[red]✗[/] {problem}", markup=True, highlight=False)
    if problems:
        console.print(f"{len(problems)} problem(s) in {count} segment definitions")
        raise typer.Exit(1)
    console.print(f"[green]✓[/] {count} segment definitions are fine")


salesforce_app = typer.Typer(no_args_is_help=True, help="The Salesforce org crm360 writes to.")
app.add_typer(salesforce_app, name="salesforce")


@salesforce_app.command("check")
def salesforce_check(
        out: Annotated[str | None, typer.Option(help="write Salesforce DX metadata (missing fields and the "
                                                      "integration user's permission set) to this folder")] = None,
        all_fields: Annotated[bool, typer.Option("--all", help="with --out: define every mapped field, "
                                                               "not only the missing ones")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False) -> None:
    """Check that the org has every mapped field with the right type and edit access (reads only).

    Exits 0 when the push can run, 1 when a problem would stop it, 2 when the check could not run.
    """
    from pathlib import Path

    from crm360.activation import mapping as mapping_file
    from crm360.activation import preflight
    from crm360.salesforce import client

    settings = Settings.from_env()
    try:
        mapping = mapping_file.load()
    except mapping_file.MappingError as exc:
        console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from exc
    try:
        sf = client.connect(settings.salesforce_conn_id)
        report = preflight.check_org(sf, mapping)
    except Exception as exc:  # login, connection or API errors come in many kinds: a person reads them
        console.print(f"[red]cannot check the Salesforce org of connection {settings.salesforce_conn_id}:[/] "
                      f"{type(exc).__name__}: {exc}", highlight=False)
        raise typer.Exit(2) from exc
    written: list[Path] = []
    if out is not None:
        targets = [t for t in preflight.mapped_fields(mapping)
                   if all_fields or (t.sobject, t.map.field) in {(f.sobject, f.field) for f in report.missing()}]
        written = preflight.write_metadata(Path(out), mapping, targets, api_version=report.api_version,
                                           extracted_objects=settings.sf_objects)
    if as_json:
        console.print_json(json.dumps({**report.to_dict(), "metadata": [str(p) for p in written]}))
        raise typer.Exit(0 if report.pushable else 1)
    colours = {preflight.OK: "green", preflight.WARNING: "yellow", preflight.TOO_SHORT: "yellow",
               preflight.TOO_SMALL: "yellow"}
    table = Table(title=f"mapped fields in {report.instance} ({mapping.path.name})")
    for column in ("object", "field", "expected", "found", "status"):
        table.add_column(column, no_wrap=column in ("object", "field"))
    for obj in report.objects:
        if obj.findings:
            table.add_row(obj.sobject, "(object)", obj.needs, "missing" if not obj.found else "no access",
                          f"[red]{obj.findings[0].status}[/]")
    for check in report.fields:
        table.add_row(check.sobject, check.field, check.expected, check.found,
                      f"[{colours.get(check.status, 'red')}]{check.status}[/]")
    console.print(table)
    for problem in report.problems:
        console.print(f"[red]✗[/] {problem}", highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]![/] {warning}", highlight=False)
    console.print(f"org: {report.org_kind} (Organization.IsSandbox {json.dumps(report.is_sandbox)}), "
                  f"API v{report.api_version}")
    ok = sum(1 for f in report.fields if f.status == preflight.OK)
    verdict = "[green]pushable[/]" if report.pushable else "[red]not pushable[/]"
    console.print(f"{len(report.fields)} mapped fields: {ok} ok, {len(report.problems)} problem(s), "
                  f"{len(report.warnings)} warning(s): {verdict}")
    if out is not None:
        defined = sum(1 for p in written if p.name.endswith(".field-meta.xml"))
        console.print(f"wrote {len(written)} files to {out} ({defined} field definition(s), permission set "
                      f"{preflight.PERMISSION_SET}). Deploy them with the Salesforce CLI (logged in to the org "
                      "as an admin; add --target-org ALIAS for another org than your default):")
        console.print(f"  cd {out} && sf project deploy start --source-dir force-app", highlight=False)
        console.print(f"  sf org assign permset --name {preflight.PERMISSION_SET} --on-behalf-of "
                      f"{_connection_login(settings.salesforce_conn_id)}", highlight=False)
    raise typer.Exit(0 if report.pushable else 1)


def _connection_login(conn_id: str) -> str:
    """The integration user of the Airflow connection (who gets the permission set), if it says."""
    try:
        from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

        return SalesforceHook.get_connection(conn_id).login or "<integration user>"
    except Exception:  # only used to print a command
        return "<integration user>"


sync_app = typer.Typer(no_args_is_help=True, help="What crm360 wrote to Salesforce: history, dead letters, rollback.")
app.add_typer(sync_app, name="sync")


@sync_app.command("history")
def sync_history(record_id: Annotated[str, typer.Argument(help="a Salesforce record Id")]) -> None:
    """What crm360 sent for one record, and when, with each outcome."""
    with _read_warehouse(Settings.from_env()) as con:
        rows = con.execute(
            f"select cast(ds as varchar), run_id, operation, success, coalesce(error, ''), sent_values, "
            f"strftime(attempted_at, '%Y-%m-%d %H:%M:%S') from {warehouse.OPS_SCHEMA}.sync_history "
            "where record_id = ? order by attempted_at", [record_id]).fetchall()
    table = Table(title=f"sent to {record_id}")
    for column in ("ds", "run", "operation", "ok", "values sent", "at"):
        table.add_column(column)
    for ds, run_id, operation, success, error, sent, at in rows:
        table.add_row(ds, run_id, operation, "yes" if success else f"[red]no: {error}[/]", sent or "", at)
    console.print(table)
    console.print(f"{len(rows)} writes recorded for {record_id}")


@sync_app.command("dead-letters")
def sync_dead_letters(every: Annotated[bool, typer.Option("--all", help="also succeeded and resolved ones")] = False
                      ) -> None:
    """Records Salesforce refused permanently; each is retried by every run until it succeeds or is resolved."""
    with _read_warehouse(Settings.from_env()) as con:
        rows = con.execute(
            f"select sobject, record_id, error_code, coalesce(error, ''), failed_runs, cast(first_ds as varchar), "
            f"cast(last_ds as varchar), status from {warehouse.OPS_SCHEMA}.sync_dead_letters "
            "where ? or status = 'open' order by last_ds desc, sobject, record_id", [every]).fetchall()
    table = Table(title="dead letters" + (" (all)" if every else " (open)"))
    for column in ("object", "record", "error", "runs", "first", "last", "status"):
        table.add_column(column)
    for sobject, record_id, code, error, runs, first, last, status in rows:
        table.add_row(sobject, record_id, f"{code}: {error[:80]}", str(runs), first, last, status)
    console.print(table)
    console.print(f"{len(rows)} dead letters; resolve one with: crm360 sync resolve <record_id> --note '...'")


@sync_app.command("resolve")
def sync_resolve(record_id: Annotated[str, typer.Argument(help="the Salesforce record Id of the dead letter")],
                 note: Annotated[str, typer.Option(help="why it needs no more retries")]) -> None:
    """Mark a dead letter resolved: the same values are not sent again (changed values are)."""
    settings = Settings.from_env()
    with _open_warehouse(settings) as con:
        found = con.execute(
            f"update {warehouse.OPS_SCHEMA}.sync_dead_letters set status = 'resolved', resolution = ?, "
            "updated_at = now() where record_id = ? and status = 'open' returning sobject", [note, record_id]
        ).fetchall()
    if not found:
        console.print(f"no open dead letter for {record_id} (see crm360 sync dead-letters)")
        raise typer.Exit(1)
    console.print(f"resolved the dead letter of {found[0][0]} {record_id}")


@sync_app.command("rollback")
def sync_rollback(to: Annotated[str, typer.Option("--to", help="the run date YYYY-MM-DD whose sync to return to")],
                  yes: Annotated[bool, typer.Option("--yes", help="write to Salesforce; without it only the plan "
                                                                  "is shown")] = False) -> None:
    """Re-apply the values crm360's fields had after that date's sync (a plan first; --yes writes)."""
    from datetime import date as date_type

    from crm360 import tasks
    from crm360.activation import mapping as mapping_file
    from crm360.activation import push, rollback
    from crm360.salesforce import client

    try:
        date_type.fromisoformat(to)
    except ValueError as exc:
        raise typer.BadParameter(f"{to!r} is not a date YYYY-MM-DD", param_hint="--to") from exc
    settings = Settings.from_env()
    mapping = mapping_file.load()
    started = time.monotonic()
    with _open_warehouse(settings) as con:
        newest = con.execute(f"select max(ds) from {warehouse.OPS_SCHEMA}.sync_history where success").fetchone()[0]
        if newest is None:
            console.print("crm360 has not written anything to Salesforce yet: nothing to roll back")
            raise typer.Exit(1)
        run_id = f"rollback__{to}__{int(time.time())}"
        session = client.SalesforceSession(lambda: client.connect(settings.salesforce_conn_id))
        options = tasks.write_options(settings)
        totals = {"records": 0, "changes": 0, "sent": 0, "succeeded": 0, "failed": 0}
        for publish_map in mapping.publish:
            plan = rollback.plan_rollback(con, publish_map, to, landing_root=settings.landing_root,
                                          today=newest.isoformat())
            totals["records"] += plan.total_records
            totals["changes"] += len(plan.changes)
            fields = plan.summary()["objects"]
            for sobject, entry in fields.items():
                for name, actions in sorted(entry["fields"].items()):
                    console.print(f"  {sobject}.{name}: {actions}", highlight=False)
            if yes and plan.changes:
                sf = session.sf
                from crm360.activation import preflight

                preflight.require_pushable(sf, mapping)
                push.check_org(sf, allow_production=tasks._allow_production(settings.salesforce_conn_id))
                result = push.PushResult(mode="pushed", reason=f"rollback to {to}", plan=plan)
                with console.status(f"rolling back {len(plan.changes)} {publish_map.model} records..."):
                    push.execute_push(session, con, plan, run_id, newest.isoformat(), result, options)
                totals["sent"] += result.sent
                totals["succeeded"] += result.succeeded
                totals["failed"] += result.failed
    what = "rolled back" if yes else "would roll back"
    console.print(f"{what}: {totals['changes']} of {totals['records']} records to their values after the sync of "
                  f"{to}; sent {totals['sent']}, {totals['succeeded']} ok, {totals['failed']} failed "
                  f"in {time.monotonic() - started:.1f}s (history run id {run_id})"
                  + ("" if yes else ". Nothing was written: re-run with --yes to write."))
    if totals["failed"]:
        raise typer.Exit(1)


privacy_app = typer.Typer(no_args_is_help=True, help="Right to be forgotten: deletion requests and their audit.")
app.add_typer(privacy_app, name="privacy")


@privacy_app.command("forget")
def privacy_forget(
    email: Annotated[str | None, typer.Option(help="an email of the person")] = None,
    customer_id: Annotated[str | None, typer.Option(help="their crm360 customer_id (cus_...)")] = None,
    salesforce_id: Annotated[str | None, typer.Option(help="the Id of one of their Contacts or Leads")] = None,
    requested_by: Annotated[str | None, typer.Option(help="who asked, e.g. a ticket number (no personal data)")]
    = None,
    now: Annotated[bool, typer.Option("--now", help="process it now instead of in the next nightly run")] = False,
) -> None:
    """Record a request to forget a person (one of --email, --customer-id, --salesforce-id); --now also runs it."""
    from crm360 import privacy

    given = [(k, v) for k, v in (("email", email), ("customer_id", customer_id), ("salesforce_id", salesforce_id))
             if v]
    if len(given) != 1:
        raise typer.BadParameter("give exactly one of --email, --customer-id, --salesforce-id")
    kind, value = given[0]
    settings = Settings.from_env()
    with warehouse.connect(settings.warehouse_path) as con:
        try:
            request_id = privacy.record_request(con, kind, value, requested_by)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=f"--{kind.replace('_', '-')}") from exc
    console.print(f"request {request_id} recorded (crm360_ops.privacy_requests)", highlight=False)
    if not now:
        console.print("the next nightly run processes it (task privacy_requests); --now runs it immediately")
        return
    from datetime import UTC, datetime

    today = datetime.now(UTC).date().isoformat()
    window = RunWindow.for_day(today, run_id=f"privacy__{int(time.time())}")
    with console.status("forgetting..."):
        summary = privacy.process_requests(window, settings)
    outcome = summary["requests"].get(request_id, {"status": "not processed"})
    console.print_json(json.dumps(outcome, default=str))
    if outcome.get("status") != "done":
        raise typer.Exit(1)


@privacy_app.command("requests")
def privacy_requests() -> None:
    """List deletion requests: id, status, when, and what each step did (no personal data)."""
    from crm360 import privacy

    settings = Settings.from_env()
    with _open_warehouse(settings) as con:
        privacy.ensure_tables(con)
        rows = con.execute(
            f"select request_id, identifier_type, status, attempts, cast(requested_at as varchar), "
            f"cast(processed_at as varchar), error from {warehouse.OPS_SCHEMA}.privacy_requests "
            "order by requested_at").fetchall()
    table = Table(title="privacy requests")
    for column in ("request", "by", "status", "attempts", "requested", "processed", "error"):
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)


def _open_warehouse(settings: Settings) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    if not settings.warehouse_path.exists():
        console.print(f"no warehouse at {settings.warehouse_path}: nothing has run yet (set CRM360_WAREHOUSE?)")
        raise typer.Exit(1)
    return warehouse.connect(settings.warehouse_path)


if __name__ == "__main__":
    app()
