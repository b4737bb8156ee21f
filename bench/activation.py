"""Activation at scale: crm360's diff-based push against a full re-push, on the sandbox org.

    python -m bench.activation --records 100000 [--changed-share 0.02] [--seed 7]

Starts the sandbox Salesforce (in memory), seeds ``records`` Contacts through ``/sandbox/seed``
(generator-style Ids, ``sandbox.generator.ids.sf_id``), writes ``publish.contact_attributes`` with one
row per Contact and every column of the default mapping's contact_attributes entry
(salesforce_mapping.yml; campaign membership and record creation are left out), generated in
DuckDB SQL from the seed, and measures three pushes through the real
``crm360.tasks.push_to_salesforce`` (scheduled runs, one date each, default settings):

1. initial sync (2026-11-18): every record is new;
2. nightly diff (2026-11-19): about ``changed_share`` of the rows changed (45% churn risk moves,
   40% segment moves, 15% a new order: order count, lifetime value, last order date, churn,
   lifecycle segment, next-best product);
3. full re-push (2026-11-20): ``crm360_ops.sync_state`` emptied, ``allow_large_push``: what a
   push without the diff sends for the same publish model.

Before pushes 2 and 3 the landing zone gets the push echo the nightly extract would land (the
Contacts crm360 wrote the night before, with the values it wrote), so the plan's join against
current CRM values (``respect_edits`` of Crm360_Preferred_Channel__c) costs what it costs in
production. Per push: wall time, records planned / sent / succeeded, API calls (``/sandbox/stats``
before and after, beside crm360's own count), the write method per object, the time split into
plan / checks / write / verify (the bench wraps crm360's functions; no product code changes), the
CPU seconds of the sandbox process (the emulated org's share of the wall time) and the peak RSS of
this process and of the sandbox. The sandbox finishes Bulk jobs synchronously, so wall times leave
out the queueing a real org adds to every Bulk job.

``make bench`` runs this (bench/run.py, records by scale); alone, it writes
bench/results/activation-<records>-<timestamp>.json and .md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import resource
import shutil
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import environment

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parents[1]
SEGMENTS_YML = REPO_ROOT / "dbt_project" / "models" / "segments" / "segments.yml"
OFFERS_CSV = REPO_ROOT / "dbt_project" / "seeds" / "offer_catalog.csv"
MODEL = "contact_attributes"
# (label, run date): the initial sync, the nightly diff, the full re-push
PUSHES = (("initial", "2026-11-18"), ("diff", "2026-11-19"), ("full", "2026-11-20"))
LABELS = {"initial": "initial sync", "diff": "nightly diff", "full": "full re-push"}
# records by `make bench` scale
SCALES = {"small": 20_000, "100k": 100_000, "1m": 1_000_000, "5m": 5_000_000}
SEED_CHUNK = 10_000
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# ----------------------------------------------------------------------------- the generated data

def _contact_id_sql(serial: str) -> str:
    """SQL for ``sandbox.generator.ids.sf_id("Contact", serial)``, vectorised (no lambdas: DuckDB's
    list lambdas take ~40 s per million ids, plain expressions ~1 s)."""
    from sandbox.generator.ids import GENERATOR_POD, KEY_PREFIX

    digits = " || ".join(f"substr('{_BASE62}', cast(({serial} + 1) // {62 ** (8 - k)} % 62 as integer) + 1, 1)"
                         for k in range(9))
    id15 = f"('{KEY_PREFIX['Contact']}{GENERATOR_POD}0' || {digits})"
    checksum = " || ".join(
        "substr('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345', 1 + "
        + " + ".join(f"(case when substr(id15, {chunk * 5 + pos + 1}, 1) between 'A' and 'Z' "
                     f"then {1 << pos} else 0 end)" for pos in range(5)) + ", 1)"
        for chunk in range(3))
    return f"(select id15 || {checksum} from (select {id15} as id15))"


def _vocabulary() -> dict[str, list[str]]:
    """Segment names (by exclusivity group) from the segment catalog, offers from the offer seed,
    product titles from the sandbox shop's catalog: the values the real models publish."""
    import csv

    import yaml

    from sandbox.generator.catalog import build_catalog

    catalog = yaml.safe_load(SEGMENTS_YML.read_text())
    segments = next(m for m in catalog["models"] if m["name"] == "segment_definitions")["config"]["meta"]["segments"]
    groups: dict[str | None, list[str]] = defaultdict(list)
    for segment in segments:
        groups[segment.get("exclusivity_group")].append(segment["name"])
    with OFFERS_CSV.open(newline="") as handle:
        offers = [row["offer_name"] for row in csv.DictReader(handle)]
    return {"rfm": groups["rfm"], "lifecycle": [s for s in groups["lifecycle"] if s != "lifecycle_lead"],
            "extra": groups[None], "offers": offers, "products": list(build_catalog().title)}


