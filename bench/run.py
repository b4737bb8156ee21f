"""`make bench SCALE=...`: run the nightly job at a given scale and record how fast and how big.

For each scale: generate the company, start the sandbox Salesforce, load the CRM records, then run
`crm360_nightly` with real Airflow for consecutive dates, exactly as the demo does. Records
wall-clock seconds per phase and per DAG task, rows processed, the warehouse size and the peak
memory of the child processes, to `bench/results/<scale>-<timestamp>.json` and one line per run to
`bench/results/history.csv`, so numbers can be compared across commits.

Scales: small (3k customers, what CI could afford), 100k, 1m, 5m. The targets live in the README.
Besides the nightly runs: the offline evaluation of next-best products (bench/recommendations.py),
customer value (bench/value.py), activation at scale, diff-based push against a full re-push
(bench/activation.py: 20k, 100k, 1M or 5M Contacts by scale), and dbt inside Airflow as one
`dbt build` task against per-model Cosmos tasks (bench/dbt_orchestration.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import activation, dbt_orchestration, generation, recommendations
from bench import value as value_bench
from sandbox import localrun

console = Console()
RESULTS = Path(__file__).resolve().parent / "results"
SCALES = {"small": 3_000, "100k": 100_000, "1m": 1_000_000, "5m": 5_000_000}
END_DATE = "2026-11-20"


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=localrun.REPO_ROOT, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _peak_child_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _sandbox_api_calls(server: dict[str, Any]) -> int:
    import requests

    stats = requests.get(f"{server['instance_url']}/sandbox/stats", verify=server["ca"], timeout=60).json()
    return int(stats.get("api_calls", 0))


def _warehouse_facts(paths: localrun.LocalPaths) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per object and date: REST or Bulk, rows; and identity accuracy against the generator's truth."""
    import duckdb

    from sandbox.evaluate import pairwise, truth_by_record_key

    if not paths.warehouse.exists():
        return [], {}
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        extracts = [dict(zip(("ds", "sobject", "mode", "method", "rows"), row, strict=True)) for row in con.execute(
            "select cast(ds as varchar), sobject, mode, method, rows_landed from crm360_ops.sf_extracts "
            "order by ds, sobject").fetchall()]
        stitched = con.execute("select record_key, customer_id from intermediate.int_customers_stitched").fetchall()
        linkable = {r[0] for r in con.execute(
            "select distinct record_key from intermediate.int_identity_identifiers").fetchall()}
    finally:
        con.close()
    score = pairwise(stitched, truth_by_record_key(paths.company_dir), linkable)
    return extracts, {"records": score.records, "precision": round(score.precision, 4),
                      "recall": round(score.recall, 4)}


