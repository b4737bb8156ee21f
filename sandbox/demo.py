"""`make demo`: the whole nightly job on embedded defaults, end to end, with a readable summary.

1. generate a small synthetic company (deterministic),
2. start the local Salesforce sandbox (HTTPS, local CA) and load the company's CRM records,
3. run `crm360_nightly` for one logical date with real Airflow (`airflow dags test`, SQLite
   metadata under .demo/airflow),
4. print what it did, stop the sandbox, and leave the warehouse for inspection.

Exits non-zero if any stage failed. Running it twice in a row starts from a clean state each time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sandbox import localrun

# The shop's initial export carries a year of orders, so segments and value models have history.
DEMO_HISTORY_DAYS = 365

console = Console()

DEMO_DATE = "2026-11-20"
DEMO_CUSTOMERS = 3000


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["backfill"]:
        return backfill(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=DEMO_CUSTOMERS)
    parser.add_argument("--date", default=DEMO_DATE,
                        help="the last run date (ds); the demo runs the two days before it first")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from sandbox.generator import generate, load
    from sandbox.salesforce.process import start_sandbox

    started = time.monotonic()
    paths = localrun.LocalPaths.under(localrun.REPO_ROOT / ".demo", visible_outputs=localrun.REPO_ROOT)
    paths.reset()
    console.rule("[bold]crm360 demo")
    with console.status("generating a synthetic company..."):
        manifest = generate(customers=args.customers, days=3, end_date=args.date, seed=args.seed,
                            out=paths.company_dir, history_days=DEMO_HISTORY_DAYS)
    console.print(f"[green]✓[/] generated {args.customers} customers, 3 days of channel exports "
                  f"(the first with {DEMO_HISTORY_DAYS} days of order history) → {paths.company_dir}")
    with start_sandbox(paths.sandbox_dir) as server:
        console.print(f"[green]✓[/] sandbox Salesforce at {server.instance_url} (CA: {server.ca_path})")
        with console.status("loading CRM records into the sandbox..."):
            loaded = load(paths.company_dir, paths.sandbox_dir / "server.json")
        console.print(f"[green]✓[/] loaded CRM records: {_counts(loaded)}")
        server_info = json.loads((paths.sandbox_dir / "server.json").read_text())
        env = localrun.airflow_env(paths, server_info)
        with console.status("preparing Airflow (SQLite metadata, pool)..."):
            localrun.prepare_airflow(env)
        # one nightly run per generated day, oldest first: the first lands the shop's order history,
        # the later ones show the incremental path (only changes extracted and pushed); stops at a failure
        for ds in manifest["date_range"]["days"]:
            localrun.set_sandbox_clock(server_info, ds)
            log_file = paths.state / "logs" / f"crm360_nightly_{ds}.log"
            with console.status(f"running crm360_nightly for ds={ds} (log: {log_file})..."):
                state = localrun.run_dag(env, ds, conf={"push": True}, log_file=log_file)
            console.print(f"[{'green' if state == 'success' else 'red'}]{'✓' if state == 'success' else '✗'}[/] "
                          f"crm360_nightly ds={ds}: {state}")
            if state != "success":
                break
        tasks = localrun.task_states(env, ds)
    ok = state == "success"
    _print_summary(paths, ds, state, tasks, manifest, time.monotonic() - started, log_file)
    return 0 if ok else 1


def backfill(argv: list[str]) -> int:
    """`make backfill FROM=... TO=...` on the demo's state: `airflow backfill create` against a running Airflow.

    Uses what `make demo` left (.demo/company, the warehouse, the landing zone): restarts the
    sandbox org with the demo company, starts a local Airflow deployment (sandbox/services.py:
    api-server, scheduler, dag-processor, LocalExecutor at parallelism 4, metadata in the SQLite file
    .demo/airflow/backfill.db, apart from the demo's `airflow dags test` runs), creates the backfill
    (oldest date first, one run at a time, dates already backfilled are run again), follows it, prints
    a summary and stops everything. Backfill runs never write to Salesforce; they reuse landed
    Salesforce partitions.
    """
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo backfill",
                                     description="backfill a date range of the demo with airflow backfill create")
    parser.add_argument("--from-date", required=True, type=date.fromisoformat)
    parser.add_argument("--to-date", required=True, type=date.fromisoformat)
    args = parser.parse_args(argv)
    if args.to_date < args.from_date:
        parser.error(f"--to-date {args.to_date} is before --from-date {args.from_date}")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sandbox import services
    from sandbox.generator import load
    from sandbox.salesforce.process import start_sandbox

    paths = localrun.LocalPaths.under(localrun.REPO_ROOT / ".demo", visible_outputs=localrun.REPO_ROOT)
    if not (paths.company_dir / "manifest.json").exists():
        console.print("[red]no demo company in .demo/company: run `make demo` first[/]")
        return 2
    started = time.monotonic()
    first, last = args.from_date.isoformat(), args.to_date.isoformat()
    log_dir = paths.state / "logs" / "services"
    console.rule(f"[bold]crm360 backfill {first} .. {last}")
    with start_sandbox(paths.sandbox_dir) as sandbox:
        with console.status("loading the demo company into the sandbox org..."):
            load(paths.company_dir, sandbox.server_file)
        server = json.loads(sandbox.server_file.read_text())
        localrun.set_sandbox_clock(server, last)
        metadata = f"sqlite:///{paths.airflow_home / 'backfill.db'}"
        env = services.deployment_env(localrun.airflow_env(paths, server), metadata_url=metadata,
                                      executor=services.LOCAL, parallelism=4)
        console.print(f"starting Airflow (api-server, scheduler, dag-processor; logs in {log_dir})...")
        with services.running(env, log_dir) as deployment:
            console.print(f"[green]✓[/] Airflow up: {deployment.api_url} (LocalExecutor, parallelism 4, "
                          f"metadata {metadata})")
            services.wait_for_dag(env)
            services.unpause(env)
            # a backfill left open (a stopped earlier run) is closed by the scheduler once its runs are done
            services.wait_backfills_complete(env)
            backfill_id = services.create_backfill(env, first, last, max_active_runs=1, reprocess="completed")
            created, skipped = services.backfill_plan(env, backfill_id)
            for ds, reason in skipped:
                console.print(f"[yellow]![/] ds={ds} not backfilled: {reason}")
            console.print(f"[green]✓[/] airflow backfill create --dag-id {localrun.DAG_ID} --from-date {first} "
                          f"--to-date {last} --max-active-runs 1: backfill {backfill_id}, {created} runs")
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console) as progress:
                bar = progress.add_task("backfill", total=created)

                def show(found: list[services.Run]) -> None:
                    done = [r for r in found if r.state in services.FINISHED]
                    running = [r for r in found if r.state == "running"]
                    now = ""
                    if running:
                        active = [t.task_id for t in services.task_runs(env, [running[0].run_id])
                                  if t.state == "running"]
                        now = f"ds={running[0].ds} {', '.join(active) or 'scheduling'}"
                    progress.update(bar, completed=len(done), description=f"backfill {now}".rstrip())

                runs = services.wait_for_runs(env, backfill_id=backfill_id, expected=created, timeout=6 * 3600,
                                              on_progress=show, deployment=deployment)
            with console.status("waiting for the scheduler to mark the backfill complete..."):
                services.wait_backfills_complete(env)
            console.print("stopping Airflow...")
    table = Table(title=f"backfill {backfill_id}: {first} .. {last}")
    for column in ("ds", "state", "report"):
        table.add_column(column)
    for run in runs:
        colour = "green" if run.state == "success" else "red"
        report = paths.reports / run.ds / "run_summary.md"
        table.add_row(run.ds, f"[{colour}]{run.state}[/]", str(report.relative_to(localrun.REPO_ROOT)))
    console.print(table)
    failed = [r.ds for r in runs if r.state != "success"]
    console.print(f"backfilled {len(runs)} dates in {time.monotonic() - started:.0f}s: {len(runs) - len(failed)} "
                  f"succeeded, {len(failed)} failed {' '.join(failed)}".rstrip())
    console.print("nothing was written to Salesforce: backfill runs plan the push and record it only "
                  "(crm360_ops.sync_plans; the push stage's reason in each report)")
    console.print(f"warehouse {paths.warehouse} · task logs {paths.airflow_home / 'logs'} · Airflow logs {log_dir}")
    return 1 if failed or skipped else 0


def _counts(loaded: dict) -> str:
    objects = loaded.get("objects", loaded)
    return ", ".join(f"{k} {v}" for k, v in objects.items() if isinstance(v, int))


def _print_summary(paths: localrun.LocalPaths, ds: str, state: str, tasks: dict[str, str], manifest: dict,
                   seconds: float, log_file: Path) -> None:
    from crm360.report import personalization_line

    stages = Table(title=f"crm360_nightly ds={ds}: {state}", show_lines=False)
    stages.add_column("stage")
    stages.add_column("state")
    for task_id, task_state in tasks.items():
        colour = "green" if task_state == "success" else "red"
        stages.add_row(task_id, f"[{colour}]{task_state}[/]")
    console.print(stages)
    summary_path = paths.reports / ds / "run_summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        rows = Table(title="what the run did")
        rows.add_column("stage")
        rows.add_column("metric")
        rows.add_column("value", justify="right")
        for stage, metrics in summary["stages"].items():
            for metric, value in metrics.items():
                rows.add_row(stage, metric, f"{value:g}")
        console.print(rows)
        sf = summary["salesforce"]
        console.print(
            f"customers unified: [bold]{summary['customers_unified']}[/] from {summary['source_records_unified']} "
            f"source records · checks: [bold]{summary['checks_passed']} passed, {summary['checks_failed']} failed[/]"
            f" · Salesforce: [bold]{sf['records_written']} records written[/], {sf['records_failed']} failed, "
            f"{sf['api_calls']} API calls")
        segs = summary.get("segments") or []
        small = [s["segment_name"] for s in segs if s["is_below_min_size"]]
        console.print(f"segments: [bold]{len(segs)}[/] built, {sum(s['members'] for s in segs)} memberships, "
                      f"{sum(s['sendable_members'] for s in segs)} sendable"
                      + (f"; below minimum size (not sent): {', '.join(small)}" if small else ""))
        console.print(f"personalization: {personalization_line(summary.get('personalization') or {})}")
    else:
        console.print(f"[red]no run summary at {summary_path}[/]")
    console.print(f"warehouse: {paths.warehouse} (tables marts.customer_360, marts.customer_personalization, "
                  "marts.customer_segments, marts.segment_summary, publish.contact_attributes, crm360_ops.*)")
    console.print("look around: .venv/bin/crm360 report · .venv/bin/crm360 partitions")
    console.print(f"landing zone: {paths.landing} · reports: {paths.reports / 'latest.md'} and, with charts, "
                  f"{paths.reports / 'latest.html'} · Airflow log: {log_file}")
    console.print(f"finished in {seconds:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
