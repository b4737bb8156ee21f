-- One row per refunded order line (deduplicated across exports), refunded up to the run date.
with

source as (
    select * from {{ source('shopify', 'refunds') }}
    where ds <= {{ run_date() }} and created_at < {{ run_day_end() }}
),

deduplicated as (
    select
        *,
        row_number() over (partition by refund_id, line_id order by ds desc) as copy_rank
    from source
),

renamed as (
    select
        -- ids
        refund_id,
        order_id,
        line_id as order_line_id,
        -- numerics (in the order's currency)
        quantity as refunded_quantity,
        subtotal as refunded_amount,
        -- timestamps
        created_at as refunded_at
    from deduplicated
    where copy_rank = 1
)

select * from renamed
