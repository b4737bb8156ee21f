-- One row per catalog product: how many live orders and distinct people bought it in the last
-- `recommendations_popularity_window_days` before the end of the run date, and its popularity rank
-- overall and within its category. The fallback of next-best products, the upsell's "popular",
-- and the popularity baseline of the offline evaluation all read it.
with

products as (
    select * from {{ ref('stg_shopify__products') }}
),

recent_lines as (
    select * from {{ ref('int_order_lines_attributed') }}
    where
        ordered_at >= {{ run_day_end() }} - interval '{{ var("recommendations_popularity_window_days") }} days'
),

sold as (
    select
        product_id,
        count(distinct order_id) as recent_orders,
        count(distinct customer_id) as recent_buyers
    from recent_lines
    group by product_id
),

final as (
    select
        products.product_id,
        products.product_title,
        products.product_category,
        products.price,
        coalesce(sold.recent_orders, 0) as recent_orders,
        coalesce(sold.recent_buyers, 0) as recent_buyers,
        row_number() over (
            order by coalesce(sold.recent_orders, 0) desc, products.product_id
        ) as popularity_rank,
        row_number() over (
            partition by products.product_category
            order by coalesce(sold.recent_orders, 0) desc, products.product_id
        ) as category_popularity_rank
    from products
    left join sold on products.product_id = sold.product_id
)

select * from final
