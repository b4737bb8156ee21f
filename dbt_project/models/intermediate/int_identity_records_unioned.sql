-- Every record that describes a person, from every source, with the identifiers it carries.
-- The first identity graph: records join on their normalized email; converted Leads follow the
-- Contact they became. (Identity resolution proper replaces this with a graph over all edges.)
with

contacts as (
    select * from {{ ref('stg_salesforce__contacts') }}
    where not is_deleted
),

leads as (
    select * from {{ ref('stg_salesforce__leads') }}
    where not is_deleted
),

orders as (
    select * from {{ ref('stg_shopify__orders') }}
),

email_events as (
    select * from {{ ref('stg_sendgrid__email_events') }}
),

contact_records as (
    select
        'salesforce_contact' as source,
        sfdc_contact_id as record_id,
        'Contact' as sobject_type,
        email_normalized,
        email_normalized as stitch_email,
        first_name,
        last_name,
        phone,
        has_opted_out_of_email,
        is_do_not_call,
        false as is_converted,
        1 as source_priority,
        created_at
    from contacts
),

lead_records as (
    select
        'salesforce_lead' as source,
        leads.sfdc_lead_id as record_id,
        'Lead' as sobject_type,
        leads.email_normalized,
        coalesce(converted.email_normalized, leads.email_normalized) as stitch_email,
        leads.first_name,
        leads.last_name,
        leads.phone,
        leads.has_opted_out_of_email,
        leads.is_do_not_call,
        leads.is_converted,
        2 as source_priority,
        leads.created_at
    from leads
    left join contacts as converted
        on leads.sfdc_converted_contact_id = converted.sfdc_contact_id
),

shop_customers as (
    select
        shop_customer_id,
        email_normalized,
        first_name,
        last_name,
        phone,
        ordered_at,
        row_number() over (partition by shop_customer_id order by ordered_at desc) as recency_rank
    from orders
    where shop_customer_id is not null
),

shop_records as (
    select
        'shopify_customer' as source,
        shop_customer_id as record_id,
        cast(null as varchar) as sobject_type,
        email_normalized,
        email_normalized as stitch_email,
        first_name,
        last_name,
        phone,
        false as has_opted_out_of_email,
        false as is_do_not_call,
        false as is_converted,
        3 as source_priority,
        ordered_at as created_at
    from shop_customers
    where recency_rank = 1
),

email_records as (
    select
        'sendgrid_recipient' as source,
        email_normalized as record_id,
        cast(null as varchar) as sobject_type,
        email_normalized,
        email_normalized as stitch_email,
        cast(null as varchar) as first_name,
        cast(null as varchar) as last_name,
        cast(null as varchar) as phone,
        bool_or(event_type in ('unsubscribe', 'group_unsubscribe', 'spamreport')) as has_opted_out_of_email,
        false as is_do_not_call,
        false as is_converted,
        4 as source_priority,
        min(event_at) as created_at
    from email_events
    where email_normalized is not null
    group by email_normalized
),

unioned as (
    select * from contact_records
    union all
    select * from lead_records
    union all
    select * from shop_records
    union all
    select * from email_records
)

select
    source || ':' || record_id as record_key,
    *
from unioned
