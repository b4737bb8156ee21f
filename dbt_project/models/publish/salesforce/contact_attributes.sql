-- Exactly what Salesforce receives: one row per live Contact and unconverted Lead, keyed by its
-- Salesforce Id, carrying the person's attributes. A person with two Contacts gets the same
-- attributes on both. Converted and deleted records are never written.
with

records as (
    select * from {{ ref('int_customers_stitched') }}
    where source in ('salesforce_contact', 'salesforce_lead') and not is_converted
),

customers as (
    select * from {{ ref('customer_360') }}
),

personalization as (
    select * from {{ ref('customer_personalization') }}
),

-- the segments a person is in and may be contacted for: not held out, and the segment is not below
-- its minimum size (segment_summary)
segments as (
    select
        customer_id,
        string_agg(segment_name, ';' order by segment_name) as segment_names
    from {{ ref('customer_segments') }}
    where is_sendable
    group by customer_id
)

select
    records.record_id as sfdc_record_id,
    records.sobject_type,
    customers.customer_id,
    customers.lifetime_value,
    customers.order_count,
    customers.last_order_date,
    customers.email_engagement,
    left(segments.segment_names, 255) as segment_names,
    left(personalization.next_best_product, 255) as next_best_product,
    left(personalization.next_best_offer, 255) as next_best_offer,
    {{ round_to('100 * personalization.churn_risk', 2) }} as churn_risk_pct,
    personalization.preferred_channel,
    personalization.best_send_hour
from records
inner join customers on records.customer_id = customers.customer_id
left join personalization on records.customer_id = personalization.customer_id
left join segments on records.customer_id = segments.customer_id
