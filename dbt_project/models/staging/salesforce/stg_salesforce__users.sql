-- The org's users as of the run date (newest landed version): the owners of Contacts and Leads,
-- whom crm360 names as each customer's contact person.
with

versions as (
    {{ salesforce_newest_versions('user') }}
),

renamed as (
    select
        -- ids
        id as sfdc_user_id,
        -- strings
        firstname as first_name,
        lastname as last_name,
        trim(coalesce(firstname || ' ', '') || lastname) as full_name,
        title,
        department,
        email,
        -- booleans
        coalesce(isactive, false) as is_active,
        -- timestamps
        systemmodstamp as system_modstamp_at,
        ds as landed_date
    from versions
)

select * from renamed
