-- Each person's lifecycle stage as of the run date, from their order history:
--   lead      no order yet
--   new       first order within lifecycle_new_days
--   won_back  an order within lifecycle_active_days that came after a gap of at least
--             lifecycle_lapsed_days since the order before it (they had lapsed, then came back)
--   active    last order within lifecycle_active_days
--   at_risk   last order within lifecycle_lapsed_days
--   lapsed    no order for longer than that
-- First match wins, in that order.
with

customers as (
    select customer_id from {{ ref('customer_360') }}
),

orders as (
    select
        customer_id,
        cast(ordered_at as date) as ordered_date,
        lag(cast(ordered_at as date)) over (partition by customer_id order by ordered_at, order_id)
            as previous_ordered_date
    from {{ ref('int_orders_attributed') }}
    where not is_cancelled and customer_id is not null and ordered_at < {{ run_day_end() }}
),

order_facts as (
    select
        customer_id,
        min(ordered_date) as first_ordered_date,
        max(ordered_date) as last_ordered_date,
        max(
            case
                when ordered_date - previous_ordered_date >= {{ var('lifecycle_lapsed_days') }} then ordered_date
            end
        ) as last_won_back_date
    from orders
    group by customer_id
),

measured as (
    select
        customers.customer_id,
        order_facts.first_ordered_date,
        order_facts.last_won_back_date,
        {{ run_date() }} - order_facts.first_ordered_date as days_since_first,
        {{ run_date() }} - order_facts.last_ordered_date as days_since_last,
        {{ run_date() }} - order_facts.last_won_back_date as days_since_won_back
    from customers
    left join order_facts on customers.customer_id = order_facts.customer_id
),

final as (
    select
        customer_id,
        case
            when first_ordered_date is null then 'lead'
            when days_since_first <= {{ var('lifecycle_new_days') }} then 'new'
            when days_since_won_back <= {{ var('lifecycle_active_days') }} then 'won_back'
            when days_since_last <= {{ var('lifecycle_active_days') }} then 'active'
            when days_since_last <= {{ var('lifecycle_lapsed_days') }} then 'at_risk'
            else 'lapsed'
        end as lifecycle_stage,
        last_won_back_date as won_back_date
    from measured
)

select * from final
