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
)

select
    records.record_id as sfdc_record_id,
    records.sobject_type,
    customers.customer_id,
    customers.lifetime_value,
    customers.order_count,
    customers.last_order_date,
    customers.email_engagement
from records
inner join customers on records.customer_id = customers.customer_id
