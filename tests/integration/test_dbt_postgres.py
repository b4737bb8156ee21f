"""The whole dbt project builds on Postgres (127.0.0.1) as well as on DuckDB, with the same answers.

A generated company goes through the sandbox org and crm360's extract and land stages; the dbt
project is built on DuckDB, then the landing zone is loaded into Postgres raw tables and the same
project is built with `--target postgres`. Both must agree on every person.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from crm360.settings import Settings
from crm360.transform.dbt import run_build
from crm360.transform.postgres import load_landing
from tests.conftest import require
from tests.integration.conftest import land_company

pytestmark = pytest.mark.integration

DAYS = ("2026-11-19", "2026-11-20")


def _admin():
    import psycopg2

    try:
        con = psycopg2.connect(host="127.0.0.1", port=5432, user=os.environ.get("CRM360_PG_USER", "postgres"),
                               dbname="postgres", connect_timeout=5)
    except psycopg2.OperationalError as exc:
        require(False, f"PostgreSQL at 127.0.0.1:5432 ({exc})")
    con.autocommit = True
    return con


def test_the_project_builds_on_postgres_with_the_same_people(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg2

    admin = _admin()
    database = f"crm360_test_{os.getpid()}"
    with admin.cursor() as cur:
        cur.execute(f"drop database if exists {database}")
        cur.execute(f"create database {database}")
    try:
        land_company(tmp_path, DAYS, monkeypatch, customers=800, seed=13)
        settings = Settings.from_env()
        run_build(settings.dbt_project_dir, settings.warehouse_path, settings.landing_root, DAYS[-1])

        monkeypatch.setenv("CRM360_PG_DATABASE", database)
        loaded = {(t.schema, t.table): t.rows for t in load_landing(settings.landing_root)}
        assert loaded[("salesforce", "contact")] > 0 and ("segment", "events") in loaded
        result = run_build(settings.dbt_project_dir, settings.warehouse_path, settings.landing_root, DAYS[-1],
                           target="postgres")
        assert result.ok and result.counts.get("error", 0) == 0

        duck = duckdb.connect(str(settings.warehouse_path))
        on_duckdb = dict(duck.execute("select record_key, customer_id from intermediate.int_customers_stitched")
                         .fetchall())
        people_duckdb = duck.execute("select customer_id, order_count, lifetime_value, email_engagement "
                                     "from marts.customer_360 order by customer_id").fetchall()
        duck.close()
        with psycopg2.connect(host="127.0.0.1", user=os.environ.get("CRM360_PG_USER", "postgres"),
                              dbname=database) as pg, pg.cursor() as cur:
            cur.execute("select record_key, customer_id from intermediate.int_customers_stitched")
            on_postgres = dict(cur.fetchall())
            cur.execute("select customer_id, order_count, lifetime_value, email_engagement "
                        "from marts.customer_360 order by customer_id")
            people_postgres = cur.fetchall()
        assert on_postgres == on_duckdb
        assert [(c, int(n), float(v), e) for c, n, v, e in people_postgres] == \
            [(c, int(n), float(v), e) for c, n, v, e in people_duckdb]
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop database if exists {database} with (force)")
        admin.close()
