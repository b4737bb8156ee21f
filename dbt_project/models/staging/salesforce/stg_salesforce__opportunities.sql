-- Each Salesforce Opportunity as of the run date: its newest landed version, deleted ones flagged.
with

source as (
    select * from {{ source('salesforce', 'opportunity') }}
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
        id as sfdc_opportunity_id,
        accountid as sfdc_account_id,
        contactid as sfdc_contact_id,
        campaignid as sfdc_campaign_id,
        -- strings
        name as opportunity_name,
        stagename as stage_name,
        currencyisocode as currency_code,
        -- numerics
        amount,
        -- dates
        closedate as close_date,
        -- booleans
        coalesce(isclosed, false) as is_closed,
        coalesce(iswon, stagename = 'Closed Won') as is_won,
        coalesce(isdeleted, false) as is_deleted,
        -- timestamps
        createddate as created_at,
        systemmodstamp as system_modstamp_at,
        ds as landed_date
    from versions
    where version_rank = 1
)

select * from renamed
