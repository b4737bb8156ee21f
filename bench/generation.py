"""Generation benchmark: how fast the synthetic company is written, and how much memory and disk it takes.

    python -m bench.generation --scale 100k [--days 365] [--corrupt 0.01]

Generation runs in a child process so its peak RSS is measured alone. Per stage (people, crm,
channels, truth) it records wall seconds, rows written and rows/s; in all, peak RSS, output size,
and, with ``--load``, the records put into a sandbox Salesforce and the API calls that took. The
record goes to ``bench/results/generate-<scale>-<days>d-<timestamp>.json`` and a Markdown table
beside it (``.md``), so numbers can be compared across commits.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SCALES = {"small": 3_000, "100k": 100_000, "1m": 1_000_000, "5m": 5_000_000}
END_DATE = "2026-11-20"
TARGETS = {"5m_minutes": 15, "peak_rss_gib": 8, "disk_gb": 30}

_CHILD = """
import json, sys
from sandbox.generator import generate
args = json.loads(sys.argv[1])
stages = {}
manifest = generate(args["customers"], args["days"], args["end_date"], args["seed"], args["out"],
                    corrupt=args["corrupt"], stages=stages)
print(json.dumps({"stages": stages, "counts": manifest["counts"]}))
"""


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(customers: int, days: int, seed: int, out: Path, corrupt: float = 0.0) -> dict[str, Any]:
    """Generate in a child process; return stages, totals, peak RSS and output size."""
    args = {"customers": customers, "days": days, "end_date": END_DATE, "seed": seed, "out": str(out),
            "corrupt": corrupt}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args)], capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"generation failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    child = json.loads(done.stdout.strip().splitlines()[-1])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    stages = {name: {**s, "rows_per_s": round(s["rows_out"] / s["seconds"]) if s["seconds"] else None}
              for name, s in child["stages"].items()}
    rows = sum(s["rows_out"] for name, s in stages.items() if name in ("crm", "channels"))
    return {"customers": customers, "days": days, "seed": seed, "corrupt": corrupt, "wall_s": round(wall, 2),
            "stages": stages, "rows_out": rows, "rows_per_s": round(rows / wall), "peak_rss_mb": round(peak_mb, 1),
            "output_mb": round(_size(out) / 2**20, 1), "counts": child["counts"]}


def load_into_sandbox(out: Path, state: Path) -> dict[str, Any]:
    from sandbox.generator import load
    from sandbox.salesforce.process import start_sandbox

    started = time.perf_counter()
    with start_sandbox(state) as sandbox:
        result = load(out, sandbox.server_file)
    return {"seconds": round(time.perf_counter() - started, 2), "records": sum(result["objects"].values()),
            "api_calls": result["api_calls"]}


def markdown(result: dict[str, Any]) -> str:
    g = result["generation"]
    lines = [
        f"# Generation: {g['customers']:,} customers x {g['days']} days (commit {result['commit']}, "
        f"{result['started_at'][:19]}Z)",
        "",
        "| stage | wall s | rows in | rows out | rows/s | peak RSS MB | API calls |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows_in = g["customers"]
    for name, s in g["stages"].items():
        lines.append(f"| {name} | {s['seconds']:.1f} | {rows_in:,} | {s['rows_out']:,} | "
                     f"{s['rows_per_s'] or 0:,} | | 0 |")
    lines.append(f"| **generate (all)** | {g['wall_s']:.1f} | {g['customers']:,} | {g['rows_out']:,} | "
                 f"{g['rows_per_s']:,} | {g['peak_rss_mb']:,.0f} | 0 |")
    if result.get("load"):
        ld = result["load"]
        lines.append(f"| load into sandbox | {ld['seconds']:.1f} | {ld['records']:,} | {ld['records']:,} | "
                     f"{round(ld['records'] / ld['seconds']) if ld['seconds'] else 0:,} | | {ld['api_calls']:,} |")
    lines += ["", f"Output on disk: {g['output_mb']:,.0f} MB. Targets at 5m customers x ~365 days: under "
              f"{TARGETS['5m_minutes']} minutes, peak RSS under {TARGETS['peak_rss_gib']} GiB, under "
              f"{TARGETS['disk_gb']} GB on disk.", ""]
    return "\n".join(lines)


def record(result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    g = result["generation"]
    path = RESULTS / f"generate-{result['scale']}-{g['days']}d-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(result))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generation", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--customers", type=int, help="overrides --scale")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--corrupt", type=float, default=0.0)
    parser.add_argument("--load", action="store_true", help="also load the CRM into a sandbox Salesforce")
    parser.add_argument("--state", type=Path, default=Path(__file__).resolve().parent.parent / ".bench" / "generation")
    args = parser.parse_args(argv)
    customers = args.customers or SCALES[args.scale]
    out = args.state / f"{customers}-{args.days}d"
    result: dict[str, Any] = {"scale": args.scale if not args.customers else str(customers), "commit": _git_commit(),
                              "started_at": datetime.now(UTC).isoformat()}
    result["generation"] = measure(customers, args.days, args.seed, out, args.corrupt)
    if args.load:
        result["load"] = load_into_sandbox(out, args.state / "sandbox")
    path = record(result)
    print(markdown(result))
    print(f"results: {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