def _macros(con: Any, seed: int) -> None:
    # a deterministic uniform [0, 1) per (record, purpose): the same seed gives the same company
    con.execute(f"create or replace temp macro u(key, tag) as (hash(key, tag, {int(seed)}) % 1000000) / 1000000.0")


def publish_sql(vocabulary: dict[str, list[str]], changed_share: float) -> str:
    """The SELECT of publish.contact_attributes from ``bench_ids(sfdc_record_id)``: the initial
    model (changed_share 0) or the next night's, with ``changed_share`` of the rows changed."""
    def pick(name: str, tag: str, shift: str = "0") -> str:
        values = vocabulary[name]
        listed = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
        return f"[{listed}][1 + (cast(floor(u(id, '{tag}') * {len(values)}) as integer) + {shift}) % {len(values)}]"

    share = float(changed_share)
    rfm_move = "case when segment_move then 1 + cast(floor(u(id, 'rfm_move') * 10) as integer) else 0 end"
    extra_move = "case when segment_move then 1 + cast(floor(u(id, 'extra_move') * 17) as integer) else 0 end"
    return f"""
    with base as (
        select sfdc_record_id as id, u(sfdc_record_id, 'ordered') < 0.72 as ordered,
               u(sfdc_record_id, 'change') < {share} as changed, u(sfdc_record_id, 'kind') as kind
        from bench_ids
    ),
    drawn as (
        select *,
            case when ordered then 1 + cast(floor(-ln(1 - u(id, 'orders')) * 2.5) as integer) else 0 end as orders,
            case when ordered then round(100 * u(id, 'churn'), 2) end as churn,
            changed and (kind < 0.85 and (kind >= 0.45 or not ordered)) as segment_move,
            changed and kind < 0.45 and ordered as churn_move,
            changed and kind >= 0.85 as new_order
        from base
    ),
    night as (
        select *,
            orders + case when new_order then 1 else 0 end as order_count,
            round(orders * (20 + -ln(1 - u(id, 'aov')) * 60)
                  + case when new_order then 20 + 80 * u(id, 'new_order_value') else 0 end, 2) as lifetime_value,
            case when new_order then date '2026-11-19'
                 when ordered then date '2026-11-18' - cast(floor(pow(u(id, 'recency'), 2) * 700) as integer)
            end as last_order_date,
            case when churn_move then round((churn + 3 + 25 * u(id, 'churn_move')) % 100, 2)
                 when new_order then round(coalesce(churn * 0.4, 5 + 20 * u(id, 'churn_new')), 2)
                 else churn end as churn_risk_pct,
            case when not (ordered or new_order) then null
                 else {pick('rfm', 'rfm', rfm_move)}
            end as rfm,
            case when new_order and not ordered then 'lifecycle_new' when new_order then 'lifecycle_active'
                 when ordered then {pick('lifecycle', 'lifecycle')} else 'lifecycle_lead' end as lifecycle,
            case when u(id, 'extra_1') < 0.7 or segment_move
                 then {pick('extra', 'extra_1', extra_move)}
            end as extra_1,
            case when u(id, 'extra_2') < 0.35 then {pick('extra', 'extra_2')} end as extra_2
        from drawn
    )
    select
        id as sfdc_record_id,
        'Contact' as sobject_type,
        'cus_' || substr(md5(id), 1, 16) as customer_id,
        lifetime_value,
        order_count,
        last_order_date,
        case when u(id, 'mail') < 0.25 then 'engaged' when u(id, 'mail') < 0.6 then 'passive'
             when u(id, 'mail') < 0.85 then 'unengaged' else 'unreached' end as email_engagement,
        left(array_to_string(list_sort(list_distinct(
            list_filter([rfm, lifecycle, extra_1, extra_2], lambda s: s is not null))), ';'), 255) as segment_names,
        {pick('products', 'product', "case when new_order then 1 else 0 end")} as next_best_product,
        case when u(id, 'offer') < 0.85 then {pick('offers', 'offer_name')} end as next_best_offer,
        churn_risk_pct,
        case when u(id, 'channel') < 0.55 then 'email' when u(id, 'channel') < 0.8 then 'web'
             when u(id, 'channel') < 0.9 then 'phone' else 'none' end as preferred_channel,
        cast(floor(24 * u(id, 'hour')) as integer) as best_send_hour
    from night
    """


