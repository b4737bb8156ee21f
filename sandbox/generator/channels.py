"""Run the channel simulations day by day and write each arrival day's export files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from sandbox.generator import reference as ref
from sandbox.generator.catalog import Catalog
from sandbox.generator.context import SOURCES, SimContext
from sandbox.generator.crm import CrmResult
from sandbox.generator.mail import MailState, simulate_mail
from sandbox.generator.messy import mess_up, summarize
from sandbox.generator.options import Options
from sandbox.generator.people import Persons
from sandbox.generator.rng import stream
from sandbox.generator.shop import shop_contact_points, shop_first_names, simulate_orders
from sandbox.generator.timeutil import local_midnights
from sandbox.generator.web import simulate_web
from sandbox.generator.writer import CsvWriter, DayBuffers, NdjsonWriter

LEAD_IN_DAYS = 3  # simulated before the window so late events and delayed opens reach day one
FLUSH_LAG_DAYS = 8  # an event lands at most this many days after the simulated day that made it
FILE_NAMES = {"sendgrid": "events.ndjson.gz", "segment": "events.ndjson.gz", "shopify": "orders.ndjson.gz"}


def simulate_channels(
    persons: Persons,
    catalog: Catalog,
    crm: CrmResult,
    window_days: list[dt.date],
    seed: int,
    out: Path,
    identity: Callable[[str, str, str], None],
    options: Options,
    defects_csv: CsvWriter,
) -> tuple[dict[str, dict[str, Any]], np.ndarray]:
    """Write ``<out>/inbox/<source>/<day>/...``; return per-file stats and orders per person.

    Every planted defect is written to ``defects_csv`` (file, line, kind, record id)."""
    files: dict[str, dict[str, Any]] = {}
    late: dict[tuple[str, dt.date], int] = {}

    def sink_for(source: str) -> Callable[[dt.date, pa.Array], None]:
        def sink(day: dt.date, rows: pa.Array) -> None:
            rel = f"inbox/{source}/{day.isoformat()}/{FILE_NAMES[source]}"
            rng = stream(seed, "mess", source, day.toordinal())
            corrupt_rng = stream(seed, "corrupt", source, day.toordinal()) if options.corrupt_rate else None
            lines, defects = mess_up(source, rows, rng, options.malformed_rate, options.duplicate_rate,
                                     options.corrupt_rate, corrupt_rng, day)
            with NdjsonWriter(out / rel) as writer:
                writer.write_lines(lines)
            for d in defects:
                defects_csv.write([rel, d.line, d.kind, d.record_id])
            stats = summarize(defects)
            files[rel] = {"rows": len(lines), "malformed": stats["malformed"], "duplicates": stats["duplicates"],
                          "late": late.get((source, day), 0), "corrupt": stats["corrupt"],
                          "defects": stats["defects"]}

        return sink

    tz_names = sorted({c.time_zone for c in ref.CITIES})
    tz_of_city = np.array([tz_names.index(c.time_zone) for c in ref.CITIES], dtype=np.int64)
    shop_email, shop_phone = shop_contact_points(persons.email, stream(seed, "shop-contact"), persons.country,
                                                 persons.mobile_nsn, options.identity_mess)
    ctx = SimContext(
        seed=seed,
        persons=persons,
        catalog=catalog,
        crm=crm,
        buffers={s: DayBuffers(window_days, sink_for(s)) for s in SOURCES},
        identity=identity,
        late_rate=options.late_rate,
        person_tz=tz_of_city[persons.city],
        tz_names=tz_names,
        shop_email=shop_email,
        shop_phone=shop_phone,
        late=late,
        identified=np.zeros((persons.n, 2), dtype=bool),
        window_orders=np.zeros(persons.n, dtype=np.int64),
        options=options,
        first_day=window_days[0],
        shop_first_name=shop_first_names(persons.first_name, stream(seed, "shop-names"), options.identity_mess),
    )
    ctx.counters["order_number_base"] = 1001 + int(persons.prior_orders.sum())

    first_day = window_days[0]
    history = options.history_days
    sim_days = [first_day - dt.timedelta(days=k) for k in range(LEAD_IN_DAYS + history, 0, -1)] + window_days
    midnights = local_midnights(tz_names, sim_days)
    mail_state = MailState(persons.n)
    for j, day in enumerate(sim_days):
        purchases = simulate_orders(ctx, stream(seed, "shop", day.toordinal()), day, j, midnights)
        if j < history:
            continue  # history days: orders only (the shop's initial export)
        visits = simulate_mail(ctx, mail_state, stream(seed, "mail", day.toordinal()), day, j, midnights)
        simulate_web(ctx, stream(seed, "web", day.toordinal()), day, j, midnights, purchases, visits)
        for buffer in ctx.buffers.values():
            buffer.flush_through(day - dt.timedelta(days=FLUSH_LAG_DAYS))
    for buffer in ctx.buffers.values():
        buffer.flush_through(window_days[-1])

    products = catalog.shopify_products(first_day)
    for day in window_days:
        rel = f"inbox/shopify/{day.isoformat()}/products.ndjson"
        with NdjsonWriter(out / rel) as writer:
            for product in products:
                writer.write(product)
        files[rel] = {"rows": writer.rows, "malformed": 0, "duplicates": 0, "late": 0, "corrupt": {},
                      "defects": {}}
    assert ctx.window_orders is not None
    return dict(sorted(files.items())), ctx.window_orders
