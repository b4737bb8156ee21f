-- One row per person: identity, consent, commerce and email engagement, as of the run date.
with

records as (
    select * from {{ ref('int_customers_stitched') }}
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

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

-- an email attributes events and orders only when it belongs to exactly one person
email_to_customer as (
    select email_normalized, min(customer_id) as customer_id
    from records
    where email_normalized is not null
    group by email_normalized
    having count(distinct customer_id) = 1
),

shop_to_customer as (
    select record_id as shop_customer_id, customer_id
    from records
    where source = 'shopify_customer'
),

-- golden record: each field survives on its own (see macro survivor), with its source record
profile as (
    select distinct
        customer_id,
        {{ survivor('first_name') }},
        {{ survivor('last_name') }},
        {{ survivor('email_normalized') }},
        {{ survivor('phone_normalized') }},
        {{ survivor('birth_date') }}
    from records
),

record_counts as (
    select
        customer_id,
        count(*) as source_record_count,
        sum(case when source = 'salesforce_contact' then 1 else 0 end) as sfdc_contact_count,
        sum(case when source = 'salesforce_lead' then 1 else 0 end) as sfdc_lead_count,
        string_agg(case when source = 'salesforce_contact' then record_id end, ',' order by record_id)
            as sfdc_contact_ids,
        string_agg(case when source = 'salesforce_lead' then record_id end, ',' order by record_id) as sfdc_lead_ids,
        bool_or(has_opted_out_of_email) as has_opted_out_of_email,
        bool_or(is_do_not_call) as is_do_not_call
    from records
    group by customer_id
),

order_facts as (
    select
        coalesce(by_shop.customer_id, by_email.customer_id) as customer_id,
        count(*) as order_count,
        -- in the reporting currency; an order in a currency without a rate counts as 0 and is reported
        sum(orders.total_price * coalesce(fx_rates.rate_to_reporting, 0)) as lifetime_value,
        count(*) filter (where fx_rates.rate_to_reporting is null) as orders_without_fx_rate,
        min(orders.ordered_at) as first_ordered_at,
        max(orders.ordered_at) as last_ordered_at
    from orders
    left join shop_to_customer as by_shop on orders.shop_customer_id = by_shop.shop_customer_id
    left join email_to_customer as by_email on orders.email_normalized = by_email.email_normalized
    left join fx_rates on orders.currency_code = fx_rates.currency_code
    where not orders.is_cancelled
    group by coalesce(by_shop.customer_id, by_email.customer_id)
),

email_facts as (
    select
        email_to_customer.customer_id,
        sum(case when email_events.event_type = 'delivered' then 1 else 0 end) as emails_delivered_recent,
        sum(case when email_events.event_type = 'open' then 1 else 0 end) as email_opens_recent,
        sum(case when email_events.event_type = 'click' then 1 else 0 end) as email_clicks_recent
    from email_events
    inner join email_to_customer on email_events.email_normalized = email_to_customer.email_normalized
    where email_events.event_at >= {{ run_day_end() }} - interval '{{ var("engagement_window_days") }} days'
    group by email_to_customer.customer_id
),

visitor_to_customer as (
    select record_id as anonymous_id, customer_id
    from records
    where source = 'segment_anonymous'
),

web_facts as (
    select
        visitor_to_customer.customer_id,
        count(*) filter (where web_events.call_type = 'page') as page_views,
        count(*) filter (where web_events.event_name = 'Product Added') as cart_adds,
        count(distinct cast(web_events.event_at as date)) as days_active_on_web,
        max(web_events.event_at) as last_seen_on_web_at
    from web_events
    inner join visitor_to_customer on web_events.anonymous_id = visitor_to_customer.anonymous_id
    group by visitor_to_customer.customer_id
),

final as (
    select
        record_counts.customer_id,
        profile.first_name,
        profile.first_name_source,
        profile.last_name,
        profile.last_name_source,
        profile.email_normalized as email,
        profile.email_normalized_source as email_source,
        profile.phone_normalized as phone,
        profile.phone_normalized_source as phone_source,
        profile.birth_date,
        profile.birth_date_source,
        record_counts.sfdc_contact_ids,
        record_counts.sfdc_lead_ids,
        record_counts.source_record_count,
        record_counts.sfdc_contact_count,
        record_counts.sfdc_lead_count,
        coalesce(order_facts.order_count, 0) as order_count,
        {{ round_to('coalesce(order_facts.lifetime_value, 0)', 2) }} as lifetime_value,
        '{{ var("reporting_currency") }}' as reporting_currency,
        {{ round_to('coalesce(order_facts.lifetime_value, 0) / nullif(order_facts.order_count, 0)', 2) }}
            as average_order_value,
        coalesce(order_facts.orders_without_fx_rate, 0) as orders_without_fx_rate,
        cast(order_facts.first_ordered_at as date) as first_order_date,
        cast(order_facts.last_ordered_at as date) as last_order_date,
        coalesce(email_facts.emails_delivered_recent, 0) as emails_delivered_recent,
        coalesce(email_facts.email_opens_recent, 0) as email_opens_recent,
        coalesce(email_facts.email_clicks_recent, 0) as email_clicks_recent,
        case
            when coalesce(email_facts.email_clicks_recent, 0) > 0 then 'engaged'
            when coalesce(email_facts.email_opens_recent, 0) > 0 then 'passive'
            when coalesce(email_facts.emails_delivered_recent, 0) > 0 then 'unengaged'
            else 'unreached'
        end as email_engagement,
        coalesce(web_facts.page_views, 0) as page_views,
        coalesce(web_facts.cart_adds, 0) as cart_adds,
        coalesce(web_facts.days_active_on_web, 0) as days_active_on_web,
        web_facts.last_seen_on_web_at,
        record_counts.has_opted_out_of_email,
        record_counts.is_do_not_call,
        {{ run_date() }} as as_of_date
    from record_counts
    inner join profile on record_counts.customer_id = profile.customer_id
    left join order_facts on record_counts.customer_id = order_facts.customer_id
    left join email_facts on record_counts.customer_id = email_facts.customer_id
    left join web_facts on record_counts.customer_id = web_facts.customer_id
)

select * from final