def write_publish(warehouse_path: Path, records: int, seed: int, vocabulary: dict[str, list[str]],
                  changed_share: float) -> None:
    """(Re)write publish.contact_attributes for ``records`` Contacts (one row each)."""
    import duckdb

    from sandbox.generator.ids import sf_id

    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse_path))
    try:
        _macros(con, seed)
        con.execute("create schema if not exists publish")
        con.execute(f"create or replace temp table bench_ids as select {_contact_id_sql('range')} as sfdc_record_id "
                    f"from range({int(records)})")
        sample = con.execute("select sfdc_record_id from bench_ids where rowid in (0, 1, 61, 62, ?) order by rowid",
                             [records - 1]).fetchall()
        expected = [sf_id("Contact", s) for s in sorted({0, 1, 61, 62, records - 1}) if s < records]
        if [r[0] for r in sample] != expected:
            raise RuntimeError(f"the SQL Contact Ids {sample} differ from sandbox.generator.ids.sf_id {expected}")
        con.execute(f"create or replace table publish.{MODEL} as {publish_sql(vocabulary, changed_share)}")
    finally:
        con.close()


def seed_contacts(server: dict[str, Any], warehouse_path: Path) -> dict[str, Any]:
    """POST one Contact per published row to /sandbox/seed, ``SEED_CHUNK`` at a time."""
    import duckdb
    import httpx

    con = duckdb.connect(str(warehouse_path), read_only=True)
    started = time.perf_counter()
    calls = inserted = 0
    try:
        reader = con.execute(
            "select to_json({'Id': sfdc_record_id, 'FirstName': 'Bench', "
            "'LastName': 'Contact ' || right(sfdc_record_id, 9), "
            f"'Email': lower(right(sfdc_record_id, 12)) || '@bench.example'}})::varchar from publish.{MODEL} "
            "order by sfdc_record_id").fetch_record_batch(SEED_CHUNK)
        with httpx.Client(base_url=server["instance_url"], verify=server["ca"], timeout=600.0) as client:
            for batch in reader:
                rows = batch.column(0).to_pylist()
                body = '{"object": "Contact", "records": [' + ",".join(rows) + "]}"
                response = client.post("/sandbox/seed", content=body.encode(),
                                       headers={"Content-Type": "application/json"})
                calls += 1
                if response.status_code >= 400:
                    raise RuntimeError(f"seeding Contacts (chunk {calls}) failed with HTTP {response.status_code}: "
                                       f"{response.text[:500]}")
                inserted += int(response.json()["inserted"])
    finally:
        con.close()
    return {"contacts": inserted, "calls": calls, "seconds": round(time.perf_counter() - started, 2)}


def write_echo(warehouse_path: Path, landing_root: Path, ds: str, seed: int, changed_share: float,
               only_changed: bool) -> int:
    """Land what the nightly extract for ``ds`` would land of crm360's own writes (the push echo):
    the Contacts pushed the night before with the values pushed, stamped just after that push."""
    import duckdb

    from crm360.activation import mapping as mapping_file

    publish = next(p for p in mapping_file.load().publish if p.model == MODEL)
    columns = ", ".join(f'"{f.column}" as "{f.field}"' for f in publish.fields)
    out = landing_root / "salesforce" / "contact" / f"ds={ds}"
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        _macros(con, seed)
        where = f"where u(sfdc_record_id, 'change') < {float(changed_share)}" if only_changed else ""
        con.execute(f"""copy (select sfdc_record_id as Id, timestamptz '{ds} 00:30:00+00' as SystemModstamp,
                                     false as IsDeleted, {columns}
                              from publish.{MODEL} {where})
                        to '{(out / "part-00000.parquet").as_posix()}' (format parquet)""")
        return int(con.execute(f"select count(*) from read_parquet('{(out / 'part-00000.parquet').as_posix()}')")
                   .fetchone()[0])
    finally:
        con.close()


