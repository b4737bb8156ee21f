"""``generate()``: the whole synthetic company, its channel exports, ground truth and manifest."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.generator import reference as ref
from sandbox.generator.catalog import CATEGORIES, build_catalog
from sandbox.generator.channels import simulate_channels
from sandbox.generator.crm import OBJECTS, build_crm
from sandbox.generator.messy import CORRUPT_ONLY_KINDS, MALFORMED_KINDS
from sandbox.generator.options import Options
from sandbox.generator.people import GENDERS, ROLE_NAMES, Persons, generate_persons
from sandbox.generator.timeutil import parse_date, sf_timestamp
from sandbox.generator.writer import CsvWriter

GENERATOR_VERSION = "0.2.0"
DEFAULT_END_DATE = "2026-11-20"
DEFECT_COLUMNS = ["file", "line", "kind", "record_id"]
OUTPUT_PARTS = ("crm", "inbox", "truth", "manifest.json")
PERSON_COLUMNS = [
    "person_id", "household_id", "first_name", "last_name", "email", "phone_e164", "birth_date", "gender",
    "country", "city", "state", "postal_code", "street", "time_zone", "email_opt_out", "do_not_call",
    "email_bad", "crm_role", "shopify_customer_id", "has_shop_account", "purchase_rate_per_year",
    "dropout_prob", "median_order_value_usd", "email_propensity", "web_sessions_per_year",
    "favourite_category", "category_affinity", "first_seen_at", "prior_orders", "orders_in_window",
    "alive_at_start", "alive_at_end", "moved", "previous_street", "previous_postal_code",
]


def _prepare(out: Path) -> None:
    """Empty a previous generator output in ``out``; refuse to write into an unrelated directory."""
    if out.exists() and any(out.iterdir()):
        if not (out / "manifest.json").exists():
            raise FileExistsError(
                f"{out} is not empty and holds no generator manifest.json; choose a new --out directory "
                "or empty it first"
            )
        for part in OUTPUT_PARTS:
            target = out / part
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _write_persons(path: Path, p: Persons, alive_at_start: np.ndarray, orders: np.ndarray) -> int:
    cat_names = [c.name for c in CATEGORIES]
    with CsvWriter(path, PERSON_COLUMNS) as writer:
        for i in range(p.n):
            city = ref.CITIES[p.city[i]]
            affinity = p.affinity[i]
            writer.write([
                p.person_id[i], f"H{int(p.household[i]) + 1:07d}", p.first_name[i], p.last_name[i], p.email[i],
                p.e164(i), p.birth_date[i], GENDERS[p.gender[i]], ref.COUNTRIES[p.country[i]].code, city.name,
                city.state, p.postal_code[i], p.street[i], city.time_zone, bool(p.email_opt_out[i]),
                bool(p.do_not_call[i]), bool(p.email_bad[i]), ROLE_NAMES[p.crm_role[i]],
                int(p.shopify_customer_id[i]), bool(p.has_shop_account[i]), round(float(p.purchase_rate[i]), 4),
                round(float(p.dropout_prob[i]), 4), round(float(p.order_value_usd[i]), 2),
                round(float(p.email_propensity[i]), 4), round(float(p.web_rate[i]), 4),
                cat_names[int(np.argmax(affinity))],
                ";".join(f"{name}={affinity[k]:.3f}" for k, name in enumerate(cat_names)),
                sf_timestamp(int(p.first_seen[i])), int(p.prior_orders[i]), int(orders[i]),
                bool(alive_at_start[i]), bool(p.alive[i]), bool(p.moved[i]),
                p.previous_street[i] if p.moved[i] else "", p.previous_postal_code[i] if p.moved[i] else "",
            ])
        return writer.rows


def _defect_summary(files: dict[str, dict[str, Any]], n_defects: int) -> dict[str, Any]:
    """What was planted in the channel exports, over all files (per file: ``files[...]``)."""
    kinds: dict[str, int] = {}
    for stats in files.values():
        for kind, n in stats.get("defects", {}).items():
            kinds[kind] = kinds.get(kind, 0) + n
    return {
        "file": "truth/defects.csv",
        "rows": n_defects,
        "kinds": dict(sorted(kinds.items())),
        "malformed_kinds": list(MALFORMED_KINDS),
        "corrupt_only_kinds": list(CORRUPT_ONLY_KINDS),
    }


def generate(
    customers: int,
    days: int,
    end_date: dt.date | str,
    seed: int,
    out: Path | str,
    malformed_rate: float = 0.005,
    duplicate_rate: float = 0.002,
    late_rate: float = 0.02,
    *,
    corrupt: float = 0.0,
    identity_mess: bool = True,
    co_purchase: bool = True,
    history_days: int = 0,
    stages: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """Generate the company into ``out`` and return its manifest (also written to manifest.json).

    ``corrupt`` plants one defect of any kind in about that share of channel rows (listed in
    truth/defects.csv); ``identity_mess=False`` and ``co_purchase=False`` are the control switches.
    ``history_days`` adds that many days of orders before the window to the first day's Shopify export.
    ``stages``, if given, receives wall seconds and rows written per stage (kept out of the files,
    which must not depend on the clock).
    The same arguments always give byte-identical files.
    """
    if days < 1:
        raise ValueError(f"--days must be at least 1, got {days}")
    options = Options(malformed_rate, duplicate_rate, late_rate, corrupt, identity_mess, co_purchase, history_days)
    options.check()
    end = parse_date(end_date) if isinstance(end_date, str) else end_date
    out = Path(out)
    window = [end - dt.timedelta(days=days - 1 - k) for k in range(days)]
    _prepare(out)

    clock = time.perf_counter()

    def stage(name: str, rows: int) -> None:
        nonlocal clock
        now = time.perf_counter()
        if stages is not None:
            stages[name] = {"seconds": round(now - clock, 3), "rows_out": rows}
        clock = now

    persons = generate_persons(customers, window[0], seed, days)
    stage("people", customers)
    alive_at_start = persons.alive.copy()
    identity_counts: dict[str, int] = {}
    with CsvWriter(out / "truth" / "identity.csv", ["source", "record_key", "person_id"]) as identity_csv:

        def identity(source: str, key: str, person_id: str) -> None:
            identity_csv.write([source, key, person_id])
            identity_counts[source] = identity_counts.get(source, 0) + 1

        crm = build_crm(persons, window[0], window, seed, out / "crm", identity, options)
        stage("crm", sum(crm.counts.values()))
        with CsvWriter(out / "truth" / "defects.csv", DEFECT_COLUMNS) as defects_csv:
            files, orders = simulate_channels(
                persons, build_catalog(), crm, window, seed, out, identity, options, defects_csv
            )
            n_defects = defects_csv.rows
        stage("channels", sum(v["rows"] for v in files.values()))
    n_persons = _write_persons(out / "truth" / "persons.csv", persons, alive_at_start, orders)

    crm_files = {f"crm/{obj}.ndjson": {"rows": crm.counts[obj]} for obj in OBJECTS}
    manifest: dict[str, Any] = {
        "generator": "sandbox.generator",
        "version": GENERATOR_VERSION,
        "arguments": {
            "customers": customers, "days": days, "end_date": end.isoformat(), "seed": seed,
            "malformed_rate": malformed_rate, "duplicate_rate": duplicate_rate, "late_rate": late_rate,
            "corrupt": corrupt, "identity_mess": identity_mess, "co_purchase": co_purchase,
            "history_days": history_days,
        },
        "date_range": {"start": window[0].isoformat(), "end": window[-1].isoformat(),
                       "days": [d.isoformat() for d in window]},
        "counts": {
            "persons": n_persons,
            "crm": dict(crm.counts),
            "identity": dict(sorted(identity_counts.items())),
            "orders": sum(v["rows"] - v["malformed"] - v["duplicates"] for k, v in files.items()
                          if k.endswith("orders.ndjson.gz")),
        },
        "office_inboxes": [{"email": email, "person_ids": ids} for email, ids in crm.office_inboxes],
        "shared_emails": [{"email": email, "kind": kind, "person_ids": ids}
                          for email, kind, ids in crm.shared_emails],
        "defects": _defect_summary(files, n_defects),
        "files": {**crm_files, "truth/persons.csv": {"rows": n_persons},
                  "truth/identity.csv": {"rows": sum(identity_counts.values())},
                  "truth/defects.csv": {"rows": n_defects}, **files},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    stage("truth", n_persons)
    return manifest
