-- The edges of the identity graph, in long form: which identifiers each record carries, and
-- whether each identifier may join records. An identifier is not used when it is a placeholder or
-- role mailbox (seed identity_blocklist), when more records carry it than
-- var('identity_max_records_per_identifier'), when the CRM records carrying it disagree on birth
-- date (a household or shared inbox, not one person), or when it is a phone on records with
-- different emails (a shared line).
{%- set user_id_type = 'shop_customer' if var('segment_user_id_is') == 'shop_customer' else 'web_user' %}
with

records as (
    select * from {{ ref('int_identity_records_unioned') }}
),

web_events as (
    select * from {{ ref('stg_segment__events') }}
),

blocklist as (
    select * from {{ ref('identity_blocklist') }}
),

carried as (
    select record_key, 'email' as identifier_type, email_normalized as identifier_value
    from records where email_normalized is not null
    union
    select record_key, 'phone' as identifier_type, phone_normalized as identifier_value
    from records where phone_normalized is not null
    union
    select record_key, 'phone' as identifier_type, mobile_normalized as identifier_value
    from records where mobile_normalized is not null
    -- a Contact is its own CRM id; a converted Lead carries the Contact it became
    union
    select record_key, 'sfdc_contact' as identifier_type, record_id as identifier_value
    from records where source = 'salesforce_contact'
    union
    select record_key, 'sfdc_contact' as identifier_type, linked_contact_id as identifier_value
    from records where linked_contact_id is not null
    union
    select record_key, 'shop_customer' as identifier_type, record_id as identifier_value
    from records where source = 'shopify_customer'
    -- a web visitor carries every email and user id it identified with
    union
    select
        'segment_anonymous:' || anonymous_id as record_key,
        'email' as identifier_type,
        traits_email_normalized as identifier_value
    from web_events where anonymous_id is not null and traits_email_normalized is not null
    union
    select
        'segment_anonymous:' || anonymous_id as record_key,
        '{{ user_id_type }}' as identifier_type,
        user_id as identifier_value
    from web_events where anonymous_id is not null and user_id is not null
),

per_identifier as (
    select
        carried.identifier_type,
        carried.identifier_value,
        count(distinct carried.record_key) as record_count,
        count(distinct records.birth_date) as distinct_birth_dates,
        count(distinct records.email_normalized) as distinct_emails
    from carried
    inner join records on carried.record_key = records.record_key
    group by carried.identifier_type, carried.identifier_value
),

blocked as (
    select
        per_identifier.identifier_type,
        per_identifier.identifier_value,
        min(blocklist.reason) as blocklist_reason
    from per_identifier
    inner join blocklist
        on
            per_identifier.identifier_type = blocklist.identifier_type
            and per_identifier.identifier_value like blocklist.pattern
    group by per_identifier.identifier_type, per_identifier.identifier_value
),

judged as (
    select
        per_identifier.identifier_type,
        per_identifier.identifier_value,
        per_identifier.record_count,
        case
            when blocked.blocklist_reason is not null then blocked.blocklist_reason
            when per_identifier.record_count > {{ var('identity_max_records_per_identifier') }}
                then 'carried by too many records'
            when per_identifier.distinct_birth_dates > 1 then 'records disagree on birth date'
            -- a phone on records with different emails is a household or office line
            when per_identifier.identifier_type = 'phone' and per_identifier.distinct_emails > 1
                then 'phone shared by records with different emails'
        end as excluded_reason
    from per_identifier
    left join blocked
        on
            per_identifier.identifier_type = blocked.identifier_type
            and per_identifier.identifier_value = blocked.identifier_value
)

select
    carried.record_key,
    carried.identifier_type,
    carried.identifier_value,
    judged.record_count,
    judged.excluded_reason,
    judged.excluded_reason is null as is_joinable
from carried
inner join judged
    on
        carried.identifier_type = judged.identifier_type
        and carried.identifier_value = judged.identifier_value