def bench_mapping(path: Path) -> Path:
    """The default mapping's contact_attributes entry alone: the field updates this bench measures
    (no campaign membership, no record creation: their models are not built here)."""
    import yaml

    from crm360.activation.mapping import DEFAULT_MAPPING

    document = yaml.safe_load(DEFAULT_MAPPING.read_text())
    document["publish"] = [entry for entry in document["publish"] if entry["model"] == MODEL]
    document.pop("campaigns", None)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


# ----------------------------------------------------------------------------- measuring

class Stopwatch:
    """Seconds spent inside named functions of crm360's modules, by wrapping them for a block."""

    TARGETS = (  # (module, attribute, label)
        ("crm360.activation.push", "plan_push", "plan"),
        ("crm360.activation.push", "record_plan", "record_plan"),
        ("crm360.tasks", "_check_before_writing", "checks"),
        ("crm360.activation.push", "execute_push", "execute_push"),
        ("crm360.activation.push", "write_records", "write_records"),
        ("crm360.activation.push", "_store_outcomes", "store_outcomes"),
        ("crm360.activation.push", "verify_push", "verify_push"),
        ("crm360.activation.push", "_read_back", "read_back"),
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def wrapping(self) -> Iterator[Stopwatch]:
        import importlib

        originals = []
        for module_name, attribute, label in self.TARGETS:
            module = importlib.import_module(module_name)
            original = getattr(module, attribute)
            originals.append((module, attribute, original))
            setattr(module, attribute, self._timed(original, label))
        try:
            yield self
        finally:
            for module, attribute, original in originals:
                setattr(module, attribute, original)

    def _timed(self, function: Any, label: str) -> Any:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
        return timed

    def split(self, wall: float) -> dict[str, float]:
        """Where the push's wall time went (the nested parts subtracted from their callers)."""
        s = self.seconds
        parts = {
            "plan": s["plan"] + s["record_plan"],
            "checks": s["checks"],
            "write: prepare": s["execute_push"] - s["write_records"],
            "write: Salesforce calls": s["write_records"] - s["store_outcomes"],
            "write: store outcomes": s["store_outcomes"],
            "verify: read back": s["read_back"],
            "verify: compare, store": s["verify_push"] - s["read_back"],
        }
        parts["other"] = wall - sum(parts.values())
        return {k: round(v, 2) for k, v in parts.items()}


def _reset_peak_rss() -> None:
    """Start a new peak-RSS measurement for this process (Linux; elsewhere the peak is the process's)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _process_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process_peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _api_calls(server: dict[str, Any]) -> int:
    import requests

    return int(requests.get(f"{server['instance_url']}/sandbox/stats", verify=server["ca"], timeout=300)
               .json()["api_calls"])


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """crm360's INFO log (the push's own summary lines, retries) to a file for the run."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    crm360_log = logging.getLogger("crm360")
    level = crm360_log.level
    crm360_log.addHandler(handler)
    crm360_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        crm360_log.removeHandler(handler)
        crm360_log.setLevel(level)
        handler.close()


