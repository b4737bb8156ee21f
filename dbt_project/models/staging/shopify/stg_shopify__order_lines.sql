-- One row per order line, from each order's newest exported version.
with

source as (
    select * from {{ source('shopify', 'order_lines') }}
    where ds <= {{ run_date() }}
),

versions as (
    select
        *,
        row_number() over (partition by order_id, line_id order by ds desc) as version_rank
    from source
),

renamed as (
    select
        -- ids
        line_id as order_line_id,
        order_id,
        product_id,
        variant_id,
        -- strings
        sku,
        title as product_title,
        -- numerics
        quantity,
        price as unit_price,
        quantity * price as line_amount,
        -- timestamps
        created_at as ordered_at
    from versions
    where version_rank = 1 and created_at < {{ run_day_end() }}
)

select * from renamed
