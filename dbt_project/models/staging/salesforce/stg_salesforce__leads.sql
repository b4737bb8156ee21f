-- The state of each Salesforce Lead as of the run date: its newest landed version.
with

versions as (
    {{ salesforce_newest_versions('lead') }}
),

renamed as (
    select
        -- ids
        id as sfdc_lead_id,
        convertedcontactid as sfdc_converted_contact_id,
        masterrecordid as sfdc_master_record_id,
        ownerid as sfdc_owner_id,
        -- strings
        firstname as first_name,
        lastname as last_name,
        company,
        email,
        {{ normalize_email('email') }} as email_normalized,
        phone,
        city,
        state,
        postalcode as postal_code,
        country,
        status as lead_status,
        leadsource as lead_source,
        -- booleans
        coalesce(isconverted, false) as is_converted,
        coalesce(hasoptedoutofemail, false) as has_opted_out_of_email,
        coalesce(donotcall, false) as is_do_not_call,
        coalesce(isdeleted, false) as is_deleted,
        -- timestamps
        createddate as created_at,
        systemmodstamp as system_modstamp_at,
        ds as landed_date
        -- custom fields (name ending __c) pass through as the org defines them, so a field added in
        -- Salesforce reaches the warehouse without a code change (null on versions landed before it)
        {{ custom_fields(source('salesforce', 'lead')) }}
    from versions
)

select * from renamed