def measure_push(label: str, ds: str, server: dict[str, Any], sandbox_pid: int, params: dict[str, Any],
                 profile: Path | None = None) -> dict[str, Any]:
    """One push_to_salesforce run (scheduled, for ``ds``) with its numbers."""
    from crm360 import tasks
    from crm360.rundate import RunWindow
    from crm360.settings import Settings
    from sandbox import localrun

    localrun.set_sandbox_clock(server, ds)
    window = RunWindow.for_day(ds, run_id=f"scheduled__{ds}T00:00:00+00:00", run_type="scheduled", params=params)
    settings = Settings.from_env()
    calls_before = _api_calls(server)
    sandbox_cpu_before = _process_cpu_s(sandbox_pid)
    cpu_before = _cpu_s()
    _reset_peak_rss()
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
    with Stopwatch().wrapping() as watch:
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        try:
            summary = tasks.push_to_salesforce(window, settings)[MODEL]
        finally:
            if profiler is not None:
                profiler.disable()
        wall = time.perf_counter() - started
    if profiler is not None:
        profiler.dump_stats(str(profile))
    sandbox_cpu_after = _process_cpu_s(sandbox_pid)
    plan = summary["plan"]
    result = {
        "label": LABELS[label], "ds": ds, "params": params,
        "wall_s": round(wall, 2),
        "records": summary["records"],
        "planned": summary["changed"],
        "unchanged": plan["unchanged"],
        "sent": summary["sent"], "succeeded": summary["succeeded"], "failed": summary["failed"],
        "fields_sent": sum(summary["fields_changed"].values()),
        "fields_changed": summary["fields_changed"],
        "methods": summary["methods"],
        "api_calls": _api_calls(server) - calls_before,
        "api_calls_counted_by_crm360": summary["api_calls"],
        "verified": summary["verified"], "mismatches": summary["mismatches"],
        "time_split_s": watch.split(wall),
        "crm360_cpu_s": round(_cpu_s() - cpu_before, 2),
        "sandbox_cpu_s": (None if sandbox_cpu_before is None or sandbox_cpu_after is None
                          else round(sandbox_cpu_after - sandbox_cpu_before, 2)),
        "peak_rss_mb": _peak_rss_mb(),
        "sandbox_peak_rss_mb": _process_peak_rss_mb(sandbox_pid),
    }
    result["wall_ms_per_1k_records"] = round(1000 * wall / max(summary["records"], 1) * 1000, 1)
    return result


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=REPO_ROOT, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def run(state: Path, records: int, changed_share: float = 0.02, seed: int = 7,
        profile: bool = False) -> dict[str, Any]:
    """Seed the org and the publish model, then measure the initial sync, the nightly diff and the
    full re-push. With ``profile`` every push runs under cProfile (slower; the stats go to
    ``state/<push>.prof``). Returns the record."""
    from sandbox import localrun
    from sandbox.salesforce.process import start_sandbox

    if records < 1 or not 0 < changed_share < 0.5:
        raise ValueError(f"need records >= 1 and 0 < changed share < 0.5 (the blast-radius limit), got "
                         f"{records} and {changed_share}")
    state = state.resolve()  # Airflow (the connection lookup) wants absolute paths
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    warehouse = state / "warehouse" / "crm360.duckdb"
    landing = state / "data" / "landing"
    started_at = datetime.now(UTC).isoformat()
    total_started = time.perf_counter()
    _reset_peak_rss()
    vocabulary = _vocabulary()
    result: dict[str, Any] = {"records": records, "changed_share": changed_share, "seed": seed,
                              "commit": _git_commit(), "started_at": started_at, "setup": {}, "pushes": {}}
    peaks = []
    with start_sandbox(state / "sandbox", timeout=60) as sandbox, _log_to(state / "activation.log"):
        server = json.loads(sandbox.server_file.read_text())
        env = {
            # the Salesforce hook reads the connection through Airflow, which would otherwise create ~/airflow
            "AIRFLOW_HOME": str(state / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_SALESFORCE_DEFAULT": localrun.salesforce_connection(server),
            "REQUESTS_CA_BUNDLE": sandbox.ca_path, "CRM360_SALESFORCE_CONN_ID": "salesforce_default",
            "CRM360_HOME": str(state), "CRM360_WAREHOUSE": str(warehouse), "CRM360_LANDING": str(landing),
            "CRM360_REPORTS": str(state / "reports"), "CRM360_MAPPING": str(bench_mapping(state / "mapping.yml")),
            # the sandbox finishes a Bulk job before answering; a real org is polled every 5 s (the default)
            "CRM360_BULK_WAIT_SECONDS": "0.05",
        }
        with environment(env):
            from airflow.providers.salesforce.hooks.salesforce import SalesforceHook  # noqa: F401 - import once, untimed

            from crm360 import tasks
            from crm360.settings import Settings

            settings = Settings.from_env()
            result["settings"] = {"push_bulk_threshold": settings.push_bulk_threshold,
                                  "bulk_job_size": tasks.write_options(settings).bulk_job_size,
                                  "push_max_change_share": settings.push_max_change_share,
                                  "bulk_wait_seconds": settings.bulk_wait_seconds}
            t0 = time.perf_counter()
            write_publish(warehouse, records, seed, vocabulary, changed_share=0.0)
            result["setup"]["publish_s"] = round(time.perf_counter() - t0, 2)
            result["setup"]["seed"] = seed_contacts(server, warehouse)
            peaks.append(_peak_rss_mb())
            for label, ds in PUSHES:
                if label == "diff":
                    t0 = time.perf_counter()
                    write_publish(warehouse, records, seed, vocabulary, changed_share=changed_share)
                    result["setup"]["publish_changed_s"] = round(time.perf_counter() - t0, 2)
                    result["setup"]["echo_initial"] = write_echo(warehouse, landing, ds, seed, changed_share,
                                                                 only_changed=False)
                if label == "full":
                    import duckdb

                    result["setup"]["echo_diff"] = write_echo(warehouse, landing, ds, seed, changed_share,
                                                              only_changed=True)
                    con = duckdb.connect(str(warehouse))
                    try:
                        con.execute("delete from crm360_ops.sync_state")
                    finally:
                        con.close()
                params = {"allow_large_push": True} if label == "full" else {}
                log.info("activation bench: %s push for ds=%s", label, ds)
                result["pushes"][label] = measure_push(
                    label, ds, server, sandbox.process.pid, params,
                    profile=state / f"{label}.prof" if profile else None)
                peaks.append(result["pushes"][label]["peak_rss_mb"])
    diff, full = result["pushes"]["diff"], result["pushes"]["full"]
    result["ratios_diff_vs_full"] = {"records_sent": _ratio(diff["sent"], full["sent"]),
                                     "fields_sent": _ratio(diff["fields_sent"], full["fields_sent"]),
                                     "api_calls": _ratio(diff["api_calls"], full["api_calls"]),
                                     "wall_s": _ratio(diff["wall_s"], full["wall_s"])}
    result["peak_rss_mb"] = max(peaks)
    result["sandbox_peak_rss_mb"] = max((p["sandbox_peak_rss_mb"] or 0) for p in result["pushes"].values())
    result["total_s"] = round(time.perf_counter() - total_started, 1)
    result["ok"] = all(p["failed"] == 0 and p["mismatches"] == 0 and p["sent"] == p["planned"]
                       for p in result["pushes"].values())
    return result


# ----------------------------------------------------------------------------- reporting

def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    return str(value)


def markdown(result: dict[str, Any]) -> str:
    pushes = [result["pushes"][label] for label, _ in PUSHES]
    ratios = result["ratios_diff_vs_full"]
    setup = result["setup"]
    lines = [f"# Activation: {result['records']:,} Contacts, nightly diff of {result['changed_share']:.0%} "
             f"(commit {result['commit']}, {result['started_at'][:19]}Z)",
             "",
             "crm360's push (`crm360.tasks.push_to_salesforce`, default settings) against the sandbox org: the "
             "initial sync, the nightly diff after about "
             f"{result['changed_share']:.0%} of the rows changed, and a full re-push of the same model "
             "(sync state emptied).",
             "",
             "| | " + " | ".join(f"{p['label']} ({p['ds']})" for p in pushes) + " | diff / full |",
             "|---|" + "---:|" * (len(pushes) + 1)]
    rows = [("records published", "records", None), ("records planned", "planned", None),
            ("records sent", "sent", "records_sent"), ("records succeeded", "succeeded", None),
            ("fields sent", "fields_sent", "fields_sent"), ("API calls (sandbox count)", "api_calls", "api_calls"),
            ("API calls (crm360's count)", "api_calls_counted_by_crm360", None), ("method", "methods", None),
            ("read back (mismatches)", "verified", None), ("wall time, s", "wall_s", "wall_s"),
            ("crm360 process CPU, s", "crm360_cpu_s", None), ("sandbox org CPU, s", "sandbox_cpu_s", None),
            ("peak RSS of the push, MB", "peak_rss_mb", None),
            ("sandbox peak RSS so far, MB", "sandbox_peak_rss_mb", None)]
    for name, key, ratio in rows:
        cells = []
        for p in pushes:
            cells.append(f"{p['verified']:,} ({p['mismatches']:,})" if key == "verified" else _cell(p[key]))
        ratio_cell = "-" if ratio is None or ratios[ratio] is None else f"{ratios[ratio]:.1%}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratio_cell} |")
    lines += ["", "Where the wall time went (seconds; Salesforce calls include the sandbox's processing):", "",
              "| part | " + " | ".join(p["label"] for p in pushes) + " |", "|---|" + "---:|" * len(pushes)]
    for part in pushes[0]["time_split_s"]:
        lines.append(f"| {part} | " + " | ".join(f"{p['time_split_s'][part]:,.2f}" for p in pushes) + " |")
    lines += ["", f"Setup: publish model {setup.get('publish_s')} s, {setup['seed']['contacts']:,} Contacts seeded in "
                  f"{setup['seed']['seconds']} s ({setup['seed']['calls']} calls); push echo landed: "
                  f"{setup.get('echo_initial', 0):,} then {setup.get('echo_diff', 0):,} Contacts. "
                  f"Bulk API 2.0 from {result['settings']['push_bulk_threshold']:,} changed records per object, "
                  f"{result['settings']['bulk_job_size']:,} per job; the sandbox finishes Bulk jobs at once (a real "
                  "org queues them). "
                  f"Peak RSS {result['peak_rss_mb']:,} MB (bench process), "
                  f"{result['sandbox_peak_rss_mb']:,} MB (sandbox). {result['total_s']:,} s in all; "
                  f"{'all records written and read back' if result['ok'] else 'NOT OK'}."]
    return "\n".join(lines) + "\n"


