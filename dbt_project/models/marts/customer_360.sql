-- One row per person: identity, consent, commerce and email engagement, as of the run date.
with

records as (
    select * from {{ ref('int_customers_stitched') }}
),

orders as (
    select * from {{ ref('int_orders_attributed') }}
    where not is_cancelled and customer_id is not null
),

email_events as (
    select * from {{ ref('stg_sendgrid__email_events') }}
),

web_events as (
    select * from {{ ref('stg_segment__events') }}
),

open_carts as (
    select * from {{ ref('int_customer_open_carts') }}
),

favourite_categories as (
    select customer_id, product_category
    from {{ ref('int_customer_category_affinity') }}
    where affinity_rank = 1
),

geo_cities as (
    select * from {{ ref('geo_cities') }}
),

countries as (
    select * from {{ ref('countries') }}
),

-- an email attributes events only when it belongs to exactly one person
email_to_customer as (
    select * from {{ ref('int_email_owners') }}
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

-- the address survives as a unit (city, postal code and country from the same record)
addresses as (
    select
        customer_id,
        city,
        postal_code,
        country_code,
        record_key as address_source,
        row_number() over (
            partition by customer_id
            order by (country_code is null), (city is null), source_priority, created_at desc nulls last, record_key
        ) as address_rank
    from records
    where city is not null or country_code is not null
),

-- the CRM owner (Contact first, then Lead) is the person's named contact
owners as (
    select distinct
        customer_id,
        {{ survivor('owner_id') }}
    from records
),

-- where the person's clock is: seen on the web (Segment context), else their city, else their country
observed_zones as (
    select customer_id, max(time_zone) as time_zone
    from records
    where time_zone is not null
    group by customer_id
),

zones as (
    select
        people.customer_id,
        coalesce(
            observed_zones.time_zone, geo_cities.time_zone, countries.default_time_zone,
            '{{ var("default_time_zone") }}'
        ) as time_zone,
        case
            when observed_zones.time_zone is not null then 'web'
            when geo_cities.time_zone is not null then 'city'
            when countries.default_time_zone is not null then 'country'
            else 'default'
        end as time_zone_source
    from (select customer_id from records group by customer_id) as people
    left join addresses on people.customer_id = addresses.customer_id and addresses.address_rank = 1
    left join observed_zones on people.customer_id = observed_zones.customer_id
    left join geo_cities
        on addresses.country_code = geo_cities.country_code and lower(addresses.city) = lower(geo_cities.city)
    left join countries on addresses.country_code = countries.country_code
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
        customer_id,
        count(*) as order_count,
        -- in the reporting currency, net of refunds; an order in a currency without a rate counts as 0
        sum(order_value - refunded_value) as lifetime_value,
        sum(refunded_value) as refunded_value,
        count(*) filter (where is_missing_fx_rate) as orders_without_fx_rate,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at
    from orders
    group by customer_id
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

-- the hour (in the person's own time zone) at which they open or click most, over all their email
send_hours as (
    select
        customer_id,
        local_hour,
        row_number() over (partition by customer_id order by count(*) desc, local_hour) as hour_rank,
        count(*) as engagements
    from (
        select
            email_to_customer.customer_id,
            extract(hour from {{ local_time('email_events.event_at', 'zones.time_zone') }}) as local_hour
        from email_events
        inner join email_to_customer on email_events.email_normalized = email_to_customer.email_normalized
        inner join zones on email_to_customer.customer_id = zones.customer_id
        where email_events.event_type in ('open', 'click')
    ) as engagement_hours
    group by customer_id, local_hour
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
        addresses.city,
        addresses.postal_code,
        addresses.country_code,
        addresses.address_source,
        zones.time_zone,
        zones.time_zone_source,
        owners.owner_id as sfdc_owner_id,
        owners.owner_id_source as sfdc_owner_id_source,
        case
            when profile.birth_date is not null
                then cast(floor(({{ run_date() }} - profile.birth_date) / 365.25) as integer)
        end as age,
        {{ run_date() }} - cast(order_facts.last_ordered_at as date) as days_since_last_order,
        {{ run_date() }} - cast(order_facts.first_ordered_at as date) as days_since_first_order,
        {{ round_to('coalesce(order_facts.refunded_value, 0)', 2) }} as refunded_value,
        favourite_categories.product_category as favourite_category,
        open_carts.cart_id is not null as has_open_cart,
        coalesce(open_carts.open_cart_items, 0) as open_cart_items,
        coalesce(open_carts.open_cart_value, 0) as open_cart_value,
        open_carts.open_cart_age_days,
        -- the channel the person answers: email when they engage with it, the web when they come back
        -- there, else whatever consent allows (email, then phone); none when nothing is allowed
        case
            when
                not record_counts.has_opted_out_of_email and profile.email_normalized is not null
                and coalesce(email_facts.email_opens_recent, 0) + coalesce(email_facts.email_clicks_recent, 0) > 0
                then 'email'
            when coalesce(web_facts.days_active_on_web, 0) > 0 then 'web'
            when not record_counts.has_opted_out_of_email and profile.email_normalized is not null then 'email'
            when not record_counts.is_do_not_call and profile.phone_normalized is not null then 'phone'
            else 'none'
        end as preferred_channel,
        cast(coalesce(send_hours.local_hour, {{ var("default_send_hour") }}) as integer) as best_send_hour,
        case when send_hours.local_hour is not null then 'own_engagement' else 'default' end as best_send_hour_source,
        {{ run_date() }} as as_of_date
    from record_counts
    inner join profile on record_counts.customer_id = profile.customer_id
    left join order_facts on record_counts.customer_id = order_facts.customer_id
    left join email_facts on record_counts.customer_id = email_facts.customer_id
    left join web_facts on record_counts.customer_id = web_facts.customer_id
    left join addresses on record_counts.customer_id = addresses.customer_id and addresses.address_rank = 1
    left join zones on record_counts.customer_id = zones.customer_id
    left join owners on record_counts.customer_id = owners.customer_id
    left join open_carts on record_counts.customer_id = open_carts.customer_id
    left join favourite_categories on record_counts.customer_id = favourite_categories.customer_id
    left join send_hours on record_counts.customer_id = send_hours.customer_id and send_hours.hour_rank = 1
)

select * from final
