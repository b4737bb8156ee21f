-- What segment rules are written against: one row per person, every customer_360 column plus RFM
-- (rfm_*), lifecycle stage and interests. A rule in models/segments/segments.yml may use any of
-- these columns; crm360.segments.check_definitions checks it against this relation.
with

customers as (
    select * from {{ ref('customer_360') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

interests as (
    select * from {{ ref('customer_interests') }}
),

final as (
    select
        customers.*,
        rfm.recency_score as rfm_recency_score,
        rfm.frequency_score as rfm_frequency_score,
        rfm.monetary_score as rfm_monetary_score,
        rfm.rfm_score,
        rfm.rfm_segment,
        lifecycle.lifecycle_stage,
        lifecycle.won_back_date,
        interests.primary_interest,
        interests.secondary_interest
    from customers
    left join rfm on customers.customer_id = rfm.customer_id
    left join lifecycle on customers.customer_id = lifecycle.customer_id
    left join interests on customers.customer_id = interests.customer_id
)

select * from final
