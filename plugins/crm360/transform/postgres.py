"""Building the dbt project on Postgres: load the landing zone into raw tables first.

On DuckDB the dbt sources read the landing zone's Parquet directly. On Postgres they are tables:
`<source>.<entity>` (schema `salesforce`, table `contact`, ...), with every landed partition's rows
and their `ds`, column names lower-cased. `load_landing` (re)creates them from the landing zone;
then `dbt build --target postgres` runs the same project (the SQL that differs between the two is
in `dbt_project/macros/portable.sql`).

Connection settings come from the environment, as the dbt profile reads them: CRM360_PG_HOST,
CRM360_PG_PORT, CRM360_PG_USER, CRM360_PG_PASSWORD, CRM360_PG_DATABASE.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from crm360 import landing

_PG_TYPES = {
    pa.string(): "text", pa.large_string(): "text", pa.int64(): "bigint", pa.int32(): "integer",
    pa.float64(): "double precision", pa.bool_(): "boolean", pa.date32(): "date",
}


@dataclass(frozen=True)
class LoadedTable:
    schema: str
    table: str
    rows: int


def connection_settings() -> dict[str, object]:
    return {
        "host": os.environ.get("CRM360_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("CRM360_PG_PORT", "5432")),
        "user": os.environ.get("CRM360_PG_USER", "postgres"),
        "password": os.environ.get("CRM360_PG_PASSWORD", ""),
        "dbname": os.environ.get("CRM360_PG_DATABASE", "crm360"),
    }


def _pg_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    return _PG_TYPES.get(arrow_type, "text")


def _read_entity(folder: Path) -> pa.Table:
    """Every partition of one landed entity, schemas unioned by name, with its ds."""
    con = duckdb.connect()
    try:
        return con.execute(
            "select * from read_parquet(?, hive_partitioning = true, union_by_name = true)",
            [str(folder / "ds=*" / landing.PART_NAME)]).fetch_arrow_table()
    finally:
        con.close()


def load_landing(landing_root: Path) -> list[LoadedTable]:
    """Replace the raw tables in Postgres with the landing zone's content; returns what was loaded."""
    import psycopg2

    loaded = []
    with psycopg2.connect(**connection_settings()) as pg, pg.cursor() as cur:
        for source_dir in sorted(p for p in landing_root.iterdir() if p.is_dir() and not p.name.startswith("_")):
            cur.execute(f'create schema if not exists "{source_dir.name}"')
            for entity_dir in sorted(p for p in source_dir.iterdir() if p.is_dir()):
                if not list(entity_dir.glob(f"ds=*/{landing.PART_NAME}")):
                    continue
                table = _read_entity(entity_dir)
                table = table.rename_columns([name.lower() for name in table.column_names])
                columns = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in table.schema)
                qualified = f'"{source_dir.name}"."{entity_dir.name}"'
                cur.execute(f"drop table if exists {qualified} cascade")
                cur.execute(f"create table {qualified} ({columns})")
                if table.num_rows:
                    buffer = io.BytesIO()
                    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=True))
                    buffer.seek(0)
                    cur.copy_expert(f"copy {qualified} from stdin with (format csv, header true)", buffer)
                loaded.append(LoadedTable(source_dir.name, entity_dir.name, table.num_rows))
    return loaded
