-- Each Salesforce Campaign as of the run date: its newest landed version, deleted ones flagged.
with

source as (
    select * from {{ source('salesforce', 'campaign') }}
    where ds <= {{ run_date() }}
),

versions as (
    select
        *,
        row_number() over (partition by id order by systemmodstamp desc, ds desc) as version_rank
    from source
),

renamed as (
    select
        -- ids
        id as sfdc_campaign_id,
        -- strings
        name as campaign_name,
        type as campaign_type,
        status as campaign_status,
        -- booleans
        coalesce(isactive, false) as is_active,
        coalesce(isdeleted, false) as is_deleted,
        -- timestamps
        createddate as created_at,
        systemmodstamp as system_modstamp_at,
        ds as landed_date
    from versions
    where version_rank = 1
)

select * from renamed
