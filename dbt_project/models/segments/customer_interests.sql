-- Each person's two strongest product-category interests (psychographic segments), from what they
-- browse and buy in the interest_window_days before the end of the run date: a product view
-- counts 1, a cart add 3, a purchased order line 5. Ties go to the category name, so the answer is
-- deterministic. Only people with at least one signal have a row.
with

visitors as (
    select record_id as anonymous_id, customer_id
    from {{ ref('int_customers_stitched') }}
    where source = 'segment_anonymous'
),

web_signals as (
    select
        visitors.customer_id,
        web_events.product_category,
        case web_events.event_name when 'Product Added' then 3 else 1 end as weight
    from {{ ref('stg_segment__events') }} as web_events
    inner join visitors on web_events.anonymous_id = visitors.anonymous_id
    where
        web_events.event_name in ('Product Viewed', 'Product Added')
        and web_events.product_category is not null
        and web_events.event_at >= {{ run_day_end() }} - interval '{{ var("interest_window_days") }} days'
),

purchase_signals as (
    select
        customer_id,
        product_category,
        5 as weight
    from {{ ref('int_order_lines_attributed') }}
    where
        customer_id is not null
        and product_category is not null
        and ordered_at < {{ run_day_end() }}
        and ordered_at >= {{ run_day_end() }} - interval '{{ var("interest_window_days") }} days'
),

scores as (
    select
        customer_id,
        product_category,
        sum(weight) as interest_score
    from (
        select * from web_signals
        union all
        select * from purchase_signals
    ) as signals
    group by customer_id, product_category
),

ranked as (
    select
        customer_id,
        product_category,
        interest_score,
        row_number() over (partition by customer_id order by interest_score desc, product_category) as interest_rank
    from scores
),

final as (
    select
        customer_id,
        max(case when interest_rank = 1 then product_category end) as primary_interest,
        max(case when interest_rank = 1 then interest_score end) as primary_interest_score,
        max(case when interest_rank = 2 then product_category end) as secondary_interest
    from ranked
    where interest_rank <= 2
    group by customer_id
)

select * from final
