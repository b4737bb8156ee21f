-- One row per product in the Shopify catalog: its newest exported version up to the run date.
with

source as (
    select * from {{ source('shopify', 'products') }}
    where ds <= {{ run_date() }}
),

versions as (
    select
        *,
        row_number() over (partition by product_id order by ds desc, updated_at desc) as version_rank
    from source
),

renamed as (
    select
        -- ids
        product_id,
        -- strings
        title as product_title,
        coalesce(nullif(trim(product_type), ''), 'Uncategorized') as product_category,
        vendor,
        tags,
        sku,
        -- numerics (price of the first variant, in the shop's currency)
        price,
        -- timestamps
        created_at,
        updated_at,
        ds as landed_date
    from versions
    where version_rank = 1
)

select * from renamed
