-- Every offer each person is eligible for (seeds/offer_catalog.csv), with its expected value:
-- acceptance_rate x (expected order value x (gross margin - discount) - fixed cost). A blank rule
-- in the catalog places no limit. People who can be reached by no channel get no offer.
with

customers as (
    select * from {{ ref('customer_360') }}
    where preferred_channel != 'none'
),

value as (
    select * from {{ customer_value_scores() }}
),

offers as (
    select * from {{ ref('offer_catalog') }}
),

features as (
    select
        customers.customer_id,
        customers.order_count,
        customers.days_since_last_order,
        customers.has_open_cart,
        customers.lifetime_value,
        customers.favourite_category,
        value.churn_risk,
        -- the order a customer is expected to place: the spend model's estimate, else their own
        -- average, else the shop's average order value
        coalesce(
            value.expected_order_value, customers.average_order_value,
            avg(customers.average_order_value) over ()
        ) as expected_order_value
    from customers
    left join value on customers.customer_id = value.customer_id
),

eligible as (
    select
        features.customer_id,
        offers.offer_id,
        offers.offer_name,
        offers.reason,
        offers.acceptance_rate * (
            features.expected_order_value * ({{ var('gross_margin_rate') }} - offers.discount_rate)
            - offers.fixed_cost
        ) as expected_value
    from features
    inner join offers
        on
            features.order_count >= coalesce(offers.min_orders, 0)
            and (offers.max_orders is null or features.order_count <= offers.max_orders)
            and (
                offers.min_days_since_last_order is null
                or features.days_since_last_order >= offers.min_days_since_last_order
            )
            and (
                offers.max_days_since_last_order is null
                or features.days_since_last_order <= offers.max_days_since_last_order
            )
            and (not coalesce(offers.requires_open_cart, false) or features.has_open_cart)
            and (offers.category is null or features.favourite_category = offers.category)
            and (offers.min_lifetime_value is null or features.lifetime_value >= offers.min_lifetime_value)
            and (offers.min_churn_risk is null or features.churn_risk >= offers.min_churn_risk)
            and (offers.max_churn_risk is null or features.churn_risk <= offers.max_churn_risk)
)

select
    customer_id,
    offer_id,
    offer_name,
    reason,
    {{ round_to('expected_value', 2) }} as expected_value,
    row_number() over (partition by customer_id order by expected_value desc, offer_id) as offer_rank
from eligible
where expected_value > 0