def run(scale: str, days: int, seed: int, state: Path) -> dict[str, Any]:
    from sandbox.generator import load
    from sandbox.salesforce.process import start_sandbox

    customers = SCALES[scale]
    paths = localrun.LocalPaths.under(state)
    paths.reset()
    dates = [(date.fromisoformat(END_DATE) - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    result: dict[str, Any] = {"scale": scale, "customers": customers, "days": dates, "commit": _git_commit(),
                              "started_at": datetime.now(UTC).isoformat(), "phases": {}, "runs": {}}
    t0 = time.monotonic()
    with console.status(f"generating {customers:,} customers x {days} days..."):
        # in a child process, so the generator's own peak memory is measured
        result["generation"] = generation.measure(customers, days, seed, paths.company_dir)
    result["phases"]["generate_s"] = round(time.monotonic() - t0, 2)
    result["generated"] = result["generation"]["counts"]
    with start_sandbox(paths.sandbox_dir) as _sandbox:
        server = json.loads((paths.sandbox_dir / "server.json").read_text())
        t0 = time.monotonic()
        loaded = load(paths.company_dir, paths.sandbox_dir / "server.json")
        result["phases"]["load_sandbox_s"] = round(time.monotonic() - t0, 2)
        result["load"] = {"seconds": result["phases"]["load_sandbox_s"], "records": sum(loaded["objects"].values()),
                          "api_calls": loaded["api_calls"]}
        env = localrun.airflow_env(paths, server)
        localrun.prepare_airflow(env)
        for ds in dates:
            localrun.set_sandbox_clock(server, ds)
            calls_before = _sandbox_api_calls(server)
            t0 = time.monotonic()
            with console.status(f"crm360_nightly ds={ds}..."):
                dag_state = localrun.run_dag(env, ds, conf={"push": True}, log_file=paths.state / "logs" / f"{ds}.log")
            summary_path = paths.reports / ds / "run_summary.json"
            result["runs"][ds] = {
                "state": dag_state,
                "wall_s": round(time.monotonic() - t0, 2),
                "tasks_s": localrun.task_durations(env, ds),
                "summary": json.loads(summary_path.read_text()) if summary_path.exists() else None,
                "salesforce_api_calls": _sandbox_api_calls(server) - calls_before,
            }
    result["extract"], result["identity"] = _warehouse_facts(paths)
    result["warehouse_mb"] = round(paths.warehouse.stat().st_size / 2**20, 1) if paths.warehouse.exists() else None
    result["peak_child_rss_mb"] = round(_peak_child_rss_mb(), 1)
    result["ok"] = all(r["state"] == "success" for r in result["runs"].values())
    return result


def record(result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{result['scale']}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    path.with_suffix(".md").write_text(generation.markdown(result))
    history = RESULTS / "history.csv"
    new = not history.exists()
    last = result["runs"][result["days"][-1]]
    with history.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["started_at", "commit", "scale", "customers", "days", "ok", "generate_s", "load_sandbox_s",
                             "last_run_wall_s", "last_run_dbt_s", "warehouse_mb", "peak_child_rss_mb"])
        writer.writerow([result["started_at"], result["commit"], result["scale"], result["customers"],
                         len(result["days"]), result["ok"], result["phases"]["generate_s"],
                         result["phases"]["load_sandbox_s"], last["wall_s"], last["tasks_s"].get("dbt_build"),
                         result["warehouse_mb"], result["peak_child_rss_mb"]])
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--days", type=int, default=3, help="consecutive nightly runs (default 3)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--state", type=Path, default=localrun.REPO_ROOT / ".bench",
                        help="working folder (default .bench, ignored by git)")
    parser.add_argument("--skip-recommendations", action="store_true",
                        help="skip the offline evaluation of next-best products (bench/recommendations.py)")
    parser.add_argument("--skip-activation", action="store_true",
                        help="skip the push at scale: initial sync, nightly diff, full re-push (bench/activation.py)")
    parser.add_argument("--skip-dbt-orchestration", action="store_true",
                        help="skip one dbt build vs per-model Cosmos tasks (bench/dbt_orchestration.py)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = run(args.scale, args.days, args.seed, args.state / args.scale)
    if not args.skip_dbt_orchestration and result["ok"]:
        # on the warehouse and landing zone the nightly runs left, for their last date
        paths = localrun.LocalPaths.under(args.state / args.scale)
        with console.status("dbt in Airflow: one dbt build task vs per-model Cosmos tasks..."):
            result["dbt_orchestration"] = dbt_orchestration.run(args.state / "dbt-orchestration", paths.warehouse,
                                                                paths.landing, result["days"][-1])
        dbt_orchestration.record(result["dbt_orchestration"], args.scale)
    if not args.skip_recommendations:
        # accuracy, not speed: its own fixed-size companies (with and without co-purchase structure)
        with console.status("offline evaluation of next-best products..."):
            result["recommendations"] = recommendations.run(args.state / "recommendations", **recommendations.DEFAULTS)
        recommendations.record(result["recommendations"])
    with console.status("customer value: generating order history, fitting BG/NBD + Gamma-Gamma..."):
        result["value"] = value_bench.run(args.state / "value", seed=args.seed)
    if not args.skip_activation:
        contacts = activation.SCALES[args.scale]
        with console.status(f"activation: {contacts:,} Contacts: initial sync, nightly diff, full re-push..."):
            result["activation"] = activation.run(args.state / "activation", contacts, seed=args.seed)
        activation.record(result["activation"])
    path = record(result)
    table = Table(title=f"bench {args.scale}: {result['customers']:,} customers, {len(result['days'])} nightly runs")
    table.add_column("phase / run")
    table.add_column("state")
    table.add_column("seconds", justify="right")
    for phase, seconds in result["phases"].items():
        table.add_row(phase, "", f"{seconds:.1f}")
    for ds, run_result in result["runs"].items():
        slowest = max(run_result["tasks_s"].items(), key=lambda kv: kv[1], default=("-", 0.0))
        table.add_row(f"crm360_nightly {ds} (slowest: {slowest[0]} {slowest[1]:.1f}s)", run_result["state"],
                      f"{run_result['wall_s']:.1f}")
    console.print(table)
    if result.get("value"):
        console.print(value_bench.summary_line(result["value"]))
    if result.get("activation"):
        console.print(activation.summary_line(result["activation"]))
    if result.get("dbt_orchestration"):
        console.print(dbt_orchestration.summary_line(result["dbt_orchestration"]))
    if result.get("identity"):
        console.print(f"identity vs ground truth: precision {result['identity']['precision']}, recall "
                      f"{result['identity']['recall']} over {result['identity']['records']} records")
    bulk = sum(1 for e in result.get("extract", []) if e["method"] == "bulk")
    console.print(f"Salesforce extracts: {len(result.get('extract', []))} (bulk {bulk}); API calls per run: "
                  + ", ".join(f"{ds} {r['salesforce_api_calls']}" for ds, r in result["runs"].items()))
    if result.get("recommendations"):
        console.print(recommendations.markdown(result["recommendations"]))
    console.print(f"warehouse {result['warehouse_mb']} MB · peak child RSS {result['peak_child_rss_mb']} MB · "
                  f"results: {path} (history: {RESULTS / 'history.csv'}) · {time.monotonic() - started:.0f}s in all")
    return 0 if result["ok"] and result.get("activation", {"ok": True})["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
