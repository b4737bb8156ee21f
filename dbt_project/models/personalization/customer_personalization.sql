-- The segment of one: one row per person with everything a message to them needs, as of the run
-- date. What to show (next-best products, the cross-sell and upsell for the last order, the
-- next-best offer, each with its reason), how and when to reach them (preferred channel, best
-- send hour in their time zone), who and where (their CRM owner, nearest store), what they are
-- worth and how likely they are to stay (BG/NBD + Gamma-Gamma), and their open cart.
with

customers as (
    select * from {{ ref('customer_360') }}
),

value as (
    select * from {{ customer_value_scores() }}
),

next_best_products as (
    select
        customer_id,
        max(case when recommendation_rank = 1 then product_id end) as next_best_product_id,
        max(case when recommendation_rank = 1 then product_title end) as next_best_product,
        max(case when recommendation_rank = 1 then reason end) as next_best_product_reason,
        string_agg(product_id, ',' order by recommendation_rank) as next_best_product_ids,
        string_agg(product_title, ' | ' order by recommendation_rank) as next_best_products
    from {{ ref('customer_next_best_products') }}
    group by customer_id
),

last_order as (
    select * from {{ ref('customer_last_order_recommendations') }}
),

offers as (
    select * from {{ ref('int_customer_offer_eligibility') }}
    where offer_rank = 1
),

stores as (
    select * from {{ ref('int_customer_nearest_store') }}
),

carts as (
    select * from {{ ref('int_customer_open_carts') }}
),

owners as (
    select * from {{ ref('stg_salesforce__users') }}
),

final as (
    select
        customers.customer_id,
        -- what to show
        next_best_products.next_best_product_id,
        next_best_products.next_best_product,
        next_best_products.next_best_product_reason,
        next_best_products.next_best_product_ids,
        next_best_products.next_best_products,
        last_order.cross_sell_product_id,
        last_order.cross_sell_product_title,
        last_order.cross_sell_reason,
        last_order.upsell_product_id,
        last_order.upsell_product_title,
        last_order.upsell_reason,
        offers.offer_id as next_best_offer_id,
        offers.offer_name as next_best_offer,
        offers.expected_value as next_best_offer_expected_value,
        case when offers.offer_id is not null then 'Because the customer ' || offers.reason end
            as next_best_offer_reason,
        customers.favourite_category,
        -- how and when
        customers.preferred_channel,
        customers.best_send_hour,
        customers.best_send_hour_source,
        customers.time_zone,
        -- who and where
        customers.sfdc_owner_id as named_contact_user_id,
        owners.full_name as named_contact_name,
        owners.title as named_contact_title,
        owners.email as named_contact_email,
        stores.nearest_store_id,
        stores.nearest_store_name,
        stores.nearest_store_distance_km,
        -- value and churn (null for people who have never ordered: no purchase process to model)
        value.probability_alive,
        value.churn_risk,
        value.expected_purchases_90d,
        value.expected_order_value,
        value.expected_lifetime_value,
        -- abandoned cart
        carts.cart_id as open_cart_id,
        carts.open_cart_product_ids,
        carts.open_cart_items,
        carts.open_cart_value,
        carts.open_cart_age_days,
        customers.as_of_date
    from customers
    left join value on customers.customer_id = value.customer_id
    left join next_best_products on customers.customer_id = next_best_products.customer_id
    left join last_order on customers.customer_id = last_order.customer_id
    left join offers on customers.customer_id = offers.customer_id
    left join stores on customers.customer_id = stores.customer_id
    left join carts on customers.customer_id = carts.customer_id
    left join owners on customers.sfdc_owner_id = owners.sfdc_user_id and owners.is_active
)

select * from final
