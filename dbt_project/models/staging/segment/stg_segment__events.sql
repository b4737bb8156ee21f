-- One row per Segment call (deduplicated on messageId), up to the end of the run date.
with

source as (
    select * from {{ source('segment', 'events') }}
    where ds <= {{ run_date() }}
),

deduplicated as (
    select
        *,
        row_number() over (partition by message_id order by ds) as copy_rank
    from source
),

renamed as (
    select
        -- ids
        message_id as web_event_id,
        anonymous_id,
        user_id,
        -- strings
        type as call_type,
        event as event_name,
        name as page_name,
        {{ json_text('traits', 'email') }} as traits_email,
        {{ normalize_email(json_text('traits', 'email')) }} as traits_email_normalized,
        {{ json_text('traits', 'phone') }} as traits_phone,
        {{ json_text('properties', 'product_id') }} as product_id,
        {{ json_text('properties', 'category') }} as product_category,
        {{ json_text('properties', 'cart_id') }} as cart_id,
        {{ json_text('properties', 'order_id') }} as order_id,
        {{ json_text('properties', 'checkout_id') }} as checkout_id,
        {{ json_text('properties', 'currency') }} as currency_code,
        {{ json_text('context', 'timezone') }} as time_zone,
        -- numerics
        cast({{ json_text('properties', 'price') }} as float8) as product_price,
        cast({{ json_text('properties', 'quantity') }} as integer) as product_quantity,
        -- timestamps
        event_at,
        ds as landed_date
    from deduplicated
    where copy_rank = 1 and event_at < {{ run_day_end() }}
)

select * from renamed
