-- Each Salesforce Opportunity as of the run date: its newest landed version, deleted ones flagged.
with

versions as (
    {{ salesforce_newest_versions('opportunity') }}
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
)

select * from renamed
