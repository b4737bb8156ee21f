-- Item-to-item co-occurrence over orders (the basket is one live order; a pair counts once per
-- order however many lines carry it), in both directions: how often product_id and
-- paired_product_id are bought together (support), how often a basket with product_id also holds
-- paired_product_id (confidence) and how much more often than chance (lift). Only pairs seen in at
-- least `recommendations_min_pair_orders` orders are kept: rarer ones are noise. is_significant:
-- the pair is seen at least `recommendations_min_pair_z` standard deviations more often than if
-- the two products were bought independently (Poisson: (pairs - expected) / sqrt(expected)), so
-- that a catalog without real co-purchase structure yields no co-purchase recommendations.
with

baskets as (
    select distinct
        order_id,
        product_id
    from {{ ref('int_order_lines_attributed') }}
    where product_id is not null
),

order_count as (
    select count(distinct order_id) as orders
    from baskets
),

product_orders as (
    select
        product_id,
        count(*) as product_orders
    from baskets
    group by product_id
),

pair_orders as (
    select
        basket_a.product_id,
        basket_b.product_id as paired_product_id,
        count(*) as pair_orders
    from baskets as basket_a
    inner join baskets as basket_b
        on basket_a.order_id = basket_b.order_id and basket_a.product_id <> basket_b.product_id
    group by basket_a.product_id, basket_b.product_id
    having count(*) >= {{ var('recommendations_min_pair_orders') }}
),

products as (
    select * from {{ ref('stg_shopify__products') }}
),

final as (
    select
        pair_orders.product_id,
        pair_orders.paired_product_id,
        paired.product_title as paired_product_title,
        paired.product_category as paired_product_category,
        pair_orders.pair_orders,
        product_a.product_orders,
        product_b.product_orders as paired_product_orders,
        order_count.orders,
        {{ round_to('cast(pair_orders.pair_orders as float8) / order_count.orders', 6) }} as support,
        {{ round_to('cast(pair_orders.pair_orders as float8) / product_a.product_orders', 4) }} as confidence,
        {{ round_to(
            'cast(pair_orders.pair_orders as float8) * order_count.orders'
            ~ ' / (cast(product_a.product_orders as float8) * product_b.product_orders)', 4) }} as lift,
        (
            pair_orders.pair_orders
            - cast(product_a.product_orders as float8) * product_b.product_orders / order_count.orders
        ) / sqrt(cast(product_a.product_orders as float8) * product_b.product_orders / order_count.orders)
        >= {{ var('recommendations_min_pair_z') }} as is_significant
    from pair_orders
    cross join order_count
    inner join product_orders as product_a on pair_orders.product_id = product_a.product_id
    inner join product_orders as product_b on pair_orders.paired_product_id = product_b.product_id
    left join products as paired on pair_orders.paired_product_id = paired.product_id
)

select * from final
