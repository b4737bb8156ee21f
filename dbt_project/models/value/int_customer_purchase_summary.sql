-- One row per person with at least one live (non-cancelled) order up to the run date: the purchase
-- history the customer value models read. A purchase is a day (UTC) with at least one order, as in
-- the BG/NBD paper; times are whole days, and the run date is the last observed day.
with

orders as (
    select * from {{ ref('int_orders_attributed') }}
    where
        customer_id is not null
        and not is_cancelled
        and ordered_at < {{ run_day_end() }}
),

purchase_days as (
    select
        customer_id,
        cast({{ local_time('ordered_at', "'UTC'") }} as date) as purchase_date,
        sum(coalesce(order_value, 0) - coalesce(refunded_value, 0)) as purchase_value,
        count(*) as orders
    from orders
    group by customer_id, purchase_date
),

ranked as (
    select
        *,
        row_number() over (partition by customer_id order by purchase_date) as purchase_number
    from purchase_days
),

final as (
    select
        customer_id,
        count(*) - 1 as frequency,
        max(purchase_date) - min(purchase_date) as recency_days,
        {{ run_date() }} - min(purchase_date) as tenure_days,
        -- mean net value of the repeat purchases (null without one); refunds never make it negative
        case
            when count(*) > 1 then greatest(avg(case when purchase_number > 1 then purchase_value end), 0)
        end as monetary_value,
        sum(orders) as order_count,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date
    from ranked
    group by customer_id
)

select * from final
