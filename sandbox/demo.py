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
from datetime import date, timedelta
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
    """`make backfill FROM=... TO=...` on the demo's state: re-run a date range, oldest first, no push.

    Uses what `make demo` left (.demo/company, the warehouse, the landing zone): restarts the
    sandbox org with the demo company, then runs crm360_nightly once per date with
    `backfill=true` (never writes to Salesforce; reuses landed Salesforce partitions).
    """
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo backfill",
                                     description="re-run a date range of the demo, oldest first, no push")
    parser.add_argument("--from-date", required=True, type=date.fromisoformat)
    parser.add_argument("--to-date", required=True, type=date.fromisoformat)
    args = parser.parse_args(argv)
    if args.to_date < args.from_date:
        parser.error(f"--to-date {args.to_date} is before --from-date {args.from_date}")
    from sandbox.generator import load
    from sandbox.salesforce.process import start_sandbox

    paths = localrun.LocalPaths.under(localrun.REPO_ROOT / ".demo", visible_outputs=localrun.REPO_ROOT)
    if not (paths.company_dir / "manifest.json").exists():
        console.print("[red]no demo company in .demo/company: run `make demo` first[/]")
        return 2
    started = time.monotonic()
    dates = [(args.from_date + timedelta(days=i)).isoformat() for i in range((args.to_date - args.from_date).days + 1)]
    results: dict[str, str] = {}
    with start_sandbox(paths.sandbox_dir) as _server:
        load(paths.company_dir, paths.sandbox_dir / "server.json")
        server = json.loads((paths.sandbox_dir / "server.json").read_text())
        env = localrun.airflow_env(paths, server)
        localrun.prepare_airflow(env)
        for ds in dates:
            localrun.set_sandbox_clock(server, ds)
            log_file = paths.state / "logs" / f"backfill_{ds}.log"
            with console.status(f"backfill crm360_nightly ds={ds} (log: {log_file})..."):
                results[ds] = localrun.run_dag(env, ds, conf={"backfill": True}, log_file=log_file)
            colour = "green" if results[ds] == "success" else "red"
            console.print(f"ds={ds}: [{colour}]{results[ds]}[/] · report {paths.reports / ds / 'run_summary.md'}")
    failed = [ds for ds, state in results.items() if state != "success"]
    console.print(f"backfilled {len(dates)} dates in {time.monotonic() - started:.0f}s: "
                  f"{len(dates) - len(failed)} succeeded, {len(failed)} failed {' '.join(failed)}"
                  f" · nothing was written to Salesforce · warehouse {paths.warehouse}")
    return 1 if failed else 0


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
    console.print(f"landing zone: {paths.landing} · reports: {paths.reports / 'latest.md'} · Airflow log: {log_file}")
    console.print(f"finished in {seconds:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
