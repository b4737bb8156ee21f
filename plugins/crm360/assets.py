"""The Airflow Assets crm360_nightly emits, for other DAGs to be scheduled on.

`dbt_build` has them as outlets: each successful build records one asset event per table (its
extra carries the run's `ds` and `run_id`), and a DAG with `schedule=[assets.CUSTOMER_360]` (or
`CUSTOMER_360 & SEGMENTS`, ...) is triggered by it. Named, not addressed by URI, so the identity
of an asset does not depend on where the warehouse file lives. Imported at DAG parse time: only
`airflow.sdk` here.
"""

from __future__ import annotations

from airflow.sdk import Asset

GROUP = "crm360"


def _table(schema_table: str, description: str) -> Asset:
    return Asset(name=f"crm360.{schema_table}", group=GROUP,
                 extra={"warehouse_table": schema_table, "description": description})


CUSTOMER_360 = _table("marts.customer_360", "one row per person: the golden record")
SEGMENTS = _table("marts.customer_segments", "one row per person and segment, with holdout and sendable flags")
PERSONALIZATION = _table("marts.customer_personalization", "one row per person: the segment of one")

MARTS = (CUSTOMER_360, SEGMENTS, PERSONALIZATION)
