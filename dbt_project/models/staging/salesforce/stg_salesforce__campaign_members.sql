-- Each Salesforce CampaignMember as of the run date: its newest landed version, deleted ones kept
-- and flagged (a member crm360 removed was still sent the campaign: lift counts it).
with

versions as (
    {{ salesforce_newest_versions('campaignmember') }}
),

renamed as (
    select
        -- ids
        id as sfdc_campaign_member_id,
        campaignid as sfdc_campaign_id,
        contactid as sfdc_contact_id,
        leadid as sfdc_lead_id,
        coalesce(contactid, leadid) as sfdc_record_id,
        -- strings
        status as member_status,
        -- dates
        firstrespondeddate as first_responded_date,
        -- booleans
        coalesce(hasresponded, false) as has_responded,
        coalesce(isdeleted, false) as is_deleted,
        -- timestamps
        createddate as created_at,
        systemmodstamp as system_modstamp_at,
        ds as landed_date
    from versions
)

select * from renamed