def summary_line(result: dict[str, Any]) -> str:
    """One line for the console."""
    p = result["pushes"]
    r = result["ratios_diff_vs_full"]

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    return (f"activation ({result['records']:,} Contacts): initial {p['initial']['sent']:,} sent, "
            f"{p['initial']['api_calls']} calls, {p['initial']['wall_s']:.1f} s; nightly diff "
            f"{p['diff']['sent']:,} sent, {p['diff']['api_calls']} calls, {p['diff']['wall_s']:.1f} s; full re-push "
            f"{p['full']['sent']:,} sent, {p['full']['api_calls']} calls, {p['full']['wall_s']:.1f} s; diff vs full: "
            f"records {pct(r['records_sent'])}, API calls {pct(r['api_calls'])}, wall {pct(r['wall_s'])}; "
            f"peak RSS {result['peak_rss_mb']:,.0f} MB (sandbox {result['sandbox_peak_rss_mb']:,.0f} MB)"
            + ("" if result["ok"] else " [NOT OK: failures or mismatches]"))


def record(result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"activation-{result['records']}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    path.with_suffix(".md").write_text(markdown(result))
    return path


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.markdown import Markdown

    parser = argparse.ArgumentParser(prog="python -m bench.activation", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=SCALES["small"], help="Contacts (default 20,000)")
    parser.add_argument("--changed-share", type=float, default=0.02,
                        help="share of the rows changed for the nightly diff (default 0.02)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--state", type=Path, default=REPO_ROOT / ".bench" / "activation",
                        help="working folder (default .bench/activation, ignored by git)")
    parser.add_argument("--profile", action="store_true",
                        help="run the pushes under cProfile (<push>.prof in the state folder; timings are then "
                             "inflated, so nothing is recorded)")
    args = parser.parse_args(argv)
    console = Console()
    with console.status(f"activation: {args.records:,} Contacts: seeding, initial sync, nightly diff, full re-push..."):
        result = run(args.state, args.records, args.changed_share, args.seed, profile=args.profile)
    console.print(Markdown(markdown(result)))
    if args.profile:
        console.print(f"profiles: {args.state.resolve()}/{{initial,diff,full}}.prof (not recorded)")
    else:
        console.print(f"results: {record(result)}")
    console.print(summary_line(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
