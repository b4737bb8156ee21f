-- Postgres stand-in for the Python model models/value/customer_value.py (models read either through
-- the macro customer_value_scores()): the BG/NBD and
-- Gamma-Gamma fits run as a dbt Python model, which dbt-postgres cannot run. The same columns with
-- null scores keep everything downstream building (offers then fall back to rules without churn
-- risk); run crm360 on DuckDB (the default) for value scores.
select
    customer_id,
    frequency,
    recency_days,
    tenure_days,
    monetary_value,
    cast(null as float8) as probability_alive,
    cast(null as float8) as churn_risk,
    cast(null as float8) as expected_purchases_90d,
    cast(null as float8) as probability_purchase_90d,
    cast(null as float8) as expected_order_value,
    cast(null as float8) as expected_lifetime_value
from {{ ref('int_customer_purchase_summary') }}
