"""One `dbt build` task against per-model Cosmos tasks, measured on the same warehouse (make bench).

Issue 9 asks to choose how dbt runs inside Airflow by measurement: astronomer-cosmos renders one
task per model (each its own dbt process, seconds of start-up each, and parallel ones would collide
on DuckDB's single writer), crm360_nightly runs one `dbt build`. Both DAGs (bench/dags/) run with
`airflow dags test` in a separate Airflow home, each on its own copy of the warehouse a nightly
bench run left, for the same run date. Records wall seconds, tasks and the per-task overhead to
`bench/results/dbt-orchestration-<scale>-<timestamp>.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
MODES = {"single_dbt_build": "bench_dbt_single", "cosmos_per_model": "bench_dbt_cosmos"}


def _env(home: Path, ds: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CRM360_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "bench" / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
        "CRM360_BENCH_DS": ds,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT / "plugins"), str(REPO_ROOT),
                                                    env.get("PYTHONPATH")])),
    })
    return env


def _airflow(env: dict[str, str], *args: str, log: Path) -> int:
    with log.open("a") as handle:
        return subprocess.run([str(Path(sys.executable).parent / "airflow"), *args], env=env, cwd=REPO_ROOT,
                              stdout=handle, stderr=subprocess.STDOUT, check=False).returncode


def _tasks(home: Path, dag_id: str) -> tuple[str, list[tuple[str, str, float]]]:
    with closing(sqlite3.connect(home / "airflow.db")) as con:
        run = con.execute("select run_id, state from dag_run where dag_id = ? order by id desc limit 1",
                          (dag_id,)).fetchone()
        if not run:
            return "missing", []
        rows = con.execute("select task_id, state, coalesce(duration, 0) from task_instance "
                           "where dag_id = ? and run_id = ?", (dag_id, run[0])).fetchall()
    return run[1], [(t, s or "none", float(d)) for t, s, d in rows]


def run(state: Path, warehouse: Path, landing: Path, ds: str) -> dict[str, Any]:
    """Both modes on copies of `warehouse` for run date `ds`; `state` is a scratch folder."""
    shutil.rmtree(state, ignore_errors=True)
    home = state / "airflow"
    home.mkdir(parents=True)
    log = state / "airflow.log"
    env = _env(home, ds)
    if _airflow(env, "db", "migrate", log=log) != 0:
        raise RuntimeError(f"airflow db migrate failed: see {log}")
    logical = (datetime.combine(date.fromisoformat(ds), datetime.min.time(), tzinfo=UTC) + timedelta(days=1))
    result: dict[str, Any] = {"ds": ds, "warehouse_bytes": warehouse.stat().st_size, "modes": {}}
    for mode, dag_id in MODES.items():
        copy = state / mode / warehouse.name
        copy.parent.mkdir(parents=True)
        shutil.copy2(warehouse, copy)
        mode_env = {**env, "CRM360_WAREHOUSE": str(copy), "CRM360_LANDING": str(landing)}
        started = time.monotonic()
        code = _airflow(mode_env, "dags", "test", dag_id, logical.isoformat(), log=state / f"{mode}.log")
        wall = time.monotonic() - started
        run_state, tasks = _tasks(home, dag_id)
        result["modes"][mode] = {
            "dag_id": dag_id, "state": run_state, "exit_code": code, "wall_seconds": round(wall, 1),
            "tasks": len(tasks), "task_seconds": round(sum(d for _, _, d in tasks), 1),
            "failed_tasks": sorted(t for t, s, _ in tasks if s != "success"),
            "log": str(state / f"{mode}.log"),
        }
    single, cosmos = result["modes"]["single_dbt_build"], result["modes"]["cosmos_per_model"]
    result["ok"] = single["state"] == "success" and cosmos["state"] == "success"
    result["cosmos_vs_single_wall"] = round(cosmos["wall_seconds"] / single["wall_seconds"], 2)
    # what each extra Airflow task and dbt process costs beyond the work one build does
    result["overhead_seconds_per_cosmos_task"] = round(
        (cosmos["wall_seconds"] - single["wall_seconds"]) / max(cosmos["tasks"], 1), 2)
    return result


def record(result: dict[str, Any], scale: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"dbt-orchestration-{scale}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    return path


def summary_line(result: dict[str, Any]) -> str:
    single, cosmos = result["modes"]["single_dbt_build"], result["modes"]["cosmos_per_model"]
    return (f"dbt in Airflow: one dbt build {single['wall_seconds']:.0f}s ({single['state']}) vs Cosmos "
            f"{cosmos['tasks']} per-model tasks {cosmos['wall_seconds']:.0f}s ({cosmos['state']}): "
            f"{result['cosmos_vs_single_wall']:.2f}x, {result['overhead_seconds_per_cosmos_task']:.1f}s "
            "overhead per task")


def main(argv: list[str] | None = None) -> int:
    """python -m bench.dbt_orchestration --warehouse W --landing L --ds D [--state S]"""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.dbt_orchestration", description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--ds", required=True)
    parser.add_argument("--state", type=Path, default=REPO_ROOT / ".bench" / "dbt-orchestration")
    parser.add_argument("--scale", default="adhoc")
    args = parser.parse_args(argv)
    result = run(args.state.resolve(), args.warehouse.resolve(), args.landing.resolve(), args.ds)
    print(summary_line(result))
    print(f"recorded {record(result, args.scale)}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
