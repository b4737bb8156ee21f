-- One row per Shopify order with the person it belongs to and its value in the reporting currency.
-- An order belongs to the person whose shop account placed it, else to the one person its email
-- belongs to; an order whose email is shared by several people stays unattributed (customer_id null).
with

records as (
    select * from {{ ref('int_customers_stitched') }}
),

orders as (
    select * from {{ ref('stg_shopify__orders') }}
),

refunds as (
    select * from {{ ref('stg_shopify__refunds') }}
),

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

email_to_customer as (
    select * from {{ ref('int_email_owners') }}
),

shop_to_customer as (
    select record_id as shop_customer_id, customer_id
    from records
    where source = 'shopify_customer'
),

refunded as (
    select order_id, sum(refunded_amount) as refunded_amount
    from refunds
    group by order_id
),

final as (
    select
        orders.order_id,
        coalesce(by_shop.customer_id, by_email.customer_id) as customer_id,
        orders.ordered_at,
        orders.currency_code,
        orders.billing_city,
        orders.billing_country_code,
        orders.is_cancelled,
        orders.total_price,
        coalesce(refunded.refunded_amount, 0) as refunded_amount,
        fx_rates.rate_to_reporting is null as is_missing_fx_rate,
        -- in the reporting currency; an order in a currency without a rate counts as 0 and is reported
        orders.total_price * coalesce(fx_rates.rate_to_reporting, 0) as order_value,
        coalesce(refunded.refunded_amount, 0) * coalesce(fx_rates.rate_to_reporting, 0) as refunded_value,
        coalesce(fx_rates.rate_to_reporting, 0) as rate_to_reporting
    from orders
    left join shop_to_customer as by_shop on orders.shop_customer_id = by_shop.shop_customer_id
    left join email_to_customer as by_email on orders.email_normalized = by_email.email_normalized
    left join fx_rates on orders.currency_code = fx_rates.currency_code
    left join refunded on orders.order_id = refunded.order_id
)

select * from final
