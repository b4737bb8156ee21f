-- One row per person and product category they bought, viewed or added to a cart up to the run
-- date: the counts, a recency-weighted score (each signal weighted by kind and halved every
-- `recommendations_affinity_half_life_days`) and a rank (1 = the person's favourite category).
-- customer_360.favourite_category and the interest segments read rank 1.
with

lines as (
    select * from {{ ref('int_order_lines_attributed') }}
    where customer_id is not null and not is_refunded
),

web_events as (
    select * from {{ ref('stg_segment__events') }}
    where
        event_name in ('Product Viewed', 'Product Added')
        and product_category is not null
),

records as (
    select * from {{ ref('int_customers_stitched') }}
),

visitor_to_customer as (
    select
        record_id as anonymous_id,
        customer_id
    from records
    where source = 'segment_anonymous'
),

signals as (
    select
        customer_id,
        product_category,
        'purchase' as signal,
        ordered_at as signal_at
    from lines
    union all
    select
        visitor_to_customer.customer_id,
        web_events.product_category,
        case when web_events.event_name = 'Product Added' then 'cart_add' else 'view' end as signal,
        web_events.event_at as signal_at
    from web_events
    inner join visitor_to_customer on web_events.anonymous_id = visitor_to_customer.anonymous_id
),

weighted as (
    select
        customer_id,
        product_category,
        signal,
        signal_at,
        case signal
            when 'purchase' then {{ var('recommendations_purchase_weight') }}
            when 'cart_add' then {{ var('recommendations_cart_add_weight') }}
            else {{ var('recommendations_view_weight') }}
        end
        * exp(
            -ln(2.0) * extract(epoch from ({{ run_day_end() }} - signal_at))
            / (86400.0 * {{ var('recommendations_affinity_half_life_days') }})
        ) as signal_score
    from signals
),

per_category as (
    select
        customer_id,
        product_category,
        count(*) filter (where signal = 'purchase') as purchases,
        count(*) filter (where signal = 'view') as product_views,
        count(*) filter (where signal = 'cart_add') as cart_adds,
        max(signal_at) as last_signal_at,
        sum(signal_score) as affinity_score
    from weighted
    group by customer_id, product_category
),

final as (
    select
        customer_id,
        product_category,
        purchases,
        product_views,
        cart_adds,
        last_signal_at,
        {{ round_to('affinity_score', 4) }} as affinity_score,
        row_number() over (
            partition by customer_id
            order by affinity_score desc, purchases desc, last_signal_at desc, product_category
        ) as affinity_rank
    from per_category
)

select * from final
