-- One row per person with a live order up to the run date: two suggestions for the confirmation
-- message of their last order, each with a short reason (null when there is none to make):
--   cross-sell  the product with the highest lift with any item of the order (int_product_pairs),
--               neither in the order nor bought before;
--   upsell      a pricier product in the category of the order's most valuable line, among that
--               category's `recommendations_popular_candidates` most popular recent sellers, not
--               bought before: the most popular one, then the cheapest step up.
with

lines as (
    select * from {{ ref('int_order_lines_attributed') }}
    where customer_id is not null
),

catalog as (
    select * from {{ ref('int_product_popularity') }}
),

pairs as (
    select * from {{ ref('int_product_pairs') }}
    where lift > 1 and is_significant
),

bought as (
    select distinct
        customer_id,
        product_id
    from lines
),

last_orders as (
    select
        customer_id,
        order_id,
        ordered_at
    from (
        select
            customer_id,
            order_id,
            ordered_at,
            row_number() over (partition by customer_id order by ordered_at desc, order_id desc) as order_recency
        from (select distinct
            customer_id,
            order_id,
            ordered_at
        from lines) as orders
    ) as ranked
    where order_recency = 1
),

last_order_lines as (
    select lines.*
    from lines
    inner join last_orders on lines.order_id = last_orders.order_id
),

cross_sell as (
    select
        last_order_lines.customer_id,
        pairs.paired_product_id as product_id,
        partner.product_title,
        pairs.lift,
        'Often bought with ' || last_order_lines.product_title as reason,
        row_number() over (
            partition by last_order_lines.customer_id
            order by pairs.lift desc, pairs.pair_orders desc, pairs.paired_product_id
        ) as cross_sell_rank
    from last_order_lines
    inner join pairs on last_order_lines.product_id = pairs.product_id
    inner join catalog as partner on pairs.paired_product_id = partner.product_id
    left join bought
        on last_order_lines.customer_id = bought.customer_id and pairs.paired_product_id = bought.product_id
    where bought.product_id is null
),

anchors as (
    select
        customer_id,
        product_id,
        product_title,
        product_category
    from (
        select
            customer_id,
            product_id,
            product_title,
            product_category,
            row_number() over (partition by customer_id order by line_value desc, order_line_id) as value_rank
        from last_order_lines
    ) as ranked
    where value_rank = 1
),

upsell_candidates as (
    select * from catalog
    where recent_orders > 0 and category_popularity_rank <= {{ var('recommendations_popular_candidates') }}
),

upsell as (
    select
        anchors.customer_id,
        candidate.product_id,
        candidate.product_title,
        candidate.price,
        'A step up from ' || anchor_product.product_title as reason,
        row_number() over (
            partition by anchors.customer_id
            order by candidate.recent_orders desc, candidate.price, candidate.product_id
        ) as upsell_rank
    from anchors
    inner join catalog as anchor_product on anchors.product_id = anchor_product.product_id
    inner join upsell_candidates as candidate
        on
            anchor_product.product_category = candidate.product_category
            and candidate.price > anchor_product.price
    left join bought
        on anchors.customer_id = bought.customer_id and candidate.product_id = bought.product_id
    where bought.product_id is null
),

final as (
    select
        last_orders.customer_id,
        last_orders.order_id,
        last_orders.ordered_at,
        -- the orders whose confirmation goes out after this run
        last_orders.ordered_at >= {{ run_day_end() }} - interval '1 day' as is_placed_on_run_date,
        cross_sell.product_id as cross_sell_product_id,
        cross_sell.product_title as cross_sell_product_title,
        {{ round_to('cross_sell.lift', 4) }} as cross_sell_lift,
        cross_sell.reason as cross_sell_reason,
        upsell.product_id as upsell_product_id,
        upsell.product_title as upsell_product_title,
        upsell.price as upsell_price,
        upsell.reason as upsell_reason
    from last_orders
    left join cross_sell on last_orders.customer_id = cross_sell.customer_id and cross_sell.cross_sell_rank = 1
    left join upsell on last_orders.customer_id = upsell.customer_id and upsell.upsell_rank = 1
)

select * from final
