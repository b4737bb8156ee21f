-- Each person's open cart, for abandoned-cart campaigns: the newest web cart (Segment cart_id) with
-- "Product Added" events and no order since, as of the run date. One row per person who has one,
-- with its items (newest first), value in the reporting currency and age.
with

records as (
    select * from {{ ref('int_customers_stitched') }}
    where source = 'segment_anonymous'
),

web_events as (
    select * from {{ ref('stg_segment__events') }}
),

orders as (
    select * from {{ ref('int_orders_attributed') }}
    where not is_cancelled and customer_id is not null
),

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

cart_adds as (
    select
        records.customer_id,
        web_events.cart_id,
        web_events.product_id,
        web_events.product_category,
        web_events.page_name,
        coalesce(web_events.product_quantity, 1) * web_events.product_price
        * coalesce(fx_rates.rate_to_reporting, 0) as line_value,
        web_events.event_at
    from web_events
    inner join records on web_events.anonymous_id = records.record_id
    left join fx_rates on web_events.currency_code = fx_rates.currency_code
    where web_events.event_name = 'Product Added' and web_events.cart_id is not null
),

checked_out as (
    select distinct checkout_id as cart_id
    from web_events
    where event_name = 'Order Completed' and checkout_id is not null
),

carts as (
    select
        customer_id,
        cart_id,
        count(*) as item_count,
        sum(line_value) as cart_value,
        max(event_at) as last_added_at,
        string_agg(distinct product_id, ',') as product_ids
    from cart_adds
    where cart_id not in (select cart_id from checked_out)
    group by customer_id, cart_id
),

newest as (
    select
        *,
        row_number() over (partition by customer_id order by last_added_at desc, cart_id) as cart_rank
    from carts
),

last_order as (
    select customer_id, max(ordered_at) as last_ordered_at
    from orders
    group by customer_id
),

final as (
    select
        newest.customer_id,
        newest.cart_id,
        newest.item_count as open_cart_items,
        newest.product_ids as open_cart_product_ids,
        {{ round_to('newest.cart_value', 2) }} as open_cart_value,
        newest.last_added_at as open_cart_updated_at,
        {{ run_date() }} - cast(newest.last_added_at as date) as open_cart_age_days
    from newest
    left join last_order on newest.customer_id = last_order.customer_id
    where
        newest.cart_rank = 1
        and (last_order.last_ordered_at is null or last_order.last_ordered_at < newest.last_added_at)
)

select * from final
