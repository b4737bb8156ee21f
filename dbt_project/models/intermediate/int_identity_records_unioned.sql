-- Every record that describes a person, one row each, from every source: the nodes of the
-- identity graph, with the attributes survivorship and guards need. Identifiers are in
-- int_identity_identifiers; components in int_identity_components.
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

web_events as (
    select * from {{ ref('stg_segment__events') }}
),

contact_records as (
    select
        'salesforce_contact' as source,
        sfdc_contact_id as record_id,
        'Contact' as sobject_type,
        email_normalized,
        {{ normalize_phone('phone') }} as phone_normalized,
        {{ normalize_phone('mobile_phone') }} as mobile_normalized,
        first_name,
        last_name,
        phone,
        birth_date,
        has_opted_out_of_email,
        is_do_not_call,
        false as is_converted,
        cast(null as varchar) as linked_contact_id,
        1 as source_priority,
        created_at,
        mailing_city as city,
        mailing_postal_code as postal_code,
        mailing_country as country_raw,
        sfdc_owner_id as owner_id,
        cast(null as varchar) as time_zone
    from contacts
),

lead_records as (
    select
        'salesforce_lead' as source,
        sfdc_lead_id as record_id,
        'Lead' as sobject_type,
        email_normalized,
        {{ normalize_phone('phone') }} as phone_normalized,
        cast(null as varchar) as mobile_normalized,
        first_name,
        last_name,
        phone,
        cast(null as date) as birth_date,
        has_opted_out_of_email,
        is_do_not_call,
        is_converted,
        sfdc_converted_contact_id as linked_contact_id,
        2 as source_priority,
        created_at,
        city,
        postal_code,
        country as country_raw,
        sfdc_owner_id as owner_id,
        cast(null as varchar) as time_zone
    from leads
),

shop_customers as (
    select
        shop_customer_id,
        email_normalized,
        first_name,
        last_name,
        phone,
        billing_city,
        billing_zip,
        billing_country_code,
        ordered_at,
        row_number() over (partition by shop_customer_id order by ordered_at desc) as recency_rank,
        min(ordered_at) over (partition by shop_customer_id) as first_ordered_at
    from orders
    where shop_customer_id is not null
),

shop_records as (
    select
        'shopify_customer' as source,
        shop_customer_id as record_id,
        cast(null as varchar) as sobject_type,
        email_normalized,
        {{ normalize_phone('phone') }} as phone_normalized,
        cast(null as varchar) as mobile_normalized,
        first_name,
        last_name,
        phone,
        cast(null as date) as birth_date,
        false as has_opted_out_of_email,
        false as is_do_not_call,
        false as is_converted,
        cast(null as varchar) as linked_contact_id,
        3 as source_priority,
        first_ordered_at as created_at,
        billing_city as city,
        billing_zip as postal_code,
        billing_country_code as country_raw,
        cast(null as varchar) as owner_id,
        cast(null as varchar) as time_zone
    from shop_customers
    where recency_rank = 1
),

email_records as (
    select
        'sendgrid_recipient' as source,
        email_normalized as record_id,
        cast(null as varchar) as sobject_type,
        email_normalized,
        cast(null as varchar) as phone_normalized,
        cast(null as varchar) as mobile_normalized,
        cast(null as varchar) as first_name,
        cast(null as varchar) as last_name,
        cast(null as varchar) as phone,
        cast(null as date) as birth_date,
        bool_or(event_type in ('unsubscribe', 'group_unsubscribe', 'spamreport')) as has_opted_out_of_email,
        false as is_do_not_call,
        false as is_converted,
        cast(null as varchar) as linked_contact_id,
        4 as source_priority,
        min(event_at) as created_at,
        cast(null as varchar) as city,
        cast(null as varchar) as postal_code,
        cast(null as varchar) as country_raw,
        cast(null as varchar) as owner_id,
        cast(null as varchar) as time_zone
    from email_events
    where email_normalized is not null
    group by email_normalized
),

web_records as (
    select
        'segment_anonymous' as source,
        anonymous_id as record_id,
        cast(null as varchar) as sobject_type,
        max(traits_email_normalized) as email_normalized,
        cast(null as varchar) as phone_normalized,
        cast(null as varchar) as mobile_normalized,
        cast(null as varchar) as first_name,
        cast(null as varchar) as last_name,
        cast(null as varchar) as phone,
        cast(null as date) as birth_date,
        false as has_opted_out_of_email,
        false as is_do_not_call,
        false as is_converted,
        cast(null as varchar) as linked_contact_id,
        5 as source_priority,
        min(event_at) as created_at,
        cast(null as varchar) as city,
        cast(null as varchar) as postal_code,
        cast(null as varchar) as country_raw,
        cast(null as varchar) as owner_id,
        max(time_zone) as time_zone
    from web_events
    where anonymous_id is not null
    group by anonymous_id
),

unioned as (
    select * from contact_records
    union all
    select * from lead_records
    union all
    select * from shop_records
    union all
    select * from email_records
    union all
    select * from web_records
),

countries as (
    select * from {{ ref('countries') }}
)

-- country as an ISO code whether the source wrote a code (shop) or a name (CRM)
select
    unioned.source || ':' || unioned.record_id as record_key,
    unioned.*,
    coalesce(by_code.country_code, by_name.country_code) as country_code
from unioned
left join countries as by_code on upper(trim(unioned.country_raw)) = by_code.country_code
left join countries as by_name on lower(trim(unioned.country_raw)) = lower(by_name.country_name)
