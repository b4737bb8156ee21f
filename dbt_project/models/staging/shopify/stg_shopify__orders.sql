-- One row per Shopify order: its newest exported version up to the run date.
with

source as (
    select * from {{ source('shopify', 'orders') }}
    where ds <= {{ run_date() }} and created_at < {{ run_day_end() }}
),

versions as (
    select
        *,
        row_number() over (
            partition by order_id order by coalesce(updated_at, created_at) desc, ds desc
        ) as version_rank
    from source
),

renamed as (
    select
        -- ids
        order_id,
        customer_id as shop_customer_id,
        -- strings
        order_name,
        email,
        {{ normalize_email('email') }} as email_normalized,
        customer_first_name as first_name,
        customer_last_name as last_name,
        customer_phone as phone,
        financial_status,
        currency as currency_code,
        billing_city,
        billing_zip,
        billing_country_code,
        -- numerics
        total_price,
        subtotal_price,
        total_tax,
        -- booleans
        cancelled_at is not null as is_cancelled,
        -- timestamps
        created_at as ordered_at,
        updated_at,
        cancelled_at,
        ds as landed_date
    from versions
    where version_rank = 1
)

select * from renamed
