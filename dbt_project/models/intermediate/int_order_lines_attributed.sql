-- One row per order line of a live (not cancelled) order, with its person, its product's category
-- and its value in the reporting currency. The basis of purchase history, affinities and recommendations.
with

orders as (
    select * from {{ ref('int_orders_attributed') }}
    where not is_cancelled
),

lines as (
    select * from {{ ref('stg_shopify__order_lines') }}
),

products as (
    select * from {{ ref('stg_shopify__products') }}
),

refunds as (
    select order_line_id, sum(refunded_quantity) as refunded_quantity
    from {{ ref('stg_shopify__refunds') }}
    group by order_line_id
),

final as (
    select
        lines.order_line_id,
        lines.order_id,
        orders.customer_id,
        lines.product_id,
        coalesce(products.product_title, lines.product_title) as product_title,
        coalesce(products.product_category, 'Uncategorized') as product_category,
        lines.quantity,
        lines.line_amount * orders.rate_to_reporting as line_value,
        coalesce(refunds.refunded_quantity, 0) >= lines.quantity as is_refunded,
        orders.ordered_at
    from lines
    inner join orders on lines.order_id = orders.order_id
    left join products on lines.product_id = products.product_id
    left join refunds on lines.order_line_id = refunds.order_line_id
)

select * from final
