-- The state of each Salesforce Contact as of the run date: its newest landed version.
with

versions as (
    {{ salesforce_newest_versions('contact') }}
),

renamed as (
    select
        -- ids
        id as sfdc_contact_id,
        accountid as sfdc_account_id,
        masterrecordid as sfdc_master_record_id,
        ownerid as sfdc_owner_id,
        -- strings
        firstname as first_name,
        lastname as last_name,
        email,
        {{ normalize_email('email') }} as email_normalized,
        phone,
        mobilephone as mobile_phone,
        mailingcity as mailing_city,
        mailingstate as mailing_state,
        mailingpostalcode as mailing_postal_code,
        mailingcountry as mailing_country,
        leadsource as lead_source,
        -- dates
        birthdate as birth_date,
        -- booleans
        coalesce(hasoptedoutofemail, false) as has_opted_out_of_email,
        coalesce(donotcall, false) as is_do_not_call,
        coalesce(isdeleted, false) as is_deleted,
        -- timestamps
        createddate as created_at,
        systemmodstamp as system_modstamp_at,
        ds as landed_date
        -- custom fields (name ending __c) pass through as the org defines them, so a field added in
        -- Salesforce reaches the warehouse without a code change (null on versions landed before it)
        {{ custom_fields(source('salesforce', 'contact')) }}
    from versions
)

select * from renamed
