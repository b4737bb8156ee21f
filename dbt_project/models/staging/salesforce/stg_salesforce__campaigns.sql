-- Each Salesforce Campaign as of the run date: its newest landed version, deleted ones flagged.
with

versions as (
    {{ salesforce_newest_versions('campaign') }}
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
)

select * from renamed
